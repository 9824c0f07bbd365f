import { describe, expect, it } from 'vitest';
import type { Checkpoint, DiskBitmap } from '../../../src/domain/types.js';
import { judgeConsistency, type DiskBitmapView } from '../../../src/status/verdict.js';

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
    const v = judgeConsistency('d', cps, [disk('vda', [bm('virtnbdbackup.1'), bm('virtnbdbackup.0')]), disk('vdb', [bm('virtnbdbackup.0'), bm('virtnbdbackup.1')])]);
    expect(v).toEqual({ consistent: true, problems: [] });
  });

  it('names the disk and the bitmap when one disk lost one bitmap (counts alone would not show it)', () => {
    const v = judgeConsistency('d', cps, [disk('vda', [bm('virtnbdbackup.0'), bm('virtnbdbackup.1')]), disk('vdb', [bm('virtnbdbackup.0'), bm('virtnbdbackup.x')])]);
    expect(v.consistent).toBe(false);
    const kinds = v.problems.map((p) => [p.kind, p.disk, p.name]);
    expect(kinds).toContainEqual(['missing-bitmap', 'vdb', 'virtnbdbackup.1']);
    expect(kinds).toContainEqual(['orphan-bitmap', 'vdb', 'virtnbdbackup.x']);
    expect(v.problems.find((p) => p.kind === 'missing-bitmap')!.fix).toMatch(/vmkeep scrub --domains "d" --scrubType both/);
  });

  it('reports a bitmap no checkpoint refers to, and suggests --force only for foreign names', () => {
    const v = judgeConsistency('d', [], [disk('vda', [bm('virtnbdbackup.3'), bm('someone-else')])]);
    const fixes = Object.fromEntries(v.problems.map((p) => [p.name, p.fix]));
    expect(fixes['virtnbdbackup.3']).not.toMatch(/--force/);
    expect(fixes['someone-else']).toMatch(/--force/);
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
    const c: Checkpoint = { name: 'virtnbdbackup.0', parent: undefined, creationTime: undefined, disks: [{ name: 'vdb', checkpoint: 'no', bitmap: undefined, size: undefined }] };
    expect(judgeConsistency('d', [c], [disk('vdb', [])]).consistent).toBe(true);
  });
});
