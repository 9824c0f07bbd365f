import { describe, expect, it } from 'vitest';
import { VmkeepError } from '../../../src/errors.js';
import { compactTime, filesForPoint, imageFileNames, planRestore, type RestoreRequest } from '../../../src/points/plan-restore.js';
import { planInPlace } from '../../../src/restore/plan-in-place.js';
import type { DomainDisk } from '../../../src/domain/types.js';
import { capturedChain, ChainBuilder, twoChains } from './builders.js';

const NOW = new Date('2026-11-22T10:20:30.456Z');
const toDir = (extra: Partial<RestoreRequest> = {}): RestoreRequest => ({
  selector: { kind: 'latest' },
  disks: undefined,
  destination: { kind: 'directory', dir: '/restore/web', defineName: undefined },
  ...extra,
});

describe('planRestore', () => {
  it('applies the full and every incremental up to the point, in chain order', () => {
    const plan = planRestore(twoChains(), 'web', toDir({ selector: { kind: 'at', value: 'vmsnap-backup-monthly-2026-10/virtnbdbackup.1' } }), NOW);
    expect(plan.point.id).toBe('vmsnap-backup-monthly-2026-10/virtnbdbackup.1');
    expect(plan.applied).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
    expect(plan.disks).toEqual([
      {
        target: 'vda',
        sequence: ['vda.full.data', 'vda.inc.virtnbdbackup.1.data'],
        qcowInfo: 'vda.virtnbdbackup.1.qcow.json',
        sourcePath: '/var/lib/libvirt/images/web-vda.qcow2',
        fileName: 'web-vda.qcow2',
      },
    ]);
    expect(plan.config).toBe('vmconfig.virtnbdbackup.1.xml');
    expect(plan.chainDir).toBe('/backup/web/vmsnap-backup-monthly-2026-10');
    // What is checked first: exactly what the restore reads, with the recorded sha256.
    expect(plan.check.map((f) => f.path).sort()).toEqual(
      ['vda.full.data', 'vda.inc.virtnbdbackup.1.data', 'vda.virtnbdbackup.1.qcow.json', 'vmconfig.virtnbdbackup.1.xml'].sort(),
    );
    expect(plan.check.every((f) => f.sha256?.length === 64)).toBe(true);
  });

  it('the sequence follows the recorded chain, whatever order the files were listed in', () => {
    const chain = new ChainBuilder('db', 'c', ['vda']).point(0).point(1).point(2).point(3).build();
    // A point list in chain order, files within points shuffled: only the chain order counts.
    for (const p of chain.points) p.files.reverse();
    const plan = planRestore([chain], 'db', toDir({ selector: { kind: 'at', value: 'c/virtnbdbackup.3' } }), NOW);
    expect(plan.disks[0]!.sequence).toEqual(['vda.full.data', 'vda.inc.virtnbdbackup.1.data', 'vda.inc.virtnbdbackup.2.data', 'vda.inc.virtnbdbackup.3.data']);
  });

  it('names the restored domain <domain>-restored-<time>, or --define NAME, and places images after the originals', () => {
    const plan = planRestore(twoChains(), 'web', toDir(), NOW);
    expect(compactTime(NOW)).toBe('20261122T102030Z');
    expect(plan.directory).toEqual({
      dir: '/restore/web',
      domainName: 'web-restored-20261122T102030Z',
      define: false,
      xmlPath: '/restore/web/web-restored-20261122T102030Z.xml',
      images: [{ target: 'vda', path: '/restore/web/web-vda.qcow2' }],
    });
    const defined = planRestore(twoChains(), 'web', toDir({ destination: { kind: 'directory', dir: '/r', defineName: 'web-copy' } }), NOW);
    expect(defined.directory).toMatchObject({ domainName: 'web-copy', define: true, xmlPath: '/r/web-copy.xml' });
  });

  it('on the captured two-disk chain: both disks, original file names (with a space), point 1 sequences', () => {
    const chain = capturedChain();
    const plan = planRestore([chain], chain.domain, toDir({ selector: { kind: 'at', value: 'virtnbdbackup.1' } }), NOW);
    expect(plan.disks.map((d) => [d.target, d.fileName, d.sequence])).toEqual([
      ['vda', 'vda.qcow2', ['vda.full.data', 'vda.inc.virtnbdbackup.1.data']],
      ['vdb', 'data disk.qcow2', ['vdb.full.data', 'vdb.inc.virtnbdbackup.1.data']],
    ]);
    expect(plan.directory!.images.map((i) => i.path)).toEqual(['/restore/web/vda.qcow2', '/restore/web/data disk.qcow2']);
    expect(plan.reasons[0]).toContain('as named by --at virtnbdbackup.1');
    const onlyVdb = planRestore([chain], chain.domain, toDir({ disks: ['vdb'], selector: { kind: 'at', value: 'virtnbdbackup.0' } }), NOW);
    expect(onlyVdb.disks.map((d) => d.sequence)).toEqual([['vdb.full.data']]);
  });

  it('refuses an unknown --disk (64) and a chain that lacks a data file (2)', () => {
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as VmkeepError;
      }
      throw new Error('no error');
    };
    expect(err(() => planRestore(twoChains(), 'web', toDir({ disks: ['vdz'] }), NOW))).toMatchObject({ code: 'usage' });
    const holed = new ChainBuilder('db', 'c', ['vda', 'vdb'])
      .point(0)
      .point(1, { without: ['vdb.inc.virtnbdbackup.1.data'] })
      .point(2)
      .build();
    const e = err(() => planRestore([holed], 'db', toDir(), NOW));
    expect(e.code).toBe('failure');
    expect(e.message).toContain('point virtnbdbackup.1 has no data file for disk vdb');
    // Restoring vda alone, or a point before the hole, is fine.
    expect(planRestore([holed], 'db', toDir({ disks: ['vda'] }), NOW).disks[0]!.sequence).toHaveLength(3);
    expect(planRestore([holed], 'db', toDir({ selector: { kind: 'at', value: 'c/virtnbdbackup.0' } }), NOW).applied).toEqual(['virtnbdbackup.0']);
  });

  it('falls back to the newest earlier domain XML and qcow2 options when a point has none', () => {
    const chain = new ChainBuilder('db', 'c')
      .point(0)
      .point(1, { without: ['vmconfig.virtnbdbackup.1.xml', 'vda.virtnbdbackup.1.qcow.json'] })
      .build();
    const f = filesForPoint(chain, 1);
    expect(f.config).toBe('vmconfig.virtnbdbackup.0.xml');
    expect(f.qcowInfos.get('vda')).toBe('vda.virtnbdbackup.0.qcow.json');
  });
});

describe('imageFileNames', () => {
  it('keeps original names, prefixes the target where two clash, falls back to <target>.qcow2', () => {
    const names = imageFileNames([
      { target: 'vda', sourcePath: '/a/disk.qcow2' },
      { target: 'vdb', sourcePath: '/b/disk.qcow2' },
      { target: 'vdc', sourcePath: undefined },
      { target: 'vdd', sourcePath: '/c/root.img' },
    ]);
    expect([...names.entries()]).toEqual([
      ['vda', 'vda-disk.qcow2'],
      ['vdb', 'vdb-disk.qcow2'],
      ['vdc', 'vdc.qcow2'],
      ['vdd', 'root.img'],
    ]);
  });
});

describe('planInPlace', () => {
  const disk = (target: string, path: string, extra: Partial<DomainDisk> = {}): DomainDisk => ({
    target,
    device: 'disk',
    sourceType: 'file',
    path,
    protocol: undefined,
    format: 'qcow2',
    bus: 'virtio',
    readonly: false,
    shareable: false,
    transient: false,
    alias: undefined,
    ...extra,
  });
  const restore = () =>
    planRestore(
      [capturedChain()],
      'vmkeep-scratch-restore-fx',
      { selector: { kind: 'at', value: 'virtnbdbackup.0' }, disks: undefined, destination: { kind: 'in-place' } },
      NOW,
    );
  const facts = (state: 'running' | 'shut off' | 'paused') => ({
    state,
    disks: [disk('vda', '/img/vda.qcow2'), disk('vdb', '/img/data disk.qcow2'), disk('vdc', '/img/scratch.qcow2')],
    checkpoints: ['virtnbdbackup.0', 'virtnbdbackup.1', 'manual'],
  });
  const req = { force: false, checkpointCurrent: false, discardOld: false, shutdownTimeoutMs: 60_000 };

  it('refuses a running or paused domain without --force (64)', () => {
    expect(() => planInPlace(restore(), facts('running'), req, NOW)).toThrow(/is running: .*add --force/);
    expect(() => planInPlace(restore(), facts('paused'), req, NOW)).toThrow(VmkeepError);
  });

  it('swaps next to the original, keeps it as .vmkeep-replaced-<time>, restarts and scrubs', () => {
    const plan = planInPlace(restore(), facts('running'), { ...req, force: true, checkpointCurrent: true }, NOW);
    expect(plan.disks).toEqual([
      {
        target: 'vda',
        path: '/img/vda.qcow2',
        tempDir: '/img/.vmkeep-restore-20261122T102030Z-vda',
        replacedPath: '/img/vda.qcow2.vmkeep-replaced-20261122T102030Z',
      },
      {
        target: 'vdb',
        path: '/img/data disk.qcow2',
        tempDir: '/img/.vmkeep-restore-20261122T102030Z-vdb',
        replacedPath: '/img/data disk.qcow2.vmkeep-replaced-20261122T102030Z',
      },
    ]);
    expect(plan).toMatchObject({
      stop: true,
      restart: 'start',
      wasState: 'running',
      untouched: ['vdc'],
      scrub: ['virtnbdbackup.0', 'virtnbdbackup.1'],
      foreign: ['manual'],
    });
    expect(plan.steps[0]).toContain('back up the current state');
    expect(plan.steps.some((s) => s.startsWith('shut vmkeep-scratch-restore-fx down (graceful, destroyed after 60 s)'))).toBe(true);
    expect(planInPlace(restore(), facts('shut off'), req, NOW)).toMatchObject({ stop: false, restart: 'none' });
    expect(planInPlace(restore(), facts('paused'), { ...req, force: true }, NOW)).toMatchObject({ stop: true, restart: 'start-paused' });
  });

  it('refuses disks it cannot swap by rename: a block device, a raw image, a missing disk', () => {
    const f = facts('shut off');
    const block = { ...f, disks: [disk('vda', '/dev/vg/vda', { sourceType: 'block' }), f.disks[1]!] };
    expect(() => planInPlace(restore(), block, req, NOW)).toThrow(/not a file \(block\)/);
    const raw = { ...f, disks: [disk('vda', '/img/vda.img', { format: 'raw' }), f.disks[1]!] };
    expect(() => planInPlace(restore(), raw, req, NOW)).toThrow(/is raw/);
    const missing = { ...f, disks: [f.disks[0]!] };
    expect(() => planInPlace(restore(), missing, req, NOW)).toThrow(/has no disk vdb/);
  });
});
