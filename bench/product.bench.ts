/**
 * The product on real libvirt: real throwaway domains, the real libvirtd, the built CLI
 * (bin/vmkeep) and, side by side in the same run, bare virtnbdbackup. Runs are interleaved
 * (the order flips each round), a `sync` runs between runs, and sides are compared as ratios,
 * so a busy machine moves both sides.
 *
 * Groups here: start-up; the virtnbdbackup engine's overhead over bare virtnbdbackup (a 2 GiB
 * full and a 10 MiB incremental); --jobs 2 against --jobs 1 on four fulls.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupAll, createTestDomain, hostDomainType, type TestDomain } from '../test/helpers/libvirt.js';
import {
  backupOne,
  BIN,
  describeRunPhases,
  fill,
  fmtMs,
  fmtRatio,
  interleaved,
  removeCheckpoints,
  scratchDir,
  syncDisks,
  timed,
  vmkeep,
  type BackupResult,
  type BenchOptions,
} from './lib.js';
import { median, type BenchRow } from './row.js';

const withDomainType = (rows: BenchRow[]) => rows.map((r) => ({ ...r, note: [r.note, `domain type ${hostDomainType()}`].filter(Boolean).join('; ') }));

/** Cold start of the CLI: --version and status --help, median of 10 (Node's own start for context). */
export async function runStartupBench(opts: BenchOptions): Promise<BenchRow[]> {
  const n = opts.quick ? 2 : 10;
  const sample = async (args: string[]) => {
    const ms: number[] = [];
    await timed(process.execPath, args); // warm the page cache
    for (let i = 0; i < n; i++) ms.push((await timed(process.execPath, args)).ms);
    return median(ms);
  };
  const node = await sample(['-e', '0']);
  const version = await sample([BIN, '--version']);
  const help = await sample([BIN, 'status', '--help']);
  return [
    {
      name: 'node -e 0 (Node.js start alone, for context)',
      measured: fmtMs(node),
      target: '',
      met: undefined,
      source: 'real libvirt',
      note: 'no libvirt involved',
    },
    { name: `vmkeep --version, cold start (median of ${n})`, measured: fmtMs(version), target: '≤ 120 ms', met: version <= 120, source: 'real libvirt' },
    { name: `vmkeep status --help (median of ${n})`, measured: fmtMs(help), target: '≤ 250 ms', met: help <= 250, source: 'real libvirt' },
  ];
}

interface EngineRun {
  ms: number;
  result: BackupResult;
}

/** vmkeep --engine virtnbdbackup (full) against bare virtnbdbackup -l full on the same domain, interleaved. */
async function fullRows(opts: BenchOptions): Promise<BenchRow[]> {
  const { disk, data, rounds } = opts.quick ? { disk: 256, data: 64, rounds: 2 } : { disk: 4096, data: 2048, rounds: 5 };
  const dom = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: disk }] });
  const work = scratchDir('overhead-full');
  const lockDir = mkdtempSync(join(work, 'locks-'));
  const ours: EngineRun[] = [];
  const theirs: number[] = [];
  try {
    await fill(dom, 0, data, 0x10);
    for (let round = 0; round < rounds; round++) {
      const outV = join(work, `vmkeep-${round}`);
      const outB = join(work, `bare-${round}`);
      // Both sides start as a first backup does: no checkpoints, nothing dirty in the page cache.
      const runV = async () => {
        await removeCheckpoints(dom);
        await syncDisks();
        const r = await backupOne(['--engine', 'virtnbdbackup', '--domains', dom.name, '--output', outV], 'full', { VMKEEP_LOCK_DIR: lockDir });
        ours.push(r);
        return r.ms;
      };
      const runB = async () => {
        await removeCheckpoints(dom);
        await syncDisks();
        const r = await timed('virtnbdbackup', ['-d', dom.name, '-l', 'full', '-o', outB, '--noprogress']);
        theirs.push(r.ms);
        return r.ms;
      };
      await interleaved(round, runV, runB);
      rmSync(outV, { recursive: true, force: true });
      rmSync(outB, { recursive: true, force: true });
    }
  } finally {
    await cleanupAll();
    rmSync(work, { recursive: true, force: true });
  }
  const ratios = ours.map((o, i) => o.ms / theirs[i]!);
  const r = median(ratios);
  const size = `${disk >= 1024 ? `${disk / 1024} GiB` : `${disk} MiB`} disk holding ${data >= 1024 ? `${data / 1024} GiB` : `${data} MiB`}`;
  return [
    {
      name: `virtnbdbackup engine overhead, full of a ${size}: vmkeep --engine virtnbdbackup / bare virtnbdbackup (${rounds} interleaved rounds, sync between)`,
      measured: `${fmtRatio(r)} (vmkeep ${fmtMs(median(ours.map((o) => o.ms)))}, virtnbdbackup ${fmtMs(median(theirs))})`,
      target: '≤ 1.10×',
      met: r <= 1.1,
      source: 'real libvirt',
      note: `median of per-round ratios ${ratios.map(fmtRatio).join(', ')}; vmkeep ${describeRunPhases(
        ours.map((o) => o.result.phases),
        ours.map((o) => o.ms),
      )}`,
    },
  ];
}

/**
 * vmkeep --engine virtnbdbackup (incremental) against bare virtnbdbackup -l inc. virtnbdbackup's
 * checkpoint names are shared by every folder of a domain, so two tools cannot keep incremental
 * chains on one domain: two identical domains (same disk, same data, same writes) stand in.
 */
async function incRows(opts: BenchOptions): Promise<BenchRow[]> {
  const { disk, data, inc, rounds } = opts.quick ? { disk: 128, data: 16, inc: 2, rounds: 2 } : { disk: 1024, data: 128, inc: 10, rounds: 5 };
  const domV = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: disk }] });
  const domB = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: disk }] });
  const work = scratchDir('overhead-inc');
  const lockDir = mkdtempSync(join(work, 'locks-'));
  const outV = join(work, 'vmkeep');
  const outB = join(work, 'bare', 'chain');
  const ours: EngineRun[] = [];
  const theirs: number[] = [];
  try {
    await fill(domV, 0, data, 0x20);
    await fill(domB, 0, data, 0x20);
    await backupOne(['--engine', 'virtnbdbackup', '--domains', domV.name, '--output', outV], 'full', { VMKEEP_LOCK_DIR: lockDir });
    await timed('virtnbdbackup', ['-d', domB.name, '-l', 'full', '-o', outB, '--noprogress']);
    for (let round = 0; round < rounds; round++) {
      const offset = data + 16 + ((round * 16) % Math.max(16, disk - data - 32));
      await fill(domV, offset, inc, 0x40 + round);
      await fill(domB, offset, inc, 0x40 + round);
      const runV = async () => {
        await syncDisks();
        const r = await backupOne(['--engine', 'virtnbdbackup', '--domains', domV.name, '--output', outV], 'inc', { VMKEEP_LOCK_DIR: lockDir });
        ours.push(r);
        return r.ms;
      };
      const runB = async () => {
        await syncDisks();
        const r = await timed('virtnbdbackup', ['-d', domB.name, '-l', 'inc', '-o', outB, '--noprogress']);
        theirs.push(r.ms);
        return r.ms;
      };
      await interleaved(round, runV, runB);
    }
  } finally {
    await cleanupAll();
    rmSync(work, { recursive: true, force: true });
  }
  const ratios = ours.map((o, i) => o.ms / theirs[i]!);
  const r = median(ratios);
  return [
    {
      name: `virtnbdbackup engine overhead, ${inc} MiB incremental: vmkeep --engine virtnbdbackup / bare virtnbdbackup (twin domains, ${rounds} interleaved rounds, sync between)`,
      measured: `${fmtRatio(r)} (vmkeep ${fmtMs(median(ours.map((o) => o.ms)))}, virtnbdbackup ${fmtMs(median(theirs))})`,
      target: '≤ 1.20×',
      met: r <= 1.2,
      source: 'real libvirt',
      note: `median of per-round ratios ${ratios.map(fmtRatio).join(', ')}; two identical domains, one per tool (shared checkpoint names); vmkeep ${describeRunPhases(
        ours.map((o) => o.result.phases),
        ours.map((o) => o.ms),
      )}`,
    },
  ];
}

/** The virtnbdbackup engine's overhead over bare virtnbdbackup: a 2 GiB full, a 10 MiB incremental. */
export async function runOverheadBench(opts: BenchOptions): Promise<BenchRow[]> {
  return withDomainType([...(await fullRows(opts)), ...(await incRows(opts))]);
}

/** --jobs 1 against --jobs 2 on four domains (fulls of 128 MiB each), interleaved. */
export async function runJobsBench(opts: BenchOptions): Promise<BenchRow[]> {
  const { count, data, rounds } = opts.quick ? { count: 2, data: 16, rounds: 1 } : { count: 4, data: 128, rounds: 2 };
  const doms: TestDomain[] = [];
  const work = scratchDir('jobs');
  const lockDir = mkdtempSync(join(work, 'locks-'));
  const one: number[] = [];
  const two: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const d = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 512 }] });
      await fill(d, 0, data, 0x60 + i);
      doms.push(d);
    }
    const names = doms.map((d) => d.name);
    for (let round = 0; round < rounds; round++) {
      const run = async (jobs: number) => {
        for (const d of doms) await removeCheckpoints(d);
        await syncDisks();
        const out = join(work, `jobs${jobs}-${round}`);
        const r = await vmkeep(['backup', '--domains', ...names, '--output', out, '--jobs', String(jobs), '--json'], { VMKEEP_LOCK_DIR: lockDir });
        const results = (JSON.parse(r.stdout) as { results: BackupResult[] }).results;
        if (results.length !== count || results.some((x) => x.result !== 'done'))
          throw new Error(`backup --jobs ${jobs} did not back up every domain: ${r.stdout.slice(0, 2000)}`);
        rmSync(out, { recursive: true, force: true });
        return r.ms;
      };
      const [x, y] = await interleaved(
        round,
        () => run(1),
        () => run(2),
      );
      one.push(x);
      two.push(y);
    }
  } finally {
    await cleanupAll();
    rmSync(work, { recursive: true, force: true });
  }
  const r = median(two) / median(one);
  return withDomainType([
    {
      name: `backup of ${count} domains (${data} MiB each, fulls, default engine): --jobs 2 time / --jobs 1 time (${rounds} interleaved rounds)`,
      measured: `${fmtRatio(r)} (--jobs 1 ${fmtMs(median(one))}, --jobs 2 ${fmtMs(median(two))})`,
      target: '',
      met: undefined,
      source: 'real libvirt',
    },
  ]);
}
