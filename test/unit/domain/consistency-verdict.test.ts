import { describe, expect, it } from 'vitest';
import type { Checkpoint, DiskBitmap } from '../../../src/domain/types.js';
import { judgeConsistency, type DiskBitmapView } from '../../../src/domain/consistency-verdict.js';

const cp = (name: string, disks: string[], parent?: string): Checkpoint => ({
  name,
  parent,
  creationTime: undefined,
  disks: disks.map((d) => ({ name: d, checkpoint: 'bitmap', bitmap: name, size: undefined })),
});
const bm = (name: string, inconsistent = false): DiskBitmap => ({ name, count: 0, recording: true, persistent: true, inconsistent });
const disk = (name: string, bitmaps: DiskBitmap[] | undefined, eligible = true): DiskBitmapView => ({ disk: name, eligible, bitmaps });

describe('judgeConsistency', () => {
  const cps = [cp('virtnbdbackup.0', ['vda', 'vdb']), cp('virtnbdbackup.1', ['vda', 'vdb'], 'virtnbdbackup.0')];

  it('is consistent when every checkpoint has its bitmap on every disk', () => {
    const v = judgeConsistency('d', cps, [
      disk('vda', [bm('virtnbdbackup.1'), bm('virtnbdbackup.0')]),
      disk('vdb', [bm('virtnbdbackup.0'), bm('virtnbdbackup.1')]),
    ]);
    expect(v).toEqual({ consistent: true, problems: [] });
  });

  it('names the disk and the bitmap when one disk lost one bitmap (counts alone would not show it)', () => {
    const v = judgeConsistency('d', cps, [
      disk('vda', [bm('virtnbdbackup.0'), bm('virtnbdbackup.1')]),
      disk('vdb', [bm('virtnbdbackup.0'), bm('virtnbdbackup.x')]),
    ]);
    expect(v.consistent).toBe(false);
    const kinds = v.problems.map((p) => [p.kind, p.disk, p.name]);
    expect(kinds).toContainEqual(['missing-bitmap', 'vdb', 'virtnbdbackup.1']);
    expect(kinds).toContainEqual(['orphan-bitmap', 'vdb', 'virtnbdbackup.x']);
    expect(v.problems.find((p) => p.kind === 'missing-bitmap')!.fix).toBe(
      'vmkeep scrub --domains d --scrubType both, then the next backup starts a new full chain',
    );
  });

  it('reports a bitmap no checkpoint refers to, and suggests --force only for foreign names', () => {
    const v = judgeConsistency('d', [], [disk('vda', [bm('virtnbdbackup.3'), bm('someone-else')])]);
    const fixes = Object.fromEntries(v.problems.map((p) => [p.name, p.fix]));
    expect(fixes['virtnbdbackup.3']).toBe('vmkeep scrub --domains d --scrubType bitmap --checkpointName virtnbdbackup.3');
    expect(fixes['someone-else']).toBe(
      'not a vmkeep bitmap; remove it only if nothing else uses it: vmkeep scrub --domains d --scrubType bitmap --checkpointName someone-else --force',
    );
  });

  it('says when the named scrub of an orphan also takes the checkpoint of that name (bitmap kept on another disk)', () => {
    const v = judgeConsistency('d', [cp('virtnbdbackup.0', ['vda'])], [disk('vda', [bm('virtnbdbackup.0')]), disk('vdb', [bm('virtnbdbackup.0')])]);
    expect(v.problems.map((p) => [p.kind, p.disk, p.fix])).toEqual([
      [
        'orphan-bitmap',
        'vdb',
        'vmkeep scrub --domains d --scrubType bitmap --checkpointName virtnbdbackup.0; this also deletes checkpoint virtnbdbackup.0 (its bitmaps on other disks), then the next backup starts a new full chain',
      ],
    ]);
  });

  it('quotes a hostile domain name for a POSIX shell in every fix', () => {
    const name = "trial-odd name;$(id)`id`'q&x";
    const v = judgeConsistency(name, [cp('virtnbdbackup.0', ['vda'])], [disk('vda', [bm('virtnbdbackup.1')]), disk('vdb', undefined)]);
    const quoted = "'trial-odd name;$(id)`id`'\\''q&x'";
    expect(v.problems.map((p) => p.fix)).toEqual([
      `vmkeep scrub --domains ${quoted} --scrubType both, then the next backup starts a new full chain`,
      `vmkeep scrub --domains ${quoted} --scrubType bitmap --checkpointName virtnbdbackup.1`,
      `check the disk image and run: vmkeep status --domains ${quoted} --verbose`,
    ]);
  });

  it('reports an inconsistent bitmap', () => {
    const v = judgeConsistency('d', [cps[0]!], [disk('vda', [bm('virtnbdbackup.0', true)])]);
    expect(v.problems.map((p) => p.kind)).toEqual(['inconsistent-bitmap']);
  });

  it('ignores ineligible disks and reports unreadable bitmaps of eligible ones', () => {
    const v = judgeConsistency('d', [cp('virtnbdbackup.0', ['vda'])], [disk('vda', undefined), disk('hdc', [], false)]);
    expect(v.problems.map((p) => [p.kind, p.disk])).toEqual([['unreadable-bitmaps', 'vda']]);
  });

  it("skips disks a checkpoint does not track (checkpoint='no')", () => {
    const c: Checkpoint = {
      name: 'virtnbdbackup.0',
      parent: undefined,
      creationTime: undefined,
      disks: [{ name: 'vdb', checkpoint: 'no', bitmap: undefined, size: undefined }],
    };
    expect(judgeConsistency('d', [c], [disk('vdb', [])]).consistent).toBe(true);
  });
});
