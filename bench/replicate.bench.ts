/**
 * Replication to restic against a plain copy. A real domain (real libvirt, QEMU, virtnbdbackup)
 * gets random data written through its own block device, then a full and 5 incrementals with
 * `vmkeep backup --engine virtnbdbackup` (stream files: each point's data file is what the
 * snapshot adds); the chain goes into a local restic repository with `vmkeep replicate` (one
 * snapshot per point, each holding every file its point needs) and, for comparison, to a local
 * folder with `rsync -a`. Reported: bytes the repository stores against the chain folder's bytes
 * (and against the bytes of all six snapshots together), and the times.
 *
 * Random data on purpose: a repeated byte pattern would compress to nothing and make any ratio
 * meaningless. So the figure shows dedup across snapshots, not compression.
 *
 * Call: `const rows = await runReplicateBench()` (needs `npm run build` and the test host set up).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createExecaRunner } from '../src/runner/runner.js';
import { ResticClient } from '../src/restic/index.js';
import type { BenchRow } from './row.js';
import { BIN } from './lib.js';
import { cleanupAll, createTestDomain, defaultDiskAlias, flushGuestDisk, type TestDomain } from '../test/helpers/libvirt.js';

const MiB = 1024 * 1024;
const runner = createExecaRunner();

/** Write `mib` MiB of fresh random bytes at `offset` through the guest's virtio device (tracked by the dirty bitmaps). */
async function writeRandom(dom: TestDomain, offset: number, mib: number): Promise<void> {
  for (let i = 0; i < mib; i += 8) {
    const chunk = Math.min(8, mib - i);
    const src = path.join(dom.dir, 'random.bin');
    fs.writeFileSync(src, randomBytes(chunk * MiB), { mode: 0o644 });
    const cmd = `qemu-io -d /machine/peripheral/${defaultDiskAlias('vda')}/virtio-backend "write -s ${src} ${offset + i * MiB} ${chunk * MiB}"`;
    await runner.run('virsh', ['-c', 'qemu:///system', 'qemu-monitor-command', dom.uuid, '--hmp', cmd]);
  }
  await flushGuestDisk(dom, 'vda');
}

function folderBytes(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? folderBytes(p) : fs.statSync(p).size;
  }
  return n;
}

/** The built CLI. */
async function cli(args: string[], env: Record<string, string>): Promise<unknown> {
  const r = await runner.run(process.execPath, [BIN, ...args, '--json'], { env, timeoutMs: 600_000 });
  return JSON.parse(r.stdout) as unknown;
}

const mb = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

/** A full of 64 MiB and 5 incrementals of 8 MiB; --quick: 16 MiB and 2 of 2 MiB. */
export async function runReplicateBench(opts: { quick: boolean } = { quick: false }): Promise<BenchRow[]> {
  const { FULL_MIB, INC_MIB, INCS } = opts.quick ? { FULL_MIB: 16, INC_MIB: 2, INCS: 2 } : { FULL_MIB: 64, INC_MIB: 8, INCS: 5 };
  const work = fs.mkdtempSync('/var/tmp/vmkeep-bench-replicate-');
  const env = { VMKEEP_LOCK_DIR: path.join(work, 'locks') };
  try {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 256 }], start: true });
    const out = path.join(work, 'backups');
    await writeRandom(dom, 0, FULL_MIB);
    await cli(['backup', '--engine', 'virtnbdbackup', '--domains', dom.name, '--output', out], env);
    for (let i = 1; i <= INCS; i += 1) {
      await writeRandom(dom, (FULL_MIB + (i - 1) * INC_MIB) * MiB, INC_MIB);
      await cli(['backup', '--engine', 'virtnbdbackup', '--domains', dom.name, '--output', out], env);
    }
    const [chain] = fs.readdirSync(path.join(out, dom.name));
    const chainDir = path.join(out, dom.name, chain!);
    const chainBytes = folderBytes(chainDir);
    const dataFiles = fs
      .readdirSync(chainDir)
      .filter((f) => f.endsWith('.data'))
      .sort((a, b) => (a.includes('.full.') ? -1 : b.includes('.full.') ? 1 : a.localeCompare(b, 'en', { numeric: true })));
    // Each point's snapshot holds the full and every incremental up to it.
    const sizes = dataFiles.map((f) => fs.statSync(path.join(chainDir, f)).size);
    const logicalBytes = sizes.reduce((sum, _, i) => sum + sizes.slice(0, i + 1).reduce((a, b) => a + b, 0), 0);

    const pw = path.join(work, 'pw');
    fs.writeFileSync(pw, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
    const repo = path.join(work, 'repo');
    const t0 = performance.now();
    await cli(['replicate', '--output', out, '--to', repo, '--init', '--password-file', pw], env);
    const replicateMs = performance.now() - t0;
    const t1 = performance.now();
    const second = (await cli(['replicate', '--output', out, '--to', repo, '--password-file', pw], env)) as { sent: unknown[] };
    const secondMs = performance.now() - t1;
    const stored = await new ResticClient(runner, { repository: repo, passwordFile: pw }).storedBytes();

    const target = path.join(work, 'rsync-target');
    const t2 = performance.now();
    await runner.run('rsync', ['-a', `${chainDir}/`, `${target}/`], { timeoutMs: 600_000 });
    const rsyncMs = performance.now() - t2;

    const ratio = stored / chainBytes;
    return [
      {
        name: `replicate: full (${FULL_MIB} MiB random) + ${INCS} incrementals (${INC_MIB} MiB each), bytes stored vs chain folder`,
        measured: `${mb(stored)} stored / ${mb(chainBytes)} folder = ${ratio.toFixed(3)}; ${INCS + 1} snapshots hold ${mb(logicalBytes)} of data (dedup ${(logicalBytes / stored).toFixed(1)}x)`,
        target: 'stored <= 1.05 x folder (each snapshot repeats the full, stored once)',
        met: ratio <= 1.05,
        source: 'real libvirt',
      },
      {
        name: `replicate: time of the first run (${INCS + 1} snapshots) vs rsync -a of the chain folder to a local folder`,
        measured: `${(replicateMs / 1000).toFixed(1)} s vs ${(rsyncMs / 1000).toFixed(2)} s`,
        target: 'informational (restic hashes, chunks and encrypts; rsync copies)',
        met: undefined,
        source: 'real libvirt',
      },
      {
        name: 'replicate: second run, nothing new',
        measured: `${(secondMs / 1000).toFixed(1)} s, ${second.sent.length} snapshots sent`,
        target: 'nothing sent, under 10 s',
        met: second.sent.length === 0 && secondMs < 10_000,
        source: 'real libvirt',
      },
    ];
  } finally {
    await cleanupAll();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// `node dist-bench/bench/replicate.bench.js` prints the rows (the lead wires it into bench/run.ts).
if (process.argv[1]?.endsWith('replicate.bench.js')) {
  runReplicateBench().then(
    (rows) => console.log(JSON.stringify(rows, null, 2)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
