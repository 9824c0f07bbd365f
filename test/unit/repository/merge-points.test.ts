/**
 * The point-merge executor against a FakeRunner (exact argv, unexpected calls throw) on a real
 * chain folder in a temp dir: the order of the steps, what the manifest says afterwards, what a
 * failed verification leaves, and each crash state the next prune (or a reader) finds.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createContext } from '../../../src/app/context.js';
import { executeMerges, finishInterruptedMerges, mergePoints } from '../../../src/repository/merge-points.js';
import { readChain } from '../../../src/repository/chains.js';
import { readManifest, writeManifest, type ChainManifest } from '../../../src/repository/manifest.js';
import type { PointMerge, PrunePlan } from '../../../src/retention/types.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';

const URI = 'qemu:///system';
const DOM = 'vm1';
const CP = ['vmkeep.0a0b0c0d.0', 'vmkeep.0a0b0c0d.1', 'vmkeep.0a0b0c0d.2'];
const CHECK_GOOD = readFileSync(new URL('../../../fixtures/qemu-img/check-good.json', import.meta.url), 'utf8');
const NOW = new Date('2026-11-30T06:00:00Z');

let dir: string;
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const img = (i: number) => `vda.${CP[i]}.qcow2`;
const temp = (i: number) => join(dir, `.vmkeep-merge.${img(i)}.partial`);
const virsh = (...argv: string[]) => ['-c', URI, ...argv];

function manifest(): ChainManifest {
  const time = (i: number) => `2026-11-29T0${i}:00:00.000Z`;
  return {
    format: 'vmkeep-chain/1',
    domain: DOM,
    engine: 'push',
    toolVersions: {},
    createdAt: time(0),
    updatedAt: time(2),
    state: 'complete',
    protected: false,
    disks: [{ target: 'vda' }],
    points: CP.map((cp, i) => ({
      checkpoint: cp,
      ...(i > 0 ? { parent: CP[i - 1] } : {}),
      time: time(i),
      level: i === 0 ? ('full' as const) : ('inc' as const),
      protected: false,
      dataBytes: 1,
      durationMs: 1,
      files: [
        { path: img(i), disk: 'vda', kind: 'data' as const, size: `image ${i}`.length, sha256: sha(`image ${i}`) },
        { path: `vmconfig.${cp}.xml`, kind: 'config' as const, size: 3, sha256: sha('xml') },
      ],
    })),
    events: [],
  };
}

function setup() {
  const runner = new FakeRunner();
  const log = createMemoryLogger();
  const ctx = createContext({ runner, uri: URI, now: () => NOW, log, interactive: false, signal: new AbortController().signal });
  return { runner, ctx, log };
}

/** The calls of one verified merged copy of point `into`'s image. */
function expectMergedCopy(runner: FakeRunner, into: number, base: string | undefined, identical = true): void {
  runner.expect({
    tool: 'qemu-img',
    argv: base === undefined ? ['rebase', '-q', '-b', '', temp(into)] : ['rebase', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, temp(into)],
    // What the real rebase does to the copy: it takes in the dropped points' data.
    effect: () => writeFileSync(temp(into), `merged ${into}`),
  });
  runner.expect({ tool: 'qemu-img', argv: ['compare', '--force-share', temp(into), join(dir, img(into))], result: { exitCode: identical ? 0 : 1 } });
  if (identical) runner.expect({ tool: 'qemu-img', argv: ['check', '--output=json', temp(into)], result: { stdout: CHECK_GOOD } });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vmkeep-merge-test-'));
  for (const [i, cp] of CP.entries()) {
    writeFileSync(join(dir, img(i)), `image ${i}`);
    writeFileSync(join(dir, `vmconfig.${cp}.xml`), 'xml');
  }
  await writeManifest(dir, manifest());
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const middle: PointMerge = { chain: 'c1', dropped: [CP[1]!], into: CP[2]!, newParent: CP[0], reasons: ['not selected by any rule'] };
const full: PointMerge = { chain: 'c1', dropped: [CP[0]!, CP[1]!], into: CP[2]!, newParent: undefined, reasons: ['not selected by any rule'] };

describe('mergePoints', () => {
  it('a middle point: rebase a copy of the child onto the parent, compare, check, delete the checkpoint, rename, record', async () => {
    const { runner, ctx } = setup();
    expectMergedCopy(runner, 2, img(0));
    runner.expect({ tool: 'virsh', argv: virsh('checkpoint-list', '--domain', DOM, '--name', '--topological'), result: { stdout: `${CP.join('\n')}\n` } });
    runner.expect({ tool: 'virsh', argv: virsh('checkpoint-delete', '--domain', DOM, '--checkpointname', CP[1]!) });
    await mergePoints(ctx, dir, middle);
    expect(runner.unmet()).toEqual([]);
    expect(runner.calls.map((c) => (c.argv[0] === '-c' ? c.argv[2] : c.argv[0]))).toEqual([
      'rebase',
      'compare',
      'check',
      'checkpoint-list',
      'checkpoint-delete',
    ]);
    const m = (await readManifest(dir))!;
    expect(m.merging).toBeUndefined();
    expect(m.points.map((p) => [p.checkpoint, p.parent, p.level])).toEqual([
      [CP[0], undefined, 'full'],
      [CP[2], CP[0], 'inc'],
    ]);
    expect(m.points[1]!.files[0]).toMatchObject({ path: img(2), size: 'merged 2'.length, sha256: sha('merged 2') });
    expect(readFileSync(join(dir, img(2)), 'utf8')).toBe('merged 2');
    expect(m.events.at(-1)).toEqual({ time: NOW.toISOString(), kind: 'merged', message: `merged ${CP[1]} into ${CP[2]}, which now rests on ${CP[0]}` });
    expect(readdirSync(dir).sort()).toEqual([img(0), img(2), `vmconfig.${CP[0]}.xml`, `vmconfig.${CP[2]}.xml`, 'vmkeep-manifest.json']);
  });

  it('the full and the next point: the child is flattened and becomes the full; checkpoints libvirt no longer has are left alone', async () => {
    const { runner, ctx } = setup();
    expectMergedCopy(runner, 2, undefined);
    runner.expect({ tool: 'virsh', argv: virsh('checkpoint-list', '--domain', DOM, '--name', '--topological'), result: { stdout: `${CP[1]}\n${CP[2]}\n` } });
    runner.expect({ tool: 'virsh', argv: virsh('checkpoint-delete', '--domain', DOM, '--checkpointname', CP[1]!) });
    await mergePoints(ctx, dir, full);
    expect(runner.unmet()).toEqual([]);
    const m = (await readManifest(dir))!;
    expect(m.points.map((p) => [p.checkpoint, p.parent, p.level])).toEqual([[CP[2], undefined, 'full']]);
    expect(readdirSync(dir).sort()).toEqual([img(2), `vmconfig.${CP[2]}.xml`, 'vmkeep-manifest.json']);
  });

  it('a copy that does not show the same content: nothing renamed, no checkpoint deleted, the temp removed, the manifest unchanged', async () => {
    const { runner, ctx } = setup();
    expectMergedCopy(runner, 2, img(0), false);
    const before = readFileSync(join(dir, 'vmkeep-manifest.json'), 'utf8');
    await expect(mergePoints(ctx, dir, middle)).rejects.toThrow(/does not show the same content/);
    expect(runner.calls.map((c) => c.argv[0])).toEqual(['rebase', 'compare']);
    expect(readFileSync(join(dir, 'vmkeep-manifest.json'), 'utf8')).toBe(before);
    expect(readFileSync(join(dir, img(2)), 'utf8')).toBe('image 2');
    expect(existsSync(temp(2))).toBe(false);
  });

  it('refuses a plan the manifest no longer matches, before any tool runs', async () => {
    const { runner, ctx } = setup();
    await expect(mergePoints(ctx, dir, { ...middle, newParent: undefined })).rejects.toThrow(/no longer match the plan/);
    expect(runner.calls).toEqual([]);
  });

  it('executeMerges reports a failed merge per chain and goes on', async () => {
    const { runner, ctx } = setup();
    expectMergedCopy(runner, 2, img(0), false);
    const plan = { domains: [{ domain: DOM, lastBackupFailed: false, keep: [], remove: [], merges: [middle] }] } as unknown as PrunePlan;
    const view = (await readChain(DOM, 'c1', dir))!;
    const done = await executeMerges(ctx, plan, new Map([[DOM, [view]]]));
    expect(done.merged).toEqual([]);
    expect(done.failed).toEqual([{ chain: `${DOM}/c1`, error: expect.stringMatching(/^merging vmkeep\.0a0b0c0d\.1 into vmkeep\.0a0b0c0d\.2: /) }]);
  });
});

describe('crash states', () => {
  /** The manifest as step 4 writes it: the merging record, the verified temp in place. */
  async function crashAfterRecord(renamed: boolean): Promise<void> {
    writeFileSync(renamed ? join(dir, img(2)) : temp(2), 'merged 2');
    await writeManifest(dir, {
      ...manifest(),
      merging: {
        dropped: [CP[1]!],
        into: CP[2]!,
        newParent: CP[0],
        files: [{ path: img(2), temp: `.vmkeep-merge.${img(2)}.partial`, size: 8, sha256: sha('merged 2') }],
      },
    });
  }

  it('after the record, before the rename: readers see the old chain; the next prune renames and finishes', async () => {
    await crashAfterRecord(false);
    expect((await readChain(DOM, 'c1', dir))!.points.map((p) => p.checkpoint)).toEqual(CP);
    const { runner, ctx } = setup();
    expect(await finishInterruptedMerges(ctx, dir)).toEqual([`finished merging ${CP[1]} into ${CP[2]}`]);
    expect(runner.calls).toEqual([]);
    const m = (await readManifest(dir))!;
    expect(m.merging).toBeUndefined();
    expect(m.points.map((p) => p.checkpoint)).toEqual([CP[0], CP[2]]);
    expect(readFileSync(join(dir, img(2)), 'utf8')).toBe('merged 2');
    expect(existsSync(join(dir, img(1)))).toBe(false);
  });

  it('after the rename, before the final manifest: readers already see the merged chain (sha256 of the new file); the next prune finishes', async () => {
    await crashAfterRecord(true);
    const view = (await readChain(DOM, 'c1', dir))!;
    expect(view.points.map((p) => p.checkpoint)).toEqual([CP[0], CP[2]]);
    expect(view.manifest!.points[1]!.files[0]!.sha256).toBe(sha('merged 2'));
    const { ctx } = setup();
    expect(await finishInterruptedMerges(ctx, dir)).toEqual([`finished merging ${CP[1]} into ${CP[2]}`]);
    expect((await readManifest(dir))!.points.map((p) => p.parent)).toEqual([undefined, CP[0]]);
    expect(existsSync(join(dir, img(1)))).toBe(false);
  });

  it('within step 6 (some dropped files deleted, the record still there): readers see the merged chain; the next prune finishes', async () => {
    await crashAfterRecord(true);
    rmSync(join(dir, img(1)));
    expect((await readChain(DOM, 'c1', dir))!.points.map((p) => p.checkpoint)).toEqual([CP[0], CP[2]]);
    const { ctx } = setup();
    await finishInterruptedMerges(ctx, dir);
    expect((await readManifest(dir))!.merging).toBeUndefined();
    expect(readdirSync(dir).sort()).toEqual([img(0), img(2), `vmconfig.${CP[0]}.xml`, `vmconfig.${CP[2]}.xml`, 'vmkeep-manifest.json']);
  });

  it('a record whose temp is gone but whose image is not the merged one: refused, nothing changed', async () => {
    await crashAfterRecord(false);
    rmSync(temp(2));
    const { ctx } = setup();
    await expect(finishInterruptedMerges(ctx, dir)).rejects.toThrow(/the merge cannot be finished/);
    expect((await readManifest(dir))!.points).toHaveLength(3);
    expect(existsSync(join(dir, img(1)))).toBe(true);
  });

  it('a temp without a record (crash before step 4): removed; the chain untouched', async () => {
    writeFileSync(temp(2), 'half');
    const { ctx } = setup();
    expect(await finishInterruptedMerges(ctx, dir)).toEqual([`removed .vmkeep-merge.${img(2)}.partial, left by an interrupted merge`]);
    expect((await readManifest(dir))!.points).toHaveLength(3);
    expect(existsSync(temp(2))).toBe(false);
  });
});
