/**
 * A chain of restore points made by real backups, each with a reference copy of the disk taken
 * at that point, and the checks the point-level tests (delete, prune --merge-points) make after
 * changing it: the manifest holds exactly the expected points, and each one restores through
 * `vmkeep restore` (and, when asked, through a reader independent of vmkeep) byte-identically.
 *
 * One domain with one empty disk (`vda`), running; the caller writes the data between backups.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { backupCli, expectDocument, readManifestJson } from './backup-run.js';
import { parseJsonOutput, runVmkeep } from './cli.js';
import { backingOf, engineArgs, pointFile, type Engine } from './engines.js';
import { createTestDomain, imagesIdentical, referenceCopy, writeGuestData, type GuestWrite, type TestDomain } from './libvirt.js';
import { expectPointRestores } from './restore-point.js';

export interface PointChain {
  readonly engine: Engine;
  readonly dom: TestDomain;
  /** The output folder the backups go to. */
  readonly out: string;
  readonly lockDir: string;
  /** The chain folder's name (the last backup's). */
  chain: string;
  /** Reference copy of the disk at point i. */
  readonly refs: string[];
  /** Checkpoint of point i. */
  readonly cps: string[];
}

/** A running domain with one empty disk of `sizeMiB`, backed up into `<its dir>/backups` by `engine`. */
export async function createPointChain(engine: Engine, lockDir: string, sizeMiB = 64): Promise<PointChain> {
  const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB }], start: true });
  return { engine, dom, out: path.join(dom.dir, 'backups'), lockDir, chain: '', refs: [], cps: [] };
}

/** The environment every vmkeep run of the chain's tests gets (its private lock folder). */
export function chainEnv(c: PointChain): Record<string, string> {
  return { VMKEEP_LOCK_DIR: c.lockDir };
}

/** The chain folder in `repo` (default the chain's own output folder). */
export function chainDirOf(c: PointChain, repo = c.out): string {
  return path.join(repo, c.dom.name, c.chain);
}

/**
 * Point i: write `write` into the guest's disk, take a reference copy, back up (extra backup
 * flags after). Point 0 is the chain's full, every later one an incremental.
 */
export async function addPoint(c: PointChain, i: number, write: GuestWrite, extra: readonly string[] = []): Promise<void> {
  await writeGuestData(c.dom, 'vda', write);
  c.refs[i] = path.join(c.dom.dir, `ref${i}.qcow2`);
  await referenceCopy(c.dom, 'vda', c.refs[i]);
  const doc = expectDocument(await backupCli([...engineArgs(c.engine, c.dom, c.out), ...extra], { lockDir: c.lockDir }));
  expect(doc.results[0], doc.results[0]?.reason).toMatchObject({ result: 'done', level: i === 0 ? 'full' : 'inc' });
  c.chain = doc.results[0]!.chain!;
  c.cps[i] = doc.results[0]!.checkpoint!;
}

/** `vmkeep restore --at` point i of `repo` into a fresh folder: the image equals point i's reference. */
export async function expectVmkeepRestores(c: PointChain, i: number, repo = c.out): Promise<void> {
  const to = path.join(c.dom.dir, `restore-${i}-${Date.now()}`);
  const r = await runVmkeep(['restore', '--domain', c.dom.name, '--output', repo, '--at', `${c.chain}/${c.cps[i]}`, '--to', to, '--json'], {
    env: chainEnv(c),
    timeoutMs: 600_000,
  });
  expect(r.code, r.stderr).toBe(0);
  const restored = parseJsonOutput<{ images: Array<{ path: string }> }>(r).images[0]!.path;
  expect(await imagesIdentical(restored, c.refs[i]!), `point ${i} (${c.cps[i]}) restored by vmkeep from ${repo}`).toBe(true);
  fs.rmSync(to, { recursive: true, force: true });
}

export interface ExpectPointsOptions {
  /** The output folder to read (default the chain's own). */
  repo?: string;
  /** The points to restore (default all remaining). */
  restored?: readonly number[];
  /** Also read each restored point without vmkeep (virtnbdrestore, or QEMU through the backing chain). */
  independent?: boolean;
  /** Run `vmkeep verify` (with these extra flags) after the restores; undefined: no verify. */
  verify?: readonly string[];
}

/**
 * The chain holds exactly the points `remaining` (indexes into cps), in order, and each of
 * `restored` restores byte-identically to its reference.
 */
export async function expectPoints(c: PointChain, remaining: readonly number[], options: ExpectPointsOptions = {}): Promise<void> {
  const repo = options.repo ?? c.out;
  const dir = chainDirOf(c, repo);
  expect(readManifestJson(dir).points.map((p) => p.checkpoint)).toEqual(remaining.map((i) => c.cps[i]));
  for (const [k, i] of remaining.entries()) {
    if (!(options.restored ?? remaining).includes(i)) continue;
    await expectVmkeepRestores(c, i, repo);
    if (options.independent) await expectReadWithoutVmkeep(c, dir, i, k === 0 ? undefined : c.cps[remaining[k - 1]!]);
  }
  if (options.verify) {
    const v = await runVmkeep(['verify', '--output', repo, '--domains', c.dom.name, '--json', ...options.verify], { env: chainEnv(c), timeoutMs: 600_000 });
    expect(v.code, v.stdout + v.stderr).toBe(0);
  }
}

/**
 * Point i read without vmkeep. push: QEMU reads its image through the backing chain, whose link
 * is `previous`'s image by a relative name. virtnbdbackup: virtnbdrestore replays the data files
 * virtnbdbackup's own `.cpt` lists up to the point (a thinned chain's names have gaps), each
 * stream's header resting on the one before (test/helpers/restore-point.ts).
 */
async function expectReadWithoutVmkeep(c: PointChain, dir: string, i: number, previous: string | undefined): Promise<void> {
  if (c.engine === 'push') {
    const image = path.join(dir, pointFile('push', 'vda', c.cps[i]!));
    expect(await backingOf(image)).toBe(previous === undefined ? undefined : pointFile('push', 'vda', previous));
    expect(await imagesIdentical(c.refs[i]!, image), `point ${i} read by QEMU through its chain`).toBe(true);
    return;
  }
  await expectPointRestores(dir, c.cps[i]!, c.refs[i]!, { scratchDir: c.dom.dir, fromCpt: true });
}
