/**
 * `vmkeep verify` through the built CLI (run `npm run build` first) on a real chain of each engine
 * made by `vmkeep backup` (a full and two incrementals with different guest data), then on copies
 * of the backup folder damaged the ways disks and copies damage files. Both engines: a sound chain
 * passes (also --deep, saying where its time went), one flipped byte is named with the points it breaks and restore refuses
 * it. virtnbdbackup's streams: a truncated and a missing file. push's qcow2 chain: a backing link
 * made absolute, an image no finished run recorded. Every --json output is parsed with JSON.parse.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { runVmkeep, type CliRun } from '../helpers/cli.js';
import { SETUP_BACKUPS_TIMEOUT_MS, describeEngines, engineArgs, pointFile, type Engine } from '../helpers/engines.js';
import { cleanupAll, createTestDomain, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
const lockDir = makeLockDir();

afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

/** The built CLI; VMKEEP_TEST_BIN may name another entry script (a private build). */
function vmkeep(args: string[]): Promise<CliRun> {
  const bin = process.env['VMKEEP_TEST_BIN'];
  return runVmkeep(args, { env: { VMKEEP_LOCK_DIR: lockDir }, timeoutMs: 600_000, ...(bin ? { bin } : {}) });
}

/** Run with --json and parse stdout, or stderr's error object when stdout is empty. */
async function vmkeepJson<T>(args: string[]): Promise<{ code: number; doc: T; stdout: string; stderr: string }> {
  const r = await vmkeep([...args, '--json']);
  const text = r.stdout.trim() !== '' ? r.stdout : r.stderr.trim().split('\n').at(-1)!;
  try {
    return { code: r.code, doc: JSON.parse(text) as T, stdout: r.stdout, stderr: r.stderr };
  } catch {
    throw new Error(`vmkeep ${args.join(' ')} exited ${r.code} without JSON:\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

interface VerifyDoc {
  deep: boolean;
  chains: Array<{
    domain: string;
    chain: string;
    result: 'ok' | 'failed';
    problems: Array<{ kind: string; file?: string; checkpoint?: string; message: string }>;
    brokenPoints: string[];
    deep: { points: Array<{ checkpoint: string; result: string; images: Array<{ disk: string; corruptions: number }> }> } | null;
    recorded: boolean;
    phases: Array<{ name: string; ms: number }>;
  }>;
  failures: unknown[];
  phases: Array<{ name: string; ms: number }>;
}

/** Flip one byte of `file` at `at`. */
function flipByte(file: string, at: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    fs.writeSync(fd, Buffer.from([b[0]! ^ 0xff]), 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Where one flipped byte lands in guest data while the file's structure stays valid: the middle
 * of a virtnbdbackup stream (inside its data payload); near the end of a push image (qcow2 puts
 * its header and tables first).
 */
function dataOffset(engine: Engine, file: string): number {
  const size = fs.statSync(file).size;
  return engine === 'push' ? size - 4096 : Math.floor(size / 2);
}

describeEngines('vmkeep verify against a real %s chain', (engine: Engine) => {
  let domain: TestDomain;
  let clean: string;
  let chain: string;
  const cps: string[] = [];

  const ids = (...n: number[]) => n.map((i) => `${chain}/${cps[i]}`);
  const file = (i: number) => pointFile(engine, 'vda', cps[i]!);

  function manifestOf(output: string): {
    lastVerify?: { result: string; deep: boolean; problems: string[]; time: string; phases?: Array<{ name: string; ms: number }> };
  } {
    return JSON.parse(fs.readFileSync(path.join(output, domain.name, chain, 'vmkeep-manifest.json'), 'utf8')) as never;
  }

  /** A damaged copy (cp -a) of the clean backup folder. */
  async function copyOf(name: string, damage: (chainDir: string) => Promise<void> | void): Promise<string> {
    const out = path.join(domain.dir, name);
    await runner.run('cp', ['-a', '--', clean, out]);
    await damage(path.join(out, domain.name, chain));
    return out;
  }

  beforeAll(async () => {
    domain = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] });
    clean = path.join(domain.dir, 'clean');
    const writes = [
      { pattern: 0x11, offset: 0, length: 4 * MiB },
      { pattern: 0x22, offset: 8 * MiB, length: 2 * MiB },
      { pattern: 0x33, offset: 20 * MiB, length: 1 * MiB },
    ];
    for (const [i, w] of writes.entries()) {
      await writeGuestData(domain, 'vda', w);
      const doc = expectDocument(await backupCli(engineArgs(engine, domain, clean), { lockDir }));
      expect(doc.results[0]).toMatchObject({ result: 'done', level: i === 0 ? 'full' : 'inc' });
      chain = doc.results[0]!.chain!;
      cps.push(doc.results[0]!.checkpoint!);
    }
  }, SETUP_BACKUPS_TIMEOUT_MS);

  it('a clean repository exits 0 and records the result in the manifest', async () => {
    const r = await vmkeepJson<VerifyDoc>(['verify', '--output', clean]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.doc.chains).toHaveLength(1);
    expect(r.doc.chains[0]).toMatchObject({ chain, result: 'ok', problems: [], brokenPoints: [], recorded: true });
    expect(manifestOf(clean).lastVerify).toMatchObject({ result: 'ok', deep: false, problems: [] });
  });

  // virtnbdbackup: the newest point (the default); push: every point, each flattened and
  // compared with a second read of the chain.
  const deepArgs = engine === 'push' ? ['--deep', '--all-points'] : ['--deep'];
  it(`${deepArgs.join(' ')} restores the points, qemu-img checks them, and passes; --json and --verbose say where the time went`, async () => {
    const scratch = path.join(domain.dir, 'scratch');
    const started = performance.now();
    const r = await vmkeepJson<VerifyDoc>(['verify', '--output', clean, ...deepArgs, '--scratch-dir', scratch, '--verbose']);
    const wallMs = performance.now() - started;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const deep = r.doc.chains[0]!.deep!;
    const checked = engine === 'push' ? cps : [cps[2]!];
    expect(deep.points.map((p) => [p.checkpoint, p.result])).toEqual(checked.map((c) => [c, 'ok']));
    for (const p of deep.points) expect(p.images).toEqual([expect.objectContaining({ disk: 'vda', corruptions: 0 })]);
    expect(manifestOf(clean).lastVerify).toMatchObject({ result: 'ok', deep: true });
    // The scratch images are gone again.
    expect(fs.readdirSync(scratch)).toEqual([]);

    // Where the time went: the run's own phases (the lock, reading the chains), each chain's
    // (checking its files, the deep restore, its manifest), whole ms, together within the run.
    expect(r.doc.phases.map((p) => p.name)).toEqual(expect.arrayContaining(['lock', 'read']));
    const chainPhases = r.doc.chains[0]!.phases;
    expect(chainPhases.map((p) => p.name).sort()).toEqual(['check', 'manifest', 'restore']);
    for (const p of [...r.doc.phases, ...chainPhases]) expect(Number.isInteger(p.ms) && p.ms >= 0, `${p.name}: ${p.ms}`).toBe(true);
    expect([...r.doc.phases, ...chainPhases].reduce((n, p) => n + p.ms, 0)).toBeLessThanOrEqual(wallMs);
    expect(chainPhases.find((p) => p.name === 'restore')!.ms).toBeGreaterThan(0);
    // The chain's manifest keeps them with its verify result; --verbose says them in one line.
    expect(manifestOf(clean).lastVerify!.phases!.map((p) => p.name)).toEqual(expect.arrayContaining(['check', 'restore']));
    expect(r.stderr).toMatch(new RegExp(`^debug: ${domain.name}: ${chain}: time went to (\\w[\\w/ ]* \\d+(\\.\\d+)? m?s(, )?)+$`, 'm'));
    expect(r.stderr).toMatch(new RegExp(`^debug: ${domain.name}: ${chain}: time went to .*restoring \\d`, 'm'));
  });

  it('one flipped byte in the middle point: non-zero exit, the file named, points from it onward broken; restore refuses it (virtnbdbackup)', async () => {
    const out = await copyOf('flipped', (dir) => {
      const p = path.join(dir, file(1));
      flipByte(p, dataOffset(engine, p));
    });
    const r = await vmkeepJson<VerifyDoc>(['verify', '--output', out]);
    expect(r.code).not.toBe(0);
    const c = r.doc.chains[0]!;
    expect(c.result).toBe('failed');
    expect(c.problems).toEqual([expect.objectContaining({ kind: 'checksum', file: file(1), checkpoint: cps[1] })]);
    expect(c.brokenPoints).toEqual(ids(1, 2));
    expect(manifestOf(out).lastVerify).toMatchObject({ result: 'failed' });
    const text = await vmkeep(['verify', '--output', out]);
    expect(text.stdout).toContain(file(1));
    expect(text.stdout).toContain(`restore points broken: ${ids(1, 2).join(', ')}`);

    // restore checks the same files first: exit 2 naming the file, nothing written. (push: restore's
    // tampered-image case in restore.test.ts refuses a flipped byte the same way.)
    if (engine === 'virtnbdbackup') {
      const to = path.join(domain.dir, 'restore-flipped');
      const rr = await vmkeepJson<{ error: { code: string; message: string } }>([
        'restore',
        '--domain',
        domain.name,
        '--output',
        out,
        '--at',
        ids(2)[0]!,
        '--to',
        to,
      ]);
      expect(rr.code).toBe(2);
      expect(rr.doc.error.message).toContain(file(1));
      expect(fs.existsSync(to)).toBe(false);
      // A point before the damage still restores.
      const ok = await vmkeepJson<{ images: unknown[] }>(['restore', '--domain', domain.name, '--output', out, '--at', ids(0)[0]!, '--to', to]);
      expect(ok.code, ok.stderr).toBe(0);
    }
  });

  if (engine === 'virtnbdbackup') {
    it('a truncated incremental: named, with the points from it onward', async () => {
      const out = await copyOf('truncated', (dir) => {
        const p = path.join(dir, file(1));
        fs.truncateSync(p, fs.statSync(p).size - 4096);
      });
      const r = await vmkeepJson<VerifyDoc>(['verify', '--output', out]);
      expect(r.code).not.toBe(0);
      const c = r.doc.chains[0]!;
      const kinds = new Set(c.problems.filter((p) => p.file === file(1)).map((p) => p.kind));
      expect([...kinds].sort()).toEqual(['checksum', 'size', 'stream']);
      expect(c.problems.every((p) => p.file === file(1))).toBe(true);
      expect(c.brokenPoints).toEqual(ids(1, 2));
    });

    it('a missing incremental: named, with the points from it onward; a missing full breaks the whole chain', async () => {
      const out = await copyOf('missing', (dir) => fs.rmSync(path.join(dir, file(2))));
      const r = await vmkeepJson<VerifyDoc>(['verify', '--output', out]);
      expect(r.code).not.toBe(0);
      expect(r.doc.chains[0]!.problems).toEqual([
        expect.objectContaining({ kind: 'missing', file: 'vda.inc.virtnbdbackup.2.data', checkpoint: 'virtnbdbackup.2' }),
      ]);
      expect(r.doc.chains[0]!.brokenPoints).toEqual(ids(2));

      const noFull = await copyOf('missing-full', (dir) => fs.rmSync(path.join(dir, 'vda.full.data')));
      const f = await vmkeepJson<VerifyDoc>(['verify', '--output', noFull]);
      expect(f.code).not.toBe(0);
      expect(f.doc.chains[0]!.brokenPoints).toEqual(ids(0, 1, 2));
    });
  }

  if (engine === 'push') {
    it('a backing link made absolute (the image itself unchanged in content) is a link problem', async () => {
      const copy = await copyOf('absolute', async (dir) => {
        await runner.run('qemu-img', ['rebase', '-u', '-F', 'qcow2', '-b', path.join(dir, file(0)), path.join(dir, file(1))]);
      });
      const c = (await vmkeepJson<VerifyDoc>(['verify', '--output', copy])).doc.chains[0]!;
      expect(c.result).toBe('failed');
      expect(c.problems).toContainEqual(
        expect.objectContaining({ kind: 'link', file: file(1), message: expect.stringMatching(/a path, not a name inside the chain folder/) }),
      );
      expect(c.brokenPoints).toEqual(ids(1, 2));
    });

    it('a missing image is one problem, missing: what qemu-img (run beside the checksums) says of it is not a second', async () => {
      const copy = await copyOf('missing-image', (dir) => fs.rmSync(path.join(dir, file(2))));
      const r = await vmkeepJson<VerifyDoc>(['verify', '--output', copy]);
      expect(r.code).not.toBe(0);
      expect(r.doc.chains[0]!.problems).toEqual([expect.objectContaining({ kind: 'missing', file: file(2), checkpoint: cps[2] })]);
      expect(r.doc.chains[0]!.brokenPoints).toEqual(ids(2));
    });

    it('an image no finished run recorded is reported, and breaks no point', async () => {
      const stray = `vda.${cps[2]!.replace(/\.2$/, '.3')}.qcow2`;
      const copy = await copyOf('stray', async (dir) => {
        await runner.run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', file(2), path.join(dir, stray)]);
      });
      const c = (await vmkeepJson<VerifyDoc>(['verify', '--output', copy])).doc.chains[0]!;
      expect(c.problems).toEqual([expect.objectContaining({ kind: 'unrecorded', file: stray })]);
      expect(c.brokenPoints).toEqual([]);
    });
  }
});
