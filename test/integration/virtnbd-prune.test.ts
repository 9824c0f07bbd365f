/**
 * Point-level prune of a virtnbdbackup chain (`vmkeep prune --merge-points`) through the built CLI
 * against the real libvirtd, QEMU and virtnbdbackup: a running domain, a full and six
 * incrementals with overlapping data written between them (reference copies taken at each
 * point), the first three plain, the last three lz4-compressed. An inner point is protected and
 * `--keep-last 2` keeps the newest two: two merges (two incrementals into the protected one, one
 * compressed incremental into the next), first predicted by `prune --simulate` from the recorded
 * chain (which must change no file) and then made by the real prune, exactly as predicted. Every remaining point then restores byte-identically
 * through `vmkeep restore` and through `virtnbdrestore` reading the chain folder itself (its
 * sequence from virtnbdbackup's `.cpt`), libvirt lost exactly the dropped checkpoints, the next
 * incremental works and restores. Then a merge killed with SIGKILL at each of its steps (fault
 * points, in a child process) on copies of the repository: each recorded point still restores
 * and the next prune finishes the merge. And a data file changed after its backup: the merge is
 * refused naming it, exit 64, nothing changed.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, checkpointNames, readManifestJson, snapshotTree, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { SETUP_BACKUPS_TIMEOUT_MS } from '../helpers/engines.js';
import { addPoint, chainDirOf, chainEnv, createPointChain, expectPoints, expectVmkeepRestores, type PointChain } from '../helpers/point-chain.js';
import type { GuestWrite } from '../helpers/libvirt.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
const DIST = fileURLToPath(new URL('../../dist/vmkeep.js', import.meta.url));
const lockDir = useLockDirAndCleanup();
let c: PointChain;
let chainDir: string;
let dom: PointChain['dom'];
let out: string;
let cps: string[];
let chain: string;

interface PruneDoc {
  plan: { domains: Array<{ merges: Array<{ chain: string; dropped: string[]; into: string; newParent?: string; reasons: string[] }> }> };
  merged?: string[];
  repaired?: string[];
}

interface SimulationDoc {
  from: string;
  engine: string;
  runs: number;
  backups: number;
  merges: Array<{ time: string; chain: string; dropped: string[]; into: string; newParent?: string }>;
  surviving: Array<{ chain: string; point: string }>;
}

const env = () => chainEnv(c);

async function backupAndReference(i: number, write: GuestWrite, compress: boolean): Promise<void> {
  await addPoint(c, i, write, compress ? ['--compress'] : []);
  chain = c.chain;
}

/**
 * The remaining points, in order: the manifest, the .cpt and the checkpoint files agree; each
 * point of `restored` (default: all) restores through vmkeep and virtnbdrestore; verify --deep passes.
 */
async function expectThinnedPoints(repo: string, dir: string, remaining: number[], restored: number[] = remaining): Promise<void> {
  const names = remaining.map((i) => cps[i]!);
  expect(JSON.parse(fs.readFileSync(path.join(dir, `${dom.name}.cpt`), 'utf8'))).toEqual(names);
  expect(fs.readdirSync(path.join(dir, 'checkpoints')).sort()).toEqual(names.map((n) => `${n}.xml`).sort());
  for (const [k, i] of remaining.entries()) {
    if (k > 0)
      expect(fs.readFileSync(path.join(dir, 'checkpoints', `${cps[i]}.xml`), 'utf8')).toMatch(
        new RegExp(`<parent>\\s*<name>${names[k - 1]!.replace('.', '\\.')}</name>`),
      );
  }
  await expectPoints(c, remaining, { repo, restored, independent: true, verify: ['--deep'] });
}

beforeAll(async () => {
  c = await createPointChain('virtnbdbackup', lockDir);
  ({ dom, out, cps } = c);
  await backupAndReference(0, { pattern: 0x11, offset: 0, length: 8 * MiB }, false);
  await backupAndReference(1, { pattern: 0x22, offset: 4 * MiB, length: 2 * MiB }, false);
  // Over the second half of point 1's extent and past it: point 1's frame is cut.
  await backupAndReference(2, { pattern: 0x33, offset: 5 * MiB, length: 2 * MiB }, false);
  await backupAndReference(3, { pattern: 0x44, offset: 20 * MiB, length: 1 * MiB }, false);
  await backupAndReference(4, { pattern: 0x55, offset: 30 * MiB, length: 3 * MiB }, true);
  // Inside point 4's extent: its compressed frame is cut in three.
  await backupAndReference(5, { pattern: 0x66, offset: 31 * MiB, length: 1 * MiB }, true);
  await backupAndReference(6, { pattern: 0x77, offset: 40 * MiB, length: 1 * MiB }, true);
  chainDir = chainDirOf(c);
}, SETUP_BACKUPS_TIMEOUT_MS + 300_000);

describe('vmkeep prune --merge-points on a virtnbdbackup chain', () => {
  it('a protected inner point and --keep-last 2: the other incrementals merge into their child; every remaining point restores through vmkeep and virtnbdrestore', async () => {
    const p = await runVmkeep(['protect', `${chain}/${cps[3]}`, '--domain', dom.name, '--output', out], { env: env() });
    expect(p.code, p.stderr).toBe(0);
    const args = ['prune', '--output', out, '--domains', dom.name, '--merge-points', '--keep-last', '2', '--json'];
    const dry = await runVmkeep([...args, '--dry-run'], { env: env() });
    expect(dry.code, dry.stderr).toBe(0);
    expect(parseJsonOutput<PruneDoc>(dry).plan.domains[0]!.merges).toMatchObject([
      { chain, dropped: [cps[1], cps[2]], into: cps[3], newParent: cps[0] },
      { chain, dropped: [cps[4]], into: cps[5], newParent: cps[3] },
    ]);
    expect(readManifestJson(chainDir).points).toHaveLength(7);

    // --simulate from the recorded chain, one run: its prediction, and not one file changed.
    const before = snapshotTree(out);
    const sim = await runVmkeep([...args, '--simulate', '1d:1d'], { env: env() });
    expect(sim.code, sim.stderr).toBe(0);
    const predicted = parseJsonOutput<SimulationDoc>(sim);
    expect(snapshotTree(out)).toEqual(before);
    expect(predicted).toMatchObject({ from: dom.name, engine: 'virtnbdbackup', runs: 1, backups: 0 });

    const run = await runVmkeep(args, { env: env(), timeoutMs: 600_000 });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const done = parseJsonOutput<PruneDoc>(run);
    expect(done.merged).toEqual([1, 2, 4].map((i) => `${dom.name}/${chain}/${cps[i]}`));
    // What simulate predicted is what prune did: the same merges, and the points that remain.
    expect(predicted.merges.map(({ time: _t, ...m }) => m)).toEqual(done.plan.domains[0]!.merges.map(({ reasons: _r, ...m }) => m));
    expect(predicted.merges.flatMap((m) => m.dropped.map((p) => `${dom.name}/${m.chain}/${p}`))).toEqual(done.merged);
    expect(predicted.surviving.map((p) => `${p.chain}/${p.point}`)).toEqual(readManifestJson(chainDir).points.map((p) => `${chain}/${p.checkpoint}`));
    for (const i of [1, 2, 4]) {
      expect(fs.existsSync(path.join(chainDir, `vda.inc.${cps[i]}.data`))).toBe(false);
      expect(fs.existsSync(path.join(chainDir, `vmconfig.${cps[i]}.xml`))).toBe(false);
    }
    expect(fs.readdirSync(chainDir).filter((f) => f.startsWith('.vmkeep-merge'))).toEqual([]);
    expect(await checkpointNames(dom)).toEqual([0, 3, 5, 6].map((i) => cps[i]));
    await expectThinnedPoints(out, chainDir, [0, 3, 5, 6]);
  });

  it('the next incrementals build on the thinned chain and restore both ways; none reuses a name the chain holds', async () => {
    await backupAndReference(7, { pattern: 0x88, offset: 31 * MiB + 512 * 1024, length: 1 * MiB }, true);
    // virtnbdbackup numbers a checkpoint by the length of the .cpt list: four names, so .4 (free since its merge)...
    expect(cps[7]).toBe(cps[4]);
    // ...and then .5 would be taken: vmkeep makes it count past the names in use.
    await backupAndReference(8, { pattern: 0x99, offset: 2 * MiB, length: 1 * MiB }, false);
    expect(new Set(cps.slice(5)).size).toBe(4);
    expect(await checkpointNames(dom)).toEqual([0, 3, 5, 6, 7, 8].map((i) => cps[i]));
    // The points before were restored after the merge: the two new ones here.
    await expectThinnedPoints(out, chainDir, [0, 3, 5, 6, 7, 8], [7, 8]);
  });

  it('a data file changed since its backup: the merge is refused naming it, exit 64, nothing changed', async () => {
    const copy = path.join(dom.dir, 'tampered');
    await runner.run('cp', ['-a', '--', out, copy]);
    const dir = path.join(copy, dom.name, chain);
    const victim = path.join(dir, `vda.inc.${cps[5]}.data`);
    const bytes = fs.readFileSync(victim);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
    fs.writeFileSync(victim, bytes);
    const before = snapshotTree(dir);
    const r = await runVmkeep(['prune', '--output', copy, '--domains', dom.name, '--merge-points', '--keep-last', '1'], { env: env(), timeoutMs: 600_000 });
    expect(r.code).toBe(64);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${chain}/vda.inc.${cps[5]}.data does not match its recorded checksum`);
    expect(snapshotTree(dir)).toEqual(before);
    fs.rmSync(copy, { recursive: true, force: true });
  });

  describe('a merge killed with SIGKILL at each step (fault points, child process), then the next prune', () => {
    /** `prune --keep-last 1 --merge-points` in a child process that kills itself with SIGKILL at fault point `step`. */
    function pruneKilledAt(repo: string, step: string): Promise<{ signal: string | null; stderr: string }> {
      const script = [
        `const { main } = await import(${JSON.stringify(DIST)});`,
        `const step = process.argv[1];`,
        `const code = await main(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t), env: process.env, interactive: false,`,
        `  faults: { after(s) { if (s === step) process.kill(process.pid, 'SIGKILL'); } } });`,
        `process.exitCode = code;`,
      ].join('\n');
      const argv = ['prune', '--output', repo, '--domains', dom.name, '--keep-last', '1', '--merge-points', '--json'];
      return new Promise((resolve) => {
        execFile(
          process.execPath,
          ['--input-type=module', '-e', script, step, ...argv],
          { env: { ...process.env, ...env() }, timeout: 600_000 },
          (error, _o, stderr) => resolve({ signal: (error as { signal?: string } | null)?.signal ?? null, stderr: String(stderr) }),
        );
      });
    }

    beforeAll(async () => {
      const u = await runVmkeep(['unprotect', `${chain}/${cps[3]}`, '--domain', dom.name, '--output', out], { env: env() });
      expect(u.code, u.stderr).toBe(0);
    });

    for (const step of ['merge-verified', 'merge-recorded', 'merge-renamed']) {
      it(`killed at ${step}: every recorded point restores, the next prune finishes (or redoes) the merge`, async () => {
        const copy = path.join(dom.dir, `killed-${step}`);
        await runner.run('cp', ['-a', '--', out, copy]);
        const dir = path.join(copy, dom.name, chain);
        const killed = await pruneKilledAt(copy, step);
        expect(killed.signal, killed.stderr).toBe('SIGKILL');
        // Readers see the old chain until every temp is renamed, then the merged one; the
        // merge's child restores from either (the points before it were checked above).
        const temps = fs.readdirSync(dir).filter((f) => f.startsWith('.vmkeep-merge'));
        expect(temps.length > 0, `temps after ${step}: ${temps.join(', ')}`).toBe(step !== 'merge-renamed');
        const list = await runVmkeep(['list', '--output', copy, '--domains', dom.name, '--json'], { env: env() });
        expect(list.code, list.stderr).toBe(0);
        expect(list.stdout.includes(`${chain}/${cps[5]}`), `after ${step}, list shows the old chain`).toBe(step !== 'merge-renamed');
        await expectVmkeepRestores(c, 8, copy);

        const again = await runVmkeep(['prune', '--output', copy, '--domains', dom.name, '--keep-last', '1', '--merge-points', '--json'], {
          env: env(),
          timeoutMs: 600_000,
        });
        expect(again.code, again.stdout + again.stderr).toBe(0);
        const doc = parseJsonOutput<PruneDoc>(again);
        if (step === 'merge-verified') expect(doc.repaired!.join('\n')).toMatch(/left by an interrupted merge/);
        else expect(doc.repaired).toContain(`${dom.name}/${chain}: finished merging ${cps[3]}, ${cps[5]}, ${cps[6]}, ${cps[7]} into ${cps[8]}`);
        expect(fs.readdirSync(dir).filter((f) => f.startsWith('.vmkeep-merge'))).toEqual([]);
        await expectThinnedPoints(copy, dir, [0, 8], [8]);
        fs.rmSync(copy, { recursive: true, force: true });
      });
    }
  });
});
