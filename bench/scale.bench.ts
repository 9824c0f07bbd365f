/**
 * How cost grows with the work, on real libvirt through the built CLI:
 * - status of 10, 50 and 200 domains. The first 50 are the long-standing mix (every other one
 *   running with a checkpoint); the other 150 are shut off with tiny disks, so 200 domains cost
 *   little to make: defined eight at a time, removed the same way afterwards;
 * - a nightly run: 50 running domains, each with a small incremental (1 MiB changed), backed up
 *   with --jobs 1 and --jobs 2 (interleaved), and the same over the first 10 of them and over
 *   one alone, so what each domain adds among domains 11-50 can be set against what it adds
 *   among 2-10: flat means no step that grows with the number of domains (re-reading every
 *   manifest per domain, say).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pLimit from 'p-limit';
import { cleanupAll, hostDomainType, virsh, writeGuestData, type TestDomain } from '../test/helpers/libvirt.js';
import {
  createDomains,
  fmtMs,
  fmtRatio,
  interleaved,
  MiB,
  removeDomains,
  scratchDir,
  settle,
  syncDisks,
  timed,
  vmkeep,
  type BackupResult,
  type BenchOptions,
} from './lib.js';
import { median, type BenchRow } from './row.js';

/** status --json of the first n domains, `rounds` times after one warm-up; checks every domain came back with its disk. */
async function timeStatus(doms: readonly TestDomain[], n: number, rounds: number): Promise<number[]> {
  const names = doms.slice(0, n).map((d) => d.name);
  const ms: number[] = [];
  await vmkeep(['status', '--domains', ...names, '--json']);
  for (let i = 0; i < rounds; i++) {
    const r = await vmkeep(['status', '--domains', ...names, '--json']);
    const doc = JSON.parse(r.stdout) as Record<string, { disks?: unknown[] }>;
    if (Object.keys(doc).length !== n || Object.values(doc).some((d) => (d.disks?.length ?? 0) !== 1))
      throw new Error(`status did not report ${n} domains with their disk`);
    ms.push(r.ms);
  }
  return ms;
}

/** status over 10, 50 and 200 real domains (targets: 50 ≤ 0.8 s, 200 ≤ 3 s). */
export async function runStatusScaleBench(opts: BenchOptions): Promise<BenchRow[]> {
  const counts = opts.quick ? [2, 4, 6] : [10, 50, 200];
  const mixed = counts[1]!;
  const rounds = opts.quick ? 1 : 5;
  const targets: Record<number, number> = opts.quick ? {} : { 50: 800, 200: 3000 };
  try {
    // The mix: every other one of the first 50 runs with a checkpoint; the rest are shut off.
    const doms = await createDomains(counts[2]!, (i) => ({ start: i < mixed && i % 2 === 0, disks: [{ target: 'vda', sizeMiB: i < mixed ? 64 : 16 }] }));
    const limit = pLimit(8);
    const withCheckpoint = doms.slice(0, mixed).filter((_, i) => i % 2 === 0);
    await Promise.all(withCheckpoint.map((d) => limit(() => virsh(['checkpoint-create-as', '--domain', d.uuid, '--name', 'virtnbdbackup.0']))));
    const settled = await settle();
    const rows: BenchRow[] = [];
    for (const n of counts) {
      const ms = await timeStatus(doms, n, rounds);
      const m = median(ms);
      const running = Math.ceil(Math.min(n, mixed) / 2);
      const target = targets[n];
      rows.push({
        name: `vmkeep status --json, ${n} domains (${running} running with a checkpoint, ${n - running} shut off; median of ${rounds})`,
        measured: `${fmtMs(m)} (${(m / n).toFixed(1)} ms per domain)`,
        target: target === undefined ? '' : `≤ ${fmtMs(target)}`,
        met: target === undefined ? undefined : m <= target,
        source: 'real libvirt',
        note: `runs ${ms.map(fmtMs).join(', ')}; domain type ${hostDomainType()}; ${settled}`,
      });
    }
    rows.push(...(await againstVmsnap(doms.slice(0, opts.quick ? 3 : 19), opts.quick ? 1 : 5)));
    await removeDomains(doms);
    return rows;
  } finally {
    await cleanupAll();
  }
}

/**
 * status of the same domains through vmkeep and through VMSnap (target: vmkeep ≤ ⅓ of VMSnap's
 * time on 19 domains), interleaved. VMSnap is not part of vmkeep and is not installed by it:
 * VMKEEP_BENCH_VMSNAP names a VMSnap checkout's vmsnap.js with its dependencies installed
 * (`npm install --omit=dev` in it). Without it, no row: BENCHMARKS.md says it was not measured.
 */
async function againstVmsnap(doms: readonly TestDomain[], rounds: number): Promise<BenchRow[]> {
  const script = process.env['VMKEEP_BENCH_VMSNAP'];
  if (!script) return [];
  const names = doms.map((d) => d.name);
  const ours = () => vmkeep(['status', '--domains', ...names, '--json']);
  const theirs = () => timed(process.execPath, [script, `--domains=${names.join(',')}`, '--status', '--json']);
  // Both answer for every domain, or the comparison says nothing.
  const check = (what: string, stdout: string) => {
    for (const n of names) if (!stdout.includes(n)) throw new Error(`${what} status did not report ${n}`);
  };
  const [first, firstTheirs] = [await ours(), await theirs()];
  check('vmkeep', first.stdout);
  check('VMSnap', firstTheirs.stdout);
  const a: number[] = [];
  const b: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const [x, y] = await interleaved(round, ours, theirs);
    a.push(x.ms);
    b.push(y.ms);
  }
  const ratio = median(a) / median(b);
  const running = doms.filter((_, i) => i % 2 === 0).length;
  return [
    {
      name: `status of the same ${doms.length} domains (${running} running with a checkpoint): vmkeep status --json time / VMSnap --status --json time (${rounds} interleaved rounds)`,
      measured: `${fmtRatio(ratio)} (vmkeep ${fmtMs(median(a))}, VMSnap ${fmtMs(median(b))})`,
      target: rounds > 1 ? '≤ 0.33×' : '',
      met: rounds > 1 ? ratio <= 1 / 3 : undefined,
      source: 'real libvirt',
      note: `vmkeep runs ${a.map(fmtMs).join(', ')}; VMSnap runs ${b.map(fmtMs).join(', ')}; VMSnap ${vmsnapVersion(script)} from its own checkout; domain type ${hostDomainType()}`,
    },
  ];
}

function vmsnapVersion(script: string): string {
  try {
    return (JSON.parse(readFileSync(join(dirname(script), 'package.json'), 'utf8')) as { version?: string }).version ?? 'of unknown version';
  } catch {
    return 'of unknown version';
  }
}

/** A nightly run: 50 domains with small incrementals under --jobs 1 and --jobs 2; per-domain cost at 50 against 10. */
export async function runNightlyBench(opts: BenchOptions): Promise<BenchRow[]> {
  const { count, few, rounds, changeMiB } = opts.quick ? { count: 4, few: 2, rounds: 1, changeMiB: 1 } : { count: 50, few: 10, rounds: 3, changeMiB: 1 };
  const work = scratchDir('nightly');
  const lockDir = mkdtempSync(join(work, 'locks-'));
  const out = join(work, 'out');
  const env = { VMKEEP_LOCK_DIR: lockDir };
  let pattern = 1;
  try {
    const doms = await createDomains(count, () => ({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] }));
    const limit = pLimit(8);
    const change = (ds: readonly TestDomain[], offsetMiB: number) =>
      Promise.all(ds.map((d) => limit(() => writeGuestData(d, 'vda', { pattern: pattern++ % 256, offset: offsetMiB * MiB, length: changeMiB * MiB }))));
    await change(doms, 0);
    // The chains the nightly runs continue: one full of every domain, not timed.
    await vmkeep(['backup', '--domains', ...doms.map((d) => d.name), '--output', out, '--jobs', '2', '--json'], env);
    const settled = await settle();
    const run = async (ds: readonly TestDomain[], jobs: number, round: number) => {
      await change(ds, 8 + ((round * 2 + jobs) % 48));
      await syncDisks();
      const r = await vmkeep(['backup', '--domains', ...ds.map((d) => d.name), '--output', out, '--jobs', String(jobs), '--json'], env);
      const results = (JSON.parse(r.stdout) as { results: BackupResult[] }).results;
      if (results.length !== ds.length || results.some((x) => x.result !== 'done' || x.level !== 'inc')) {
        throw new Error(`the nightly run of ${ds.length} domains did not take an incremental of each: ${r.stdout.slice(0, 2000)}`);
      }
      return { ms: r.ms, engines: [...new Set(results.map((x) => x.engine ?? '?'))].join('/') };
    };
    const rows: BenchRow[] = [];
    const total: Record<string, number> = {};
    let engines = '';
    // One domain alone gives the run's fixed cost; 10 and 50 give the cost each domain adds.
    for (const n of [1, few, count]) {
      const ds = doms.slice(0, n);
      const one: number[] = [];
      const two: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const [a, b] = await interleaved(
          round,
          () => run(ds, 1, round),
          () => run(ds, 2, round),
        );
        one.push(a.ms);
        two.push(b.ms);
        engines = a.engines;
      }
      for (const [jobs, ms] of [
        [1, one],
        [2, two],
      ] as const) {
        const m = median(ms);
        total[`${n}/${jobs}`] = m;
        rows.push({
          name: `nightly run, ${n} running domain${n > 1 ? 's' : ''} with ${changeMiB} MiB incrementals each, --jobs ${jobs} (median of ${rounds})`,
          measured: `${fmtMs(m)} (${fmtMs(m / n)} per domain)`,
          target: '',
          met: undefined,
          source: 'real libvirt',
          note: `runs ${ms.map(fmtMs).join(', ')}; engine ${engines}; domain type ${hostDomainType()}; ${settled}`,
        });
      }
    }
    for (const jobs of [1, 2]) {
      const t = (n: number) => total[`${n}/${jobs}`]!;
      // What each further domain costs, among the first ones and among the last ones: a step
      // that grows with the number of domains makes the second larger than the first.
      const early = (t(few) - t(1)) / (few - 1);
      const late = (t(count) - t(few)) / (count - few);
      const growth = late / early;
      // A run of more domains that took less time than one of fewer is noise, not a cost: no
      // ratio (and no verdict) is made of it.
      const measurable = early > 0 && late > 0;
      rows.push({
        name: `nightly run, cost each further domain adds: domains ${few + 1}-${count} against 2-${few}, --jobs ${jobs}`,
        measured: measurable
          ? `${fmtRatio(growth)} (${fmtMs(late)} against ${fmtMs(early)} per domain)`
          : `not measurable: ${fmtMs(late)} against ${fmtMs(early)} per domain`,
        // "Flat" read as: at most a fifth more per domain among the last domains.
        target: 'flat (≤ 1.20×)',
        met: measurable ? growth <= 1.2 : undefined,
        source: 'real libvirt',
        note: `whole runs (medians): 1 domain ${fmtMs(t(1))}, ${few} domains ${fmtMs(t(few))}, ${count} domains ${fmtMs(t(count))}`,
      });
    }
    await removeDomains(doms);
    return rows;
  } finally {
    await cleanupAll();
    rmSync(work, { recursive: true, force: true });
  }
}
