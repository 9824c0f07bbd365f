/**
 * planBackup on in-memory inventories: every rule, and the words each plan gives for itself.
 * The situations are the ones the integration tests provoke for real (kill -9 mid-full and
 * mid-incremental, QEMU killed, period rollover...), described here by what inspectDomain reads.
 */
import { describe, expect, it } from 'vitest';
import { planBackup, tidyChainFolder, type DomainBackupPlan, type RepairStep } from '../../../src/backup/plan-backup.js';
import { describeRepair } from '../../../src/backup/execute-repairs.js';
import { parseDuration } from '../../../src/retention/duration.js';
import { chain, cp, cps, disk, files, finishedFiles, inventory } from './builders.js';

const MARCH = 'vmsnap-backup-monthly-2026-03';
const FEB = 'vmsnap-backup-monthly-2026-02';
const now = new Date('2026-03-10T04:00');
const request = { groupBy: 'month' as const, ifOlderThan: undefined };

type BackupPlan = Extract<DomainBackupPlan, { action: 'backup' }>;

function backupPlan(plan: DomainBackupPlan): BackupPlan {
  if (plan.action !== 'backup') throw new Error(`expected a backup plan, got ${plan.action}: ${plan.reason}`);
  return plan;
}

const kinds = (steps: readonly RepairStep[]) => steps.map((s) => s.kind);

describe('planBackup: chains', () => {
  it('starts the first chain with a full into the period folder', () => {
    const plan = backupPlan(planBackup(inventory(), request, now));
    expect(plan).toMatchObject({ level: 'full', folder: MARCH, newChain: true, repairs: [], startPaused: false, shutOffAfter: false });
    expect(plan.reasons).toEqual(['no chain for this period yet']);
    expect(plan.period).toEqual({ groupBy: 'month', key: '2026-03', start: new Date('2026-03-01T00:00') });
  });

  it('continues the period chain with an incremental when libvirt and QEMU agree', () => {
    const inv = inventory({
      checkpoints: cps(0, 1),
      disks: [disk('vda', cps(0, 1))],
      chains: [chain(MARCH, cps(0, 1))],
      chainFiles: [finishedFiles(MARCH, cps(0, 1))],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'inc', folder: MARCH, newChain: false, repairs: [] });
    expect(plan.reasons).toEqual([`continue chain ${MARCH} after virtnbdbackup.1`]);
  });

  it("continues when libvirt's checkpoint is the one the chain recorded (same creation time)", () => {
    const inv = inventory({
      checkpoints: cps(0, 1),
      disks: [disk('vda', cps(0, 1))],
      chains: [chain(MARCH, cps(0, 1))],
      chainFiles: [{ ...finishedFiles(MARCH, cps(0, 1)), lastCheckpointCreated: 1_795_000_100 }],
      checkpointCreated: { [cp(1)]: 1_795_000_100 },
    });
    expect(backupPlan(planBackup(inv, request, now))).toMatchObject({ level: 'inc', folder: MARCH });
  });

  it("starts a new full when libvirt's checkpoint of that name was made for another chain (another folder or --groupBy)", () => {
    const inv = inventory({
      checkpoints: cps(0, 1),
      disks: [disk('vda', cps(0, 1))],
      chains: [chain(MARCH, cps(0, 1))],
      chainFiles: [{ ...finishedFiles(MARCH, cps(0, 1)), lastCheckpointCreated: 1_795_000_100 }],
      checkpointCreated: { [cp(1)]: 1_795_000_400 },
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'full' });
    expect(plan.reasons[0]).toBe(
      `checkpoint virtnbdbackup.1 in libvirt is not the one chain ${MARCH} recorded (made 2026-11-18T11:13:20Z, the chain's 2026-11-18T11:08:20Z): another chain of this domain (another output folder or --groupBy) took the name, so the changes since this chain's point are unknown`,
    );
  });

  it('adds nothing to a chain that failed its last verify: a new full starts', () => {
    const failed = chain(MARCH, cps(0, 1));
    failed.manifest = {
      ...failed.manifest!,
      lastVerify: { time: '2026-03-10T00:00:00.000Z', result: 'failed', deep: false, problems: ['vda.full.data has sha256 …'] },
    };
    const inv = inventory({ checkpoints: cps(0, 1), disks: [disk('vda', cps(0, 1))], chains: [failed], chainFiles: [finishedFiles(MARCH, cps(0, 1))] });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'full' });
    expect(plan.reasons[0]).toBe(`chain ${MARCH} failed its last verify (2026-03-10T00:00:00.000Z): nothing more is added to it`);
  });

  it('rolls over to a new full chain in a new period, removing the old checkpoints newest first', () => {
    const inv = inventory({
      checkpoints: cps(0, 1, 2),
      disks: [disk('vda', cps(0, 1, 2))],
      chains: [chain(FEB, cps(0, 1, 2))],
      chainFiles: [finishedFiles(FEB, cps(0, 1, 2))],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'full', folder: MARCH, newChain: true });
    expect(plan.repairs).toEqual([
      { kind: 'delete-checkpoint', name: cp(2), metadataOnly: false, reason: 'a new chain starts: checkpoint virtnbdbackup.2 goes' },
      { kind: 'delete-checkpoint', name: cp(1), metadataOnly: false, reason: 'a new chain starts: checkpoint virtnbdbackup.1 goes' },
      { kind: 'delete-checkpoint', name: cp(0), metadataOnly: false, reason: 'a new chain starts: checkpoint virtnbdbackup.0 goes' },
    ]);
  });

  it('starts a vmkeep chain beside a VMSnap folder of the same period', () => {
    const inv = inventory({
      checkpoints: cps(0, 1),
      disks: [disk('vda', cps(0, 1))],
      chains: [chain(MARCH, cps(0, 1), { legacy: true })],
      // inspectDomain lists no files of legacy folders: vmkeep never tidies what it did not write.
      chainFiles: [],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'full', folder: `${MARCH}.2`, newChain: true });
    expect(plan.reasons[0]).toMatch(/VMSnap folder without a vmkeep manifest/);
    expect(kinds(plan.repairs)).toEqual(['delete-checkpoint', 'delete-checkpoint']);
  });

  describe('a VMSnap chain of this period', () => {
    const T = 1_773_100_000;
    const vmsnapInventory = (facts: { created?: number | undefined; libvirtCreated?: number | undefined; problems?: string[]; disks?: string[] } = {}) =>
      inventory({
        checkpoints: cps(0, 1),
        disks: [disk('vda', cps(0, 1))],
        chains: [chain(MARCH, cps(0, 1), { legacy: true })],
        chainFiles: [],
        checkpointCreated: { [cp(1)]: 'libvirtCreated' in facts ? facts.libvirtCreated : T },
        vmsnapChain: {
          folder: MARCH,
          lastCheckpointCreated: 'created' in facts ? facts.created : T,
          disks: facts.disks ?? ['vda'],
          problems: facts.problems ?? [],
        },
      });

    it("is continued with an incremental and adopted when its last checkpoint is libvirt's and its files pass", () => {
      const plan = backupPlan(planBackup(vmsnapInventory(), request, now));
      expect(plan).toMatchObject({ level: 'inc', folder: MARCH, newChain: false, repairs: [] });
      expect(plan.adopt).toEqual({
        folder: MARCH,
        why: `its last checkpoint ${cp(1)} is libvirt's (same name and creationTime 2026-03-09T23:46:40Z) and its files pass the structure check`,
      });
      expect(plan.reasons).toEqual([
        `continue VMSnap chain ${MARCH} after ${cp(1)} instead of starting a second full: ${plan.adopt!.why}; vmkeep adopts it first (as verify --adopt does)`,
      ]);
    });

    it.each([
      [
        'another run took the name',
        { libvirtCreated: T + 5 },
        /checkpoint virtnbdbackup\.1 in libvirt is not the chain's \(made 2026-03-09T23:46:45Z, the chain's 2026-03-09T23:46:40Z\): another run took the name/,
      ],
      ['its checkpoint XML is missing', { created: undefined }, /its checkpoints\/virtnbdbackup\.1\.xml is missing or unreadable/],
      ["libvirt's time is unreadable", { libvirtCreated: undefined }, /libvirt's creationTime of virtnbdbackup\.1 could not be read/],
      [
        'a file fails the structure check',
        { problems: ['vda.inc.virtnbdbackup.1.data ends before its stop frame'] },
        /its files fail the structure check \(vda\.inc\.virtnbdbackup\.1\.data ends before its stop frame\)/,
      ],
    ])('starts a new chain beside it, with the reason, when %s', (_name, facts, reason) => {
      const plan = backupPlan(planBackup(vmsnapInventory(facts), request, now));
      expect(plan).toMatchObject({ level: 'full', folder: `${MARCH}.2`, newChain: true });
      expect(plan.adopt).toBeUndefined();
      expect(plan.reasons[0]).toMatch(
        /^chain vmsnap-backup-monthly-2026-03 is a VMSnap folder without a vmkeep manifest: starting a vmkeep chain beside it \(not continued: /,
      );
      expect(plan.reasons[0]).toMatch(reason);
    });

    it("is not adopted when a later check fails (disks changed): the reason is that check's", () => {
      const plan = backupPlan(planBackup(vmsnapInventory({ disks: ['vda', 'vdb'] }), request, now));
      expect(plan).toMatchObject({ level: 'full', folder: `${MARCH}.2` });
      expect(plan.adopt).toBeUndefined();
      expect(plan.reasons[0]).toBe('disks changed (chain has vda,vdb, domain now has vda)');
    });
  });

  it('starts over when the disks changed', () => {
    const inv = inventory({
      checkpoints: cps(0),
      disks: [disk('vda', cps(0)), disk('vdb', [])],
      chains: [chain(MARCH, cps(0))],
      chainFiles: [finishedFiles(MARCH, cps(0))],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'full', folder: `${MARCH}.2` });
    expect(plan.reasons).toEqual(['disks changed (chain has vda, domain now has vda,vdb)']);
    // vdb has no bitmap: only the checkpoint's metadata can go, then vda's bitmap by hand.
    expect(plan.repairs.map(describeRepair)).toEqual([
      'delete checkpoint virtnbdbackup.0 (metadata only) (a new chain starts: checkpoint virtnbdbackup.0 goes; its bitmap is lost or inconsistent, so only its metadata can go)',
      'remove bitmap virtnbdbackup.0 from vda (the bitmap of checkpoint virtnbdbackup.0 on vda goes with it)',
    ]);
  });

  it('leaves excluded disks out of the chain and out of the bitmap checks', () => {
    const inv = inventory({
      checkpoints: cps(0),
      disks: [disk('vda', cps(0)), disk('vdb', undefined, { excludedBy: ['raw'] })],
      chains: [chain(MARCH, cps(0))],
      chainFiles: [finishedFiles(MARCH, cps(0))],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'inc', excluded: [{ disk: 'vdb', why: ['raw'] }] });
  });

  it('names a chain restarted within a period .2, .3...', () => {
    const inv = inventory({
      checkpoints: [],
      disks: [disk('vda', [])],
      chains: [chain(MARCH, cps(0)), chain(`${MARCH}.2`, cps(0, 1))],
      chainFiles: [finishedFiles(MARCH, cps(0)), finishedFiles(`${MARCH}.2`, cps(0, 1))],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'full', folder: `${MARCH}.3` });
    expect(plan.reasons).toEqual([`checkpoint virtnbdbackup.1 of chain ${MARCH}.2 is no longer known to libvirt`]);
  });
});

describe('planBackup: after a kill -9', () => {
  it('mid-incremental: aborts the job, removes the partial data, drops the orphan checkpoint, continues', () => {
    const leftovers = finishedFiles(MARCH, cps(0, 1));
    const inv = inventory({
      checkpoints: cps(0, 1, 2),
      disks: [disk('vda', cps(0, 1, 2))],
      jobActive: true,
      chains: [chain(MARCH, cps(0, 1), { running: { pid: 4242, startedAt: '2026-03-10T03:00:00.000Z', level: 'inc' } })],
      chainFiles: [
        files(MARCH, cps(0, 1, 2), [
          ...leftovers.files,
          'checkpoints/virtnbdbackup.2.xml',
          'vda.inc.virtnbdbackup.2.data.partial',
          'backup.inc.03102026030000.log',
        ]),
      ],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'inc', folder: MARCH, newChain: false });
    expect(plan.repairs).toEqual([
      { kind: 'abort-job', disks: ['vda'], reason: 'a backup job from an interrupted run is still active in QEMU' },
      {
        kind: 'remove-files',
        folder: MARCH,
        files: ['checkpoints/virtnbdbackup.2.xml', 'vda.inc.virtnbdbackup.2.data.partial'],
        reason: 'data of a run that did not finish (never recorded in the manifest)',
      },
      { kind: 'rewrite-cpt', folder: MARCH, checkpoints: cps(0, 1), reason: 'its checkpoint list names virtnbdbackup.2, which no finished run recorded' },
      {
        kind: 'close-run',
        folder: MARCH,
        startedAt: '2026-03-10T03:00:00.000Z',
        pid: 4242,
        reason: 'the inc run started at 2026-03-10T03:00:00.000Z (pid 4242) ended without finishing: killed or crashed',
      },
      {
        kind: 'delete-checkpoint',
        name: cp(2),
        metadataOnly: false,
        reason: "checkpoint virtnbdbackup.2 was created by a run that did not finish; the changes since it are still in virtnbdbackup.1's bitmap",
      },
    ]);
  });

  it('mid-full: starts the full over in the same folder, from a clean slate', () => {
    const inv = inventory({
      checkpoints: cps(0),
      disks: [disk('vda', cps(0))],
      jobActive: true,
      chains: [chain(MARCH, [], { running: { pid: 4242, startedAt: '2026-03-10T03:00:00.000Z', level: 'full' } })],
      chainFiles: [files(MARCH, cps(0), ['vm1.cpt', 'vmkeep-manifest.json', 'checkpoints/virtnbdbackup.0.xml', 'vda.full.data.partial'])],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'full', folder: MARCH, newChain: false });
    expect(plan.reasons).toEqual([`chain ${MARCH} has no recorded restore point (its full did not finish)`]);
    expect(kinds(plan.repairs)).toEqual(['abort-job', 'remove-files', 'rewrite-cpt', 'close-run', 'delete-checkpoint']);
    expect(describeRepair(plan.repairs[3]!)).toBe(
      `record in ${MARCH} that the full run started at 2026-03-10T03:00:00.000Z (pid 4242) ended without finishing: killed or crashed`,
    );
    expect(plan.repairs[1]).toMatchObject({ files: ['checkpoints/virtnbdbackup.0.xml', 'vda.full.data.partial'] });
    expect(plan.repairs[2]).toMatchObject({ checkpoints: [] });
  });

  it('mid-full after the data was renamed: the unrecorded full data goes too', () => {
    const inv = inventory({
      checkpoints: cps(0),
      disks: [disk('vda', cps(0))],
      chains: [chain(MARCH, [], { state: 'broken' })],
      chainFiles: [
        files(MARCH, cps(0), ['vm1.cpt', 'vmkeep-manifest.json', 'checkpoints/virtnbdbackup.0.xml', 'vda.full.data', 'vmconfig.virtnbdbackup.0.xml']),
      ],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'full', folder: MARCH });
    expect(plan.repairs[0]).toMatchObject({
      kind: 'remove-files',
      files: ['checkpoints/virtnbdbackup.0.xml', 'vda.full.data', 'vmconfig.virtnbdbackup.0.xml'],
    });
  });

  it('finds files of an unrecorded checkpoint that the .cpt list does not name', () => {
    // Killed after virtnbdbackup wrote the data but before it extended .cpt (or after vmkeep rewrote it).
    const steps = tidyChainFolder(
      files(MARCH, cps(0, 1), [
        ...finishedFiles(MARCH, cps(0, 1)).files,
        'vda.inc.virtnbdbackup.2.data',
        'vda.virtnbdbackup.2.qcow.json',
        'vda.inc.virtnbdbackup.10.data',
      ]),
      cps(0, 1),
    );
    expect(steps).toEqual([
      {
        kind: 'remove-files',
        folder: MARCH,
        files: ['vda.inc.virtnbdbackup.10.data', 'vda.inc.virtnbdbackup.2.data', 'vda.virtnbdbackup.2.qcow.json'],
        reason: 'data of a run that did not finish (never recorded in the manifest)',
      },
    ]);
  });

  it('rewrites a checkpoint list cut short by a kill (virtnbdbackup writes it in place)', () => {
    const cut = { ...finishedFiles(MARCH, cps(0, 1)), cpt: [], cptReadable: false };
    expect(tidyChainFolder(cut, cps(0, 1))).toEqual([
      { kind: 'rewrite-cpt', folder: MARCH, checkpoints: cps(0, 1), reason: 'its checkpoint list is not a JSON list (a run was killed while writing it)' },
    ]);
  });

  it('leaves a finished chain folder alone', () => {
    expect(tidyChainFolder(finishedFiles(MARCH, cps(0, 1, 2)), cps(0, 1, 2))).toEqual([]);
  });

  it('removes a partial file even when no checkpoint was created', () => {
    const steps = tidyChainFolder(files(MARCH, cps(0), [...finishedFiles(MARCH, cps(0)).files, 'vdb.inc.virtnbdbackup.1.data.partial']), cps(0));
    expect(steps).toMatchObject([{ kind: 'remove-files', files: ['vdb.inc.virtnbdbackup.1.data.partial'] }]);
  });

  it('drops an orphan checkpoint whose bitmap one disk lost by its metadata, and the other disk bitmap by hand', () => {
    const inv = inventory({
      checkpoints: cps(0, 1),
      disks: [disk('vda', cps(0, 1)), disk('vdb', cps(0))],
      chains: [chain(MARCH, cps(0), { disks: ['vda', 'vdb'] })],
      chainFiles: [files(MARCH, cps(0, 1), [...finishedFiles(MARCH, cps(0)).files, 'checkpoints/virtnbdbackup.1.xml'])],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan.level).toBe('inc');
    expect(plan.repairs.slice(-2)).toEqual([
      expect.objectContaining({ kind: 'delete-checkpoint', name: cp(1), metadataOnly: true }),
      expect.objectContaining({ kind: 'remove-bitmap', disk: 'vda', name: cp(1) }),
    ]);
  });

  it('shuts off afterwards a domain an interrupted run left paused', () => {
    const inv = inventory({
      state: 'paused',
      pausedByInterruptedRun: true,
      checkpoints: cps(0),
      disks: [disk('vda', cps(0))],
      chains: [chain(MARCH, cps(0))],
      chainFiles: [finishedFiles(MARCH, cps(0))],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'inc', startPaused: false, shutOffAfter: true });
    expect(plan.reasons[0]).toMatch(/paused because an interrupted vmkeep run started it/);
  });

  it('resumes afterwards, never shuts off, a domain an interrupted --stop run left paused (it ran before)', () => {
    const inv = inventory({
      state: 'paused',
      pausedByInterruptedStop: true,
      checkpoints: cps(0),
      disks: [disk('vda', cps(0))],
      chains: [chain(MARCH, cps(0))],
      chainFiles: [finishedFiles(MARCH, cps(0))],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'inc', startPaused: false, shutOffAfter: false, resumeAfter: true });
    expect(plan.reasons[0]).toMatch(/interrupted vmkeep --stop run shut it down for a backup: it is resumed afterwards/);
  });

  it('a shut-off domain is started paused and shut off again; nothing is resumed', () => {
    const inv = inventory({
      state: 'shut off',
      checkpoints: cps(0),
      disks: [disk('vda', cps(0))],
      chains: [chain(MARCH, cps(0))],
      chainFiles: [finishedFiles(MARCH, cps(0))],
    });
    expect(backupPlan(planBackup(inv, request, now))).toMatchObject({ level: 'inc', startPaused: true, shutOffAfter: true, resumeAfter: false });
  });
});

describe('planBackup: bitmaps', () => {
  it('QEMU killed: inconsistent bitmaps end the chain; checkpoints lose their metadata, bitmaps go by hand', () => {
    const inv = inventory({
      checkpoints: cps(0, 1),
      disks: [disk('vda', cps(0, 1), { bad: cps(0, 1) })],
      chains: [chain(MARCH, cps(0, 1))],
      chainFiles: [finishedFiles(MARCH, cps(0, 1))],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan).toMatchObject({ level: 'full', folder: `${MARCH}.2`, newChain: true });
    expect(plan.reasons).toEqual(['bitmap virtnbdbackup.1 on vda is inconsistent (QEMU stopped without saving it): changes since it are unknown']);
    expect(plan.repairs.map((s) => [s.kind, 'name' in s ? s.name : '', 'metadataOnly' in s ? s.metadataOnly : ''])).toEqual([
      ['delete-checkpoint', cp(1), true],
      ['remove-bitmap', cp(1), ''],
      ['delete-checkpoint', cp(0), true],
      ['remove-bitmap', cp(0), ''],
    ]);
  });

  it('lost bitmaps: a full; nothing to remove from QEMU', () => {
    const inv = inventory({
      checkpoints: cps(0, 1),
      disks: [disk('vda', [])],
      chains: [chain(MARCH, cps(0, 1))],
      chainFiles: [finishedFiles(MARCH, cps(0, 1))],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan.reasons).toEqual(['bitmap virtnbdbackup.1 is missing on vda: changes since it are unknown']);
    expect(kinds(plan.repairs)).toEqual(['delete-checkpoint', 'delete-checkpoint']);
    expect(plan.repairs.every((s) => s.kind === 'delete-checkpoint' && s.metadataOnly)).toBe(true);
  });

  it('unreadable bitmaps: a full', () => {
    const inv = inventory({ checkpoints: cps(0), disks: [disk('vda', undefined)], chains: [chain(MARCH, cps(0))], chainFiles: [finishedFiles(MARCH, cps(0))] });
    expect(backupPlan(planBackup(inv, request, now)).reasons).toEqual(['bitmaps of vda cannot be read']);
  });

  it('a new chain removes owned bitmaps that have no checkpoint (they would collide: "Bitmap already exists")', () => {
    const inv = inventory({ checkpoints: [], disks: [disk('vda', ['virtnbdbackup.0', 'someone-elses'])] });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan.repairs).toEqual([
      { kind: 'remove-bitmap', disk: 'vda', name: cp(0), reason: 'bitmap virtnbdbackup.0 on vda has no checkpoint and would block the new chain' },
    ]);
  });

  it('an incremental removes an owned bitmap without a checkpoint, except a recorded one virtnbdbackup redefines', () => {
    const inv = inventory({
      // libvirt lost virtnbdbackup.0 (virtnbdbackup redefines it from checkpoints/); .2 is a stray.
      checkpoints: cps(1),
      disks: [disk('vda', cps(0, 1, 2))],
      chains: [chain(MARCH, cps(0, 1))],
      chainFiles: [finishedFiles(MARCH, cps(0, 1))],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan.level).toBe('inc');
    expect(plan.repairs).toEqual([
      { kind: 'remove-bitmap', disk: 'vda', name: cp(2), reason: 'bitmap virtnbdbackup.2 on vda has no checkpoint in libvirt and would block the next one' },
    ]);
  });

  it('a recorded checkpoint gone from libvirt together with its bitmap ends the chain', () => {
    const inv = inventory({
      checkpoints: cps(1),
      disks: [disk('vda', cps(1))],
      chains: [chain(MARCH, cps(0, 1))],
      chainFiles: [finishedFiles(MARCH, cps(0, 1))],
    });
    const plan = backupPlan(planBackup(inv, request, now));
    expect(plan.level).toBe('full');
    expect(plan.reasons).toEqual([`checkpoint virtnbdbackup.0 of chain ${MARCH} is gone from libvirt and its bitmap from vda`]);
  });
});

describe('planBackup: skip, refuse, shut-off domains', () => {
  const recent = (hoursAgo: number) =>
    inventory({
      checkpoints: cps(0),
      disks: [disk('vda', cps(0))],
      chains: [chain(MARCH, cps(0), { times: [new Date(now.getTime() - hoursAgo * 3_600_000)] })],
      chainFiles: [finishedFiles(MARCH, cps(0))],
    });

  it('--if-older-than skips a domain backed up recently enough, and says when', () => {
    const plan = planBackup(recent(2), { ...request, ifOlderThan: parseDuration('4h') }, now);
    expect(plan).toEqual({
      domain: 'vm1',
      action: 'skip',
      reason: `last backup at ${new Date(now.getTime() - 2 * 3_600_000).toISOString()} is younger than 4h`,
    });
  });

  it('--if-older-than backs up a domain whose last backup is older', () => {
    expect(planBackup(recent(5), { ...request, ifOlderThan: parseDuration('4h') }, now).action).toBe('backup');
  });

  it('--if-older-than does not skip on a last point dated in the future (the clock ran ahead), and says so', () => {
    const ahead = inventory({
      checkpoints: cps(0),
      disks: [disk('vda', cps(0))],
      chains: [chain(MARCH, cps(0), { times: [new Date(now.getTime() + 30 * 86_400_000)] })],
      chainFiles: [finishedFiles(MARCH, cps(0))],
    });
    const plan = backupPlan(planBackup(ahead, { ...request, ifOlderThan: parseDuration('1w') }, now));
    expect(plan.reasons.join(' ')).toMatch(/dated .* in the future: --if-older-than 1w does not skip/);
    expect(plan.warnings?.join(' ')).toMatch(/1 point\(s\) of vm1 are dated in the future .*clock ran ahead/);
  });

  it('numbers the new point after the highest number recorded in any chain', () => {
    const numbered = chain(MARCH, cps(0, 1));
    numbered.points[0]!.sequence = 4;
    numbered.points[1]!.sequence = 7;
    const plan = backupPlan(
      planBackup(
        inventory({ chains: [numbered], chainFiles: [finishedFiles(MARCH, cps(0, 1))], checkpoints: cps(0, 1), disks: [disk('vda', cps(0, 1))] }),
        request,
        now,
      ),
    );
    expect(plan.sequence).toBe(8);
    expect(backupPlan(planBackup(inventory(), request, now)).sequence).toBe(1);
  });

  it('a damaged chain (a recorded file missing) is not continued: a new full starts, naming the file', () => {
    const damaged = {
      ...chain(MARCH, cps(0, 1)),
      state: 'broken' as const,
      damage: { problems: ['vda.full.data is missing'], byPoint: { [cp(0)]: 'vda.full.data is missing', [cp(1)]: 'vda.full.data is missing' } },
    };
    const plan = backupPlan(
      planBackup(
        inventory({ chains: [damaged], chainFiles: [finishedFiles(MARCH, cps(0, 1))], checkpoints: cps(0, 1), disks: [disk('vda', cps(0, 1))] }),
        request,
        now,
      ),
    );
    expect(plan.level).toBe('full');
    expect(plan.folder).toBe(`${MARCH}.2`);
    expect(plan.reasons.join(' ')).toContain(`chain ${MARCH} is damaged (vda.full.data is missing)`);
  });

  it('--if-older-than backs up a domain never backed up', () => {
    expect(planBackup(inventory(), { ...request, ifOlderThan: parseDuration('4h') }, now).action).toBe('backup');
  });

  it('refuses beside checkpoints vmkeep did not make, and says what to do', () => {
    const plan = planBackup(inventory({ checkpoints: ['nightly-snap'] }), request, now);
    expect(plan.action).toBe('refuse');
    expect(plan.action === 'refuse' && plan.reason).toMatch(/checkpoints vmkeep did not make \(nightly-snap\).*virsh checkpoint-delete/);
  });

  it('a shut-off domain is started paused and shut off again', () => {
    const plan = backupPlan(planBackup(inventory({ state: 'shut off' }), request, now));
    expect(plan).toMatchObject({ startPaused: true, shutOffAfter: true });
  });

  it('groups by quarter with VMSnap folder names', () => {
    const plan = backupPlan(planBackup(inventory(), { groupBy: 'quarter', ifOlderThan: undefined }, now));
    expect(plan.folder).toBe('vmsnap-backup-quarterly-2026-Q1');
  });
});
