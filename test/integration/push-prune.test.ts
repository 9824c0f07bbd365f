/**
 * Point-level prune of a push chain (`vmkeep prune --merge-points`) through the built CLI against
 * the real libvirtd: a running domain, a full and three incrementals with different data written
 * between them (reference copies taken at each point). A protected full keeps the first merge in
 * the middle (two points merged into the newest, which then rests on the full); a second prune
 * after one more backup merges the full itself into its child, which becomes the new full. After
 * each prune every remaining point equals its reference (read through the chain by QEMU, and
 * restored by `vmkeep restore --to`), verify passes, libvirt lost exactly the dropped checkpoints,
 * and the next incremental still works and restores.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, checkpointNames, expectDocument, readManifestJson, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { SETUP_BACKUPS_TIMEOUT_MS, pointFile } from '../helpers/engines.js';
import { createTestDomain, imagesIdentical, referenceCopy, writeGuestData } from '../helpers/libvirt.js';
import {
  addPoint,
  chainDirOf,
  chainEnv,
  createPointChain,
  expectPoints as expectChainPoints,
  expectVmkeepRestores,
  type PointChain,
} from '../helpers/point-chain.js';
import { main } from '../../src/cli/main.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
const lockDir = useLockDirAndCleanup();
let c: PointChain;
let dom: PointChain['dom'];
let out: string;
let chain: string;
let chainDir: string;
let cps: string[];

interface PruneDoc {
  plan: {
    domains: Array<{ merges: Array<{ chain: string; dropped: string[]; into: string; newParent?: string; reasons: string[] }> }>;
    totals: { mergedPoints: number };
  };
  merged?: string[];
  repaired?: string[];
  failed?: unknown[];
}

const env = () => chainEnv(c);

function prune(args: string[]) {
  return runVmkeep(['prune', '--output', out, '--domains', dom.name, '--json', '--merge-points', ...args], { env: env(), timeoutMs: 600_000 });
}

async function backupAndReference(i: number, write: { pattern: number; offset: number; length: number }): Promise<void> {
  await addPoint(c, i, write);
  chain = c.chain;
}

const image = (i: number) => path.join(chainDir, pointFile('push', 'vda', cps[i]!));

/** The remaining points, in order: each one's image (through its backing chain) and a restore equal its reference; verify passes. */
const expectPoints = (remaining: number[]) => expectChainPoints(c, remaining, { independent: true, verify: [] });

beforeAll(async () => {
  c = await createPointChain('push', lockDir, 128);
  ({ dom, out, cps } = c);
  await backupAndReference(0, { pattern: 0x11, offset: 0, length: 8 * MiB });
  await backupAndReference(1, { pattern: 0x22, offset: 4 * MiB, length: 2 * MiB });
  await backupAndReference(2, { pattern: 0x33, offset: 64 * MiB, length: 1 * MiB });
  await backupAndReference(3, { pattern: 0x44, offset: 5 * MiB, length: 1 * MiB });
  chainDir = chainDirOf(c);
}, SETUP_BACKUPS_TIMEOUT_MS);

describe('vmkeep prune --merge-points on a push chain', () => {
  it('a protected full: the middle points merge into the newest, which then rests on the full', async () => {
    const p = await runVmkeep(['protect', `${chain}/${cps[0]}`, '--domain', dom.name, '--output', out], { env: env() });
    expect(p.code, p.stderr).toBe(0);

    const dry = await prune(['--keep-last', '1', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = parseJsonOutput<PruneDoc>(dry).plan;
    expect(plan.domains[0]!.merges).toEqual([
      { chain, dropped: [cps[1], cps[2]], into: cps[3], newParent: cps[0], reasons: [`not selected by any rule: merged into ${cps[3]}`] },
    ]);
    const text = await runVmkeep(['prune', '--output', out, '--domains', dom.name, '--merge-points', '--keep-last', '1', '--dry-run'], { env: env() });
    expect(text.stdout).toContain(`merge ${chain}: ${cps[1]}, ${cps[2]} into ${cps[3]} (which then rests on ${cps[0]})`);
    // The dry run changed nothing.
    expect(readManifestJson(chainDir).points).toHaveLength(4);

    const run = await prune(['--keep-last', '1']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(parseJsonOutput<PruneDoc>(run).merged).toEqual([`${dom.name}/${chain}/${cps[1]}`, `${dom.name}/${chain}/${cps[2]}`]);
    expect(fs.existsSync(image(1))).toBe(false);
    expect(fs.existsSync(image(2))).toBe(false);
    expect(fs.existsSync(path.join(chainDir, `vmconfig.${cps[1]}.xml`))).toBe(false);
    expect(fs.readdirSync(chainDir).filter((f) => f.startsWith('.vmkeep-merge'))).toEqual([]);
    expect(fs.statSync(image(3)).mode & 0o777).toBe(0o600);
    expect(readManifestJson(chainDir).events.at(-1)).toMatchObject({ kind: 'merged' });
    await expectPoints([0, 3]);
    // libvirt lost the dropped checkpoints; the next incremental's is still there.
    expect(await checkpointNames(dom)).toEqual([cps[0], cps[3]]);
  });

  it('the next incremental builds on the merged point; then the full merges into its child, which becomes the full', async () => {
    await backupAndReference(4, { pattern: 0x55, offset: 100 * MiB, length: 2 * MiB });
    expect(cps[4]).toBe(cps[3]!.replace(/\.3$/, '.4'));
    await expectPoints([0, 3, 4]);

    const u = await runVmkeep(['unprotect', `${chain}/${cps[0]}`, '--domain', dom.name, '--output', out], { env: env() });
    expect(u.code, u.stderr).toBe(0);
    // A temp file left by a crashed merge: the next prune removes it and says so.
    fs.writeFileSync(path.join(chainDir, `.vmkeep-merge.vda.${cps[3]}.qcow2.partial`), 'left over');
    // verify names it (and no point breaks over it)...
    const v = await runVmkeep(['verify', '--output', out, '--domains', dom.name, '--json'], { env: env(), timeoutMs: 600_000 });
    const vdoc = parseJsonOutput<{ chains: Array<{ problems: Array<{ kind: string; file?: string }>; brokenPoints: string[] }> }>(v);
    expect(vdoc.chains[0]!.problems).toEqual([expect.objectContaining({ kind: 'leftover', file: `.vmkeep-merge.vda.${cps[3]}.qcow2.partial` })]);
    expect(vdoc.chains[0]!.brokenPoints).toEqual([]);

    const run = await prune(['--keep-last', '2']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const doc = parseJsonOutput<PruneDoc>(run);
    expect(doc.repaired).toEqual([`${dom.name}/${chain}: removed .vmkeep-merge.vda.${cps[3]}.qcow2.partial, left by an interrupted merge`]);
    expect(doc.plan.domains[0]!.merges).toMatchObject([{ dropped: [cps[0]], into: cps[3] }]);
    expect(doc.merged).toEqual([`${dom.name}/${chain}/${cps[0]}`]);
    expect(readManifestJson(chainDir).points.map((p) => p.level)).toEqual(['full', 'inc']);
    await expectPoints([3, 4]);
    expect(await checkpointNames(dom)).toEqual([cps[3], cps[4]]);

    // And one more incremental after that, restorable.
    await backupAndReference(5, { pattern: 0x66, offset: 0, length: 1 * MiB });
    await expectPoints([3, 4, 5]);
  });

  describe('a prune that stops mid-merge (in-process, fault points on the real tools)', () => {
    /** `prune --keep-last 1 --merge-points` of one domain, in-process, failing at fault point `step`. */
    async function pruneInProcessUntil(repo: string, domain: string, step: string): Promise<void> {
      const err: string[] = [];
      const code = await main(['prune', '--output', repo, '--domains', domain, '--keep-last', '1', '--merge-points', '--json'], {
        stdout: () => undefined,
        stderr: (t) => err.push(t),
        env: { ...process.env, VMKEEP_LOCK_DIR: lockDir },
        interactive: false,
        faults: {
          after(s) {
            if (s === step) throw new Error(`fault injected by the test at ${step}`);
          },
        },
      });
      expect(code, err.join('')).not.toBe(0);
    }

    /** A copy of the repository (points 3, 4, 5), pruned in-process with --keep-last 1 until `step`. */
    async function pruneCopyUntil(name: string, step: string): Promise<{ copy: string; dir: string }> {
      const copy = path.join(dom.dir, name);
      await runner.run('cp', ['-a', '--', out, copy]);
      await pruneInProcessUntil(copy, dom.name, step);
      return { copy, dir: path.join(copy, dom.name, chain) };
    }

    async function finishAndCheck(copy: string, dir: string): Promise<void> {
      const again = await runVmkeep(['prune', '--output', copy, '--domains', dom.name, '--keep-last', '1', '--merge-points', '--json'], {
        env: env(),
        timeoutMs: 600_000,
      });
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(parseJsonOutput<PruneDoc>(again).repaired).toEqual([`${dom.name}/${chain}: finished merging ${cps[3]}, ${cps[4]} into ${cps[5]}`]);
      expect(readManifestJson(dir).points.map((p) => [p.checkpoint, p.level])).toEqual([[cps[5], 'full']]);
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.qcow2') || f.startsWith('.vmkeep-merge'))).toEqual([`vda.${cps[5]}.qcow2`]);
      await expectVmkeepRestores(c, 5, copy);
      const v = await runVmkeep(['verify', '--output', copy, '--domains', dom.name, '--json'], { env: env(), timeoutMs: 600_000 });
      expect(v.code, v.stdout).toBe(0);
    }

    it('stopped after the merging record (temps verified, not renamed): every recorded point still restores; the next prune finishes', async () => {
      const { copy, dir } = await pruneCopyUntil('crash-recorded', 'merge-recorded');
      expect(fs.readdirSync(dir).filter((f) => f.startsWith('.vmkeep-merge'))).toEqual([`.vmkeep-merge.vda.${cps[5]}.qcow2.partial`]);
      for (const i of [3, 4, 5]) await expectVmkeepRestores(c, i, copy);
      await finishAndCheck(copy, dir);
    });

    it('two disks, stopped between their renames: restore says why it waits, the next backup finishes the merge, every point restores', async () => {
      const two = await createTestDomain({
        disks: [
          { target: 'vda', sizeMiB: 32 },
          { target: 'vdb', sizeMiB: 32 },
        ],
        start: true,
      });
      const repo = path.join(two.dir, 'backups');
      const refs2: Array<Record<string, string>> = [];
      const points: string[] = [];
      let chain2 = '';
      for (const [i, at] of [0, 4, 8].entries()) {
        for (const disk of ['vda', 'vdb']) await writeGuestData(two, disk, { pattern: 0x60 + i, offset: at * MiB, length: 2 * MiB });
        refs2[i] = {};
        for (const disk of ['vda', 'vdb']) {
          refs2[i][disk] = path.join(two.dir, `ref${i}-${disk}.qcow2`);
          await referenceCopy(two, disk, refs2[i][disk]);
        }
        const doc = expectDocument(await backupCli(['--domains', two.name, '--output', repo, '--json', '--engine', 'push'], { lockDir }));
        chain2 = doc.results[0]!.chain!;
        points.push(doc.results[0]!.checkpoint!);
      }
      const dir = path.join(repo, two.name, chain2);
      await pruneInProcessUntil(repo, two.name, 'merge-renamed-first');
      // One disk's merged image is in place, the other's is still a temp.
      expect(fs.readdirSync(dir).filter((f) => f.startsWith('.vmkeep-merge'))).toHaveLength(1);
      const refused = await runVmkeep(
        ['restore', '--domain', two.name, '--output', repo, '--at', `${chain2}/${points[2]}`, '--to', path.join(two.dir, 'never')],
        { env: env() },
      );
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(
        /interrupted prune left .* half merged into .*nothing is lost: run vmkeep prune --merge-points \(or the next vmkeep backup\)/,
      );

      // The next backup holds the locks: it finishes the merge first, then backs up.
      await writeGuestData(two, 'vda', { pattern: 0x6f, offset: 12 * MiB, length: 1 * MiB });
      const next = expectDocument(await backupCli(['--domains', two.name, '--output', repo, '--json', '--engine', 'push'], { lockDir }));
      expect(next.results[0]!.repairs).toContain(`${chain2}: finished merging ${points[0]}, ${points[1]} into ${points[2]}`);
      expect(readManifestJson(dir).points.map((p) => p.checkpoint)).toEqual([points[2], next.results[0]!.checkpoint]);
      const r = await runVmkeep(
        ['restore', '--domain', two.name, '--output', repo, '--at', `${chain2}/${points[2]}`, '--to', path.join(two.dir, 'restored'), '--json'],
        { env: env(), timeoutMs: 600_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      const images = parseJsonOutput<{ images: Array<{ path: string; target: string }> }>(r).images;
      expect(images.map((x) => x.target).sort()).toEqual(['vda', 'vdb']);
      for (const img of images) expect(await imagesIdentical(img.path, refs2[2]![img.target]!), `${img.target} of the merged point`).toBe(true);
    });

    it('stopped after the rename, before the manifest: readers see the merged chain and it restores; the next prune finishes', async () => {
      const { copy, dir } = await pruneCopyUntil('crash-renamed', 'merge-renamed');
      expect(readManifestJson(dir).points).toHaveLength(3);
      const list = await runVmkeep(['list', '--output', copy, '--domains', dom.name, '--json'], { env: env() });
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toContain(cps[5]);
      expect(list.stdout).not.toContain(cps[3]);
      expect(list.stdout).not.toContain(cps[4]);
      await expectVmkeepRestores(c, 5, copy);
      await finishAndCheck(copy, dir);
    });
  });
});
