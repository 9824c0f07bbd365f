/**
 * The push engine against bare virtnbdbackup, on real libvirt, on the same domain: a 1 GiB disk
 * holding 512 MiB of data (full) and a 10 MiB incremental. Rounds are interleaved (the engine
 * that goes first alternates) and every timed run starts from a domain without checkpoints, so
 * neither engine pays for the other's leftovers. Figures are medians over the rounds.
 *
 * Timed: the real CLI as cron runs it (`node bin/vmkeep backup --engine push ...`: Node start-up,
 * locks, inspection, the job, sha256 of every new file, manifest) against `virtnbdbackup` run
 * by hand; and the engine alone (the run's durationMs: from the start of the job to its end,
 * files ready) against the same virtnbdbackup figure.
 *
 * Needs the built CLI (npm run build) and a running libvirtd; it creates one `vmkeep-test-*`
 * domain through test/helpers/libvirt.ts and removes it afterwards.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createExecaRunner } from '../src/runner/runner.js';
import { cleanupAll, createTestDomain, virsh, writeGuestData, type TestDomain } from '../test/helpers/libvirt.js';
import type { BenchRow } from './row.js';

type EngineBenchRow = BenchRow;

const MiB = 1024 * 1024;
const runner = createExecaRunner();
/** bin/vmkeep of this checkout (from dist-bench/bench/ or from bench/). */
const VMKEEP_BIN = fileURLToPath(new URL(import.meta.url.includes('/dist-bench/') ? '../../bin/vmkeep' : '../bin/vmkeep', import.meta.url));

interface Timing {
  wallMs: number;
  /** The engine alone (vmkeep's durationMs); the wall time for virtnbdbackup. */
  engineMs: number;
  dataBytes?: number;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function removeCheckpoints(dom: TestDomain): Promise<void> {
  const names = (await virsh(['checkpoint-list', dom.uuid, '--name', '--topological']))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  for (const n of names.reverse()) await virsh(['checkpoint-delete', dom.uuid, n]);
}

async function timeVmkeepPush(dom: TestDomain, output: string, lockDir: string): Promise<Timing> {
  const t0 = performance.now();
  const { stdout } = await runner.run(process.execPath, [VMKEEP_BIN, 'backup', '--engine', 'push', '--domains', dom.name, '--output', output, '--json'], {
    env: { VMKEEP_LOCK_DIR: lockDir },
    timeoutMs: 600_000,
  });
  const wallMs = performance.now() - t0;
  const r = (JSON.parse(stdout) as { results: Array<{ result: string; durationMs: number; dataBytes: number; reason?: string }> }).results[0]!;
  if (r.result !== 'done') throw new Error(`vmkeep backup --engine push failed: ${r.reason ?? ''}`);
  return { wallMs, engineMs: r.durationMs, dataBytes: r.dataBytes };
}

async function timeVirtnbdbackup(dom: TestDomain, level: 'full' | 'inc', output: string, scratch: string): Promise<Timing> {
  const t0 = performance.now();
  await runner.run('virtnbdbackup', ['--domain', dom.name, '--level', level, '--output', output, '--noprogress'], {
    env: { TMPDIR: scratch },
    cwd: scratch,
    timeoutMs: 600_000,
  });
  const wallMs = performance.now() - t0;
  return { wallMs, engineMs: wallMs };
}

/** Full and incremental, both engines, `rounds` interleaved rounds. */
export async function runPushEngineBench(rounds = 3): Promise<EngineBenchRow[]> {
  const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 1024 }], start: true });
  const lockDir = mkdtempSync('/var/tmp/vmkeep-bench-locks-');
  const push = { full: [] as Timing[], inc: [] as Timing[] };
  const nbd = { full: [] as Timing[], inc: [] as Timing[] };
  try {
    for (let i = 0; i < 4; i += 1) await writeGuestData(dom, 'vda', { pattern: 0x40 + i, offset: i * 128 * MiB, length: 128 * MiB });
    let pattern = 0x80;
    const incWrite = () => writeGuestData(dom, 'vda', { pattern: pattern++, offset: 600 * MiB, length: 10 * MiB });
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? ['push', 'nbd'] : ['nbd', 'push'];
      for (const engine of order) {
        await removeCheckpoints(dom);
        const output = join(dom.dir, `out-${engine}-${round}`);
        if (engine === 'push') {
          push.full.push(await timeVmkeepPush(dom, output, lockDir));
          await incWrite();
          push.inc.push(await timeVmkeepPush(dom, output, lockDir));
        } else {
          mkdirSync(output, { recursive: true });
          const scratch = mkdtempSync(join(dom.dir, 'nbd-tmp-'));
          nbd.full.push(await timeVirtnbdbackup(dom, 'full', output, scratch));
          await incWrite();
          nbd.inc.push(await timeVirtnbdbackup(dom, 'inc', output, scratch));
        }
        // Each round's backups are no longer needed: keep the disk footprint down.
        rmSync(output, { recursive: true, force: true });
      }
    }
  } finally {
    await cleanupAll();
    rmSync(lockDir, { recursive: true, force: true });
  }
  const rows: EngineBenchRow[] = [];
  const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
  for (const [level, want, what] of [
    ['full', 5, '1 GiB disk, 512 MiB data'],
    ['inc', 20, '10 MiB changed'],
  ] as const) {
    const nbdMs = median(nbd[level].map((t) => t.wallMs));
    const cliMs = median(push[level].map((t) => t.wallMs));
    const engineMs = median(push[level].map((t) => t.engineMs));
    rows.push({
      name: `${level} backup, ${what}: vmkeep CLI --engine push vs bare virtnbdbackup (median of ${rounds} interleaved rounds)`,
      measured: `${fmt(cliMs)} vs ${fmt(nbdMs)}: ${(nbdMs / cliMs).toFixed(1)}x`,
      target: `>= ${want}x faster`,
      met: nbdMs / cliMs >= want,
      source: 'real libvirt',
    });
    rows.push({
      name: `${level} backup, ${what}: push engine alone (job begin to files ready) vs bare virtnbdbackup`,
      measured: `${fmt(engineMs)} vs ${fmt(nbdMs)}: ${(nbdMs / engineMs).toFixed(1)}x`,
      // Context for the row above: the job without vmkeep's start-up. The target is judged on the CLI.
      target: '',
      met: undefined,
      source: 'real libvirt',
      note: 'the job alone, without the CLI around it: context, not the product figure',
    });
  }
  return rows;
}

// `node dist-bench/bench/push-engine.bench.js` runs it alone and prints the rows.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rows = await runPushEngineBench(Number(process.env['VMKEEP_BENCH_ROUNDS'] ?? 3));
  for (const r of rows)
    process.stdout.write(`| ${r.name} | ${r.measured} | ${r.target} | ${r.met === undefined ? '' : r.met ? 'met' : 'MISSED'} | ${r.source} |\n`);
}
