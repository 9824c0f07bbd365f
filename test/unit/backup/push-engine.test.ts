/**
 * The push engine's pure parts (names, the XML documents it hands libvirt, job statistics on
 * captured output) and how planBackup treats push chains through engine traits.
 */
import { describe, expect, it } from 'vitest';
import { backupXml, checkpointXml, nextCheckpointName, parseLibvirtVersions, pointImageName } from '../../../src/backup/engine/push.js';
import { checkpointNamesIn, planBackup, tidyChainFolder, type DomainBackupPlan } from '../../../src/backup/plan-backup.js';
import { parseMapDataBytes } from '../../../src/qemu/parse-qemu-img.js';
import { parseXml } from '../../../src/util/xml.js';
import { parseJobStats } from '../../../src/virsh/parse-lists.js';
import { fixture } from '../../helpers/fixtures.js';
import { chain, disk, files, inventory } from './builders.js';

const PUSH = { checkpointFamily: 'vmkeep' as const, acceptsForeignCheckpoints: true };
const NBD = { checkpointFamily: 'virtnbdbackup' as const, acceptsForeignCheckpoints: false };
const MARCH = 'vmsnap-backup-monthly-2026-03';
const now = new Date('2026-03-10T04:00');
const pcp = (n: number) => `vmkeep.0a1b2c3d.${n}`;

function backupPlan(plan: DomainBackupPlan) {
  if (plan.action !== 'backup') throw new Error(`expected a backup plan, got ${plan.action}: ${plan.reason}`);
  return plan;
}

describe('push engine names', () => {
  it('a full starts a chain id at 0; an incremental counts on from the previous point', () => {
    expect(nextCheckpointName('full', undefined, () => 'deadbeef')).toBe('vmkeep.deadbeef.0');
    expect(nextCheckpointName('full', pcp(4), () => 'deadbeef')).toBe('vmkeep.deadbeef.0');
    expect(nextCheckpointName('inc', pcp(9), () => 'x')).toBe(pcp(10));
  });

  it('an incremental without a push point to continue from is refused', () => {
    expect(() => nextCheckpointName('inc', undefined, () => 'x')).toThrow(/needs the chain's last point/);
    expect(() => nextCheckpointName('inc', 'virtnbdbackup.3', () => 'x')).toThrow(/virtnbdbackup\.3/);
  });

  it('file names carry the checkpoint, so leftovers are found by name', () => {
    expect(pointImageName('vda', pcp(2))).toBe('vda.vmkeep.0a1b2c3d.2.qcow2');
    expect(checkpointNamesIn('vda.vmkeep.0a1b2c3d.2.qcow2')).toEqual([pcp(2)]);
    expect(checkpointNamesIn('vmconfig.vmkeep.0a1b2c3d.12.xml')).toEqual([pcp(12)]);
    expect(checkpointNamesIn('vda.inc.virtnbdbackup.3.data')).toEqual(['virtnbdbackup.3']);
    expect(checkpointNamesIn('vmkeep-manifest.json')).toEqual([]);
  });
});

describe('push engine documents', () => {
  it('the backup XML names every disk; copied ones get a qcow2 target, the incremental its base', () => {
    const doc = parseXml(
      backupXml({
        incremental: pcp(1),
        disks: [
          { target: 'vda', file: "/backup/it's <vm>/vda.vmkeep.0a1b2c3d.2.qcow2" },
          { target: 'hdc', file: undefined },
        ],
      }),
    ) as { domainbackup: { '@mode': string; incremental: string; disks: { disk: Array<Record<string, unknown>> } } };
    expect(doc.domainbackup['@mode']).toBe('push');
    expect(doc.domainbackup.incremental).toBe(pcp(1));
    const [vda, hdc] = doc.domainbackup.disks.disk;
    expect(vda).toMatchObject({
      '@name': 'vda',
      '@backup': 'yes',
      '@type': 'file',
      target: { '@file': "/backup/it's <vm>/vda.vmkeep.0a1b2c3d.2.qcow2" },
      driver: { '@type': 'qcow2' },
    });
    expect(hdc).toMatchObject({ '@name': 'hdc', '@backup': 'no' });
  });

  it('a full has no <incremental>', () => {
    expect(backupXml({ incremental: undefined, disks: [{ target: 'vda', file: '/b/vda.q' }] })).not.toContain('incremental');
  });

  it('the checkpoint XML puts a bitmap on copied disks only', () => {
    const doc = parseXml(
      checkpointXml(pcp(0), [
        { target: 'vda', copied: true },
        { target: 'vdb', copied: false },
      ]),
    ) as {
      domaincheckpoint: { name: string; disks: { disk: Array<Record<string, string>> } };
    };
    expect(doc.domaincheckpoint.name).toBe(pcp(0));
    expect(doc.domaincheckpoint.disks.disk.map((d) => [d['@name'], d['@checkpoint']])).toEqual([
      ['vda', 'bitmap'],
      ['vdb', 'no'],
    ]);
  });
});

describe('job statistics and tool outputs (captured)', () => {
  it('a finished push backup: completed, with its bytes', () => {
    expect(parseJobStats(fixture('virsh/domjobinfo--completed--rawstats-after-push-backup.txt'))).toEqual({
      state: 'completed',
      processedBytes: 67108864,
      totalBytes: 67108864,
      error: undefined,
    });
  });

  it('no job', () => {
    expect(parseJobStats(fixture('virsh/domjobinfo--rawstats-no-job.txt')).state).toBe('none');
  });

  it('the libvirt and QEMU versions from virsh version', () => {
    expect(parseLibvirtVersions(fixture('versions/virsh-version.txt'))).toMatch(/^libvirt 9\.0\.0, QEMU 7\.2\.\d+$/);
  });

  it('qemu-img map: only data held by the image itself counts', () => {
    const map = JSON.stringify([
      { start: 0, length: 1048576, depth: 1, present: true, zero: false, data: true },
      { start: 1048576, length: 2097152, depth: 0, present: true, zero: false, data: true },
      { start: 3145728, length: 4194304, depth: 0, present: true, zero: true, data: false },
    ]);
    expect(parseMapDataBytes(map)).toBe(2097152);
  });
});

describe('planBackup with push chains', () => {
  it('continues a push chain with the push engine', () => {
    const inv = inventory({
      checkpoints: [pcp(0), pcp(1)],
      disks: [disk('vda', [pcp(0), pcp(1)])],
      chains: [chain(MARCH, [pcp(0), pcp(1)])],
      chainFiles: [files(MARCH, [], ['vda.vmkeep.0a1b2c3d.0.qcow2', 'vda.vmkeep.0a1b2c3d.1.qcow2', 'vmkeep-manifest.json'])],
    });
    const plan = backupPlan(planBackup(inv, { groupBy: 'month', ifOlderThan: undefined, engine: PUSH }, now));
    expect(plan).toMatchObject({ level: 'inc', folder: MARCH, repairs: [] });
  });

  it('the other engine does not continue it: a new chain, after the push checkpoints go', () => {
    const inv = inventory({
      checkpoints: [pcp(0)],
      disks: [disk('vda', [pcp(0)])],
      chains: [chain(MARCH, [pcp(0)])],
      chainFiles: [files(MARCH, [], ['vda.vmkeep.0a1b2c3d.0.qcow2', 'vmkeep-manifest.json'])],
    });
    const plan = backupPlan(planBackup(inv, { groupBy: 'month', ifOlderThan: undefined, engine: NBD }, now));
    expect(plan).toMatchObject({ level: 'full', folder: `${MARCH}.2`, newChain: true });
    expect(plan.reasons.join(' ')).toMatch(/other engine/);
    expect(plan.repairs).toMatchObject([{ kind: 'delete-checkpoint', name: pcp(0) }]);
  });

  it('foreign checkpoints: push backs up beside them, virtnbdbackup refuses', () => {
    const inv = inventory({ checkpoints: ['nightly'], disks: [disk('vda', ['nightly'])] });
    expect(planBackup(inv, { groupBy: 'month', ifOlderThan: undefined, engine: PUSH }, now).action).toBe('backup');
    expect(planBackup(inv, { groupBy: 'month', ifOlderThan: undefined, engine: NBD }, now).action).toBe('refuse');
  });

  describe("a second copy: another output folder's chain keeps its checkpoints", () => {
    const other = (n: number) => `vmkeep.99aa99aa.${n}`;

    it("an incremental here leaves the other folder's newer checkpoints and bitmaps alone", () => {
      const inv = inventory({
        checkpoints: [pcp(0), other(0), pcp(1), other(1)],
        disks: [disk('vda', [pcp(0), other(0), pcp(1), other(1), 'vmkeep.77bb77bb.0'])],
        chains: [chain(MARCH, [pcp(0), pcp(1)])],
        chainFiles: [files(MARCH, [], ['vda.vmkeep.0a1b2c3d.0.qcow2', 'vda.vmkeep.0a1b2c3d.1.qcow2', 'vmkeep-manifest.json'])],
      });
      const plan = backupPlan(planBackup(inv, { groupBy: 'month', ifOlderThan: undefined, engine: PUSH }, now));
      expect(plan).toMatchObject({ level: 'inc', folder: MARCH, repairs: [] });
    });

    it("this chain's own unrecorded checkpoint still goes, after the other folder's", () => {
      const inv = inventory({
        checkpoints: [pcp(0), other(0), pcp(1)],
        disks: [disk('vda', [pcp(0), other(0), pcp(1)])],
        chains: [chain(MARCH, [pcp(0)])],
        chainFiles: [files(MARCH, [], ['vda.vmkeep.0a1b2c3d.0.qcow2', 'vmkeep-manifest.json'])],
      });
      const plan = backupPlan(planBackup(inv, { groupBy: 'month', ifOlderThan: undefined, engine: PUSH }, now));
      expect(plan).toMatchObject({ level: 'inc', repairs: [{ kind: 'delete-checkpoint', name: pcp(1) }] });
    });

    it('a first full here deletes nothing of the other folder and says its checkpoints stay', () => {
      const inv = inventory({ checkpoints: [other(0), other(1)], disks: [disk('vda', [other(0), other(1)])] });
      const plan = backupPlan(planBackup(inv, { groupBy: 'month', ifOlderThan: undefined, engine: PUSH }, now));
      expect(plan).toMatchObject({ level: 'full', repairs: [] });
      expect(plan.reasons.join('\n')).toContain(`checkpoints of chains in other output folders stay: ${other(0)}, ${other(1)}`);
    });

    it("a new period here still ends this folder's older chain (by its chain id, also its killed run's checkpoint)", () => {
      const inv = inventory({
        checkpoints: [pcp(0), pcp(1), other(0)],
        disks: [disk('vda', [pcp(0), pcp(1), other(0)])],
        chains: [chain('vmsnap-backup-monthly-2026-02', [pcp(0)])],
        chainFiles: [files('vmsnap-backup-monthly-2026-02', [], ['vda.vmkeep.0a1b2c3d.0.qcow2', 'vmkeep-manifest.json'])],
      });
      const plan = backupPlan(planBackup(inv, { groupBy: 'month', ifOlderThan: undefined, engine: PUSH }, now));
      expect(plan.level).toBe('full');
      expect(plan.repairs.map((r) => (r.kind === 'delete-checkpoint' ? r.name : r.kind))).toEqual([pcp(1), pcp(0)]);
    });

    it('virtnbdbackup cannot work beside them: it deletes them and says that chain restarts', () => {
      const inv = inventory({ checkpoints: [other(0)], disks: [disk('vda', [other(0)])] });
      const plan = backupPlan(planBackup(inv, { groupBy: 'month', ifOlderThan: undefined, engine: NBD }, now));
      expect(plan.repairs).toMatchObject([{ kind: 'delete-checkpoint', name: other(0) }]);
      const why = (plan.repairs[0] as { reason: string }).reason;
      expect(why).toMatch(
        /belongs to no chain in this output folder .* that chain's next backup is a full; a second copy that continues needs --engine push or vmkeep replicate/,
      );
    });
  });

  it('leftovers of a killed push run are removed; a push folder gets no .cpt', () => {
    const steps = tidyChainFolder(
      files(MARCH, [], ['vda.vmkeep.0a1b2c3d.0.qcow2', 'vmconfig.vmkeep.0a1b2c3d.0.xml', 'vda.vmkeep.0a1b2c3d.1.qcow2', 'vmkeep-manifest.json']),
      [pcp(0)],
    );
    expect(steps).toEqual([expect.objectContaining({ kind: 'remove-files', files: ['vda.vmkeep.0a1b2c3d.1.qcow2'] })]);
  });
});

describe('restore --keep-chain', () => {
  it('is refused for a point of virtnbdbackup streams', async () => {
    const { planRestore } = await import('../../../src/points/plan-restore.js');
    const chain = {
      domain: 'vm1',
      folder: MARCH,
      dir: `/backup/vm1/${MARCH}`,
      legacy: false,
      state: 'complete' as const,
      stateReason: undefined,
      protected: false,
      disks: [{ target: 'vda' }],
      points: [
        {
          checkpoint: 'virtnbdbackup.0',
          parent: undefined,
          time: '2026-03-01T01:00:00Z',
          level: 'full' as const,
          label: undefined,
          protected: false,
          dataBytes: 1,
          files: [{ path: 'vda.full.data', disk: 'vda', kind: 'data' as const }],
        },
      ],
    };
    const dest = { kind: 'directory' as const, dir: '/r', defineName: undefined, keepChain: true };
    expect(() => planRestore([chain], 'vm1', { selector: { kind: 'latest' }, disks: undefined, destination: dest }, now)).toThrow(
      /--keep-chain needs a push chain/,
    );
    const push = {
      ...chain,
      points: [{ ...chain.points[0]!, checkpoint: pcp(0), files: [{ path: `vda.${pcp(0)}.qcow2`, disk: 'vda', kind: 'data' as const }] }],
    };
    const plan = planRestore([push], 'vm1', { selector: { kind: 'latest' }, disks: undefined, destination: dest }, now);
    expect(plan.keepChain).toBe(true);
    expect(plan.warnings.join(' ')).toMatch(/break if that chain is pruned or moved/);
  });
});
