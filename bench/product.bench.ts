/**
 * The product on real libvirt: real throwaway domains, the real libvirtd, the built CLI
 * (bin/vmkeep) and, side by side in the same run, bare virtnbdbackup. Runs are interleaved
 * (the order flips each round) and compared as ratios, so a busy machine moves both sides.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupAll, createTestDomain, hostDomainType, virsh, writeGuestData, type TestDomain } from '../test/helpers/libvirt.js';
import { median, type BenchRow } from './row.js';

const MiB = 1024 * 1024;
const BIN = fileURLToPath(new URL('../../bin/vmkeep', import.meta.url)); // dist-bench/bench → repo root
const SCRATCH = '/var/tmp/vmkeep-bench';

interface Timed {
  ms: number;
  stdout: string;
  stderr: string;
}

/** Run a program (argv array, no shell), timing it; fail loudly on a non-zero exit. */
function timed(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    execFile(file, [...args], { env: { ...process.env, ...env }, maxBuffer: 256 * MiB, timeout: 1_800_000 }, (error, stdout, stderr) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${String(stderr).slice(-2000)}`));
      else resolve({ ms, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const vmkeep = (args: readonly string[], env: Record<string, string> = {}) => timed(process.execPath, [BIN, ...args], env);

function scratchDir(prefix: string): string {
  return mkdtempSync(join(SCRATCH, `${prefix}-`));
}

/** Write `mib` MiB of data into the running domain's vda, in chunks, with varying patterns. */
async function fill(dom: TestDomain, offsetMiB: number, mib: number, pattern: number): Promise<void> {
  for (let done = 0; done < mib; done += 64) {
    const len = Math.min(64, mib - done);
    await writeGuestData(dom, 'vda', { pattern: (pattern + done / 64) % 256, offset: (offsetMiB + done) * MiB, length: len * MiB });
  }
}

/** Run both sides of a round, the order flipped every round; returns [first side's ms, second's]. */
async function interleaved(round: number, a: () => Promise<number>, b: () => Promise<number>): Promise<[number, number]> {
  if (round % 2 === 0) {
    const x = await a();
    return [x, await b()];
  }
  const y = await b();
  return [await a(), y];
}

const fmtMs = (ms: number) => `${ms.toFixed(0)} ms`;
const fmtRatio = (r: number) => `${r.toFixed(3)}×`;

/** Cold start of the CLI: --version and status --help, median of 10 (Node's own start for context). */
async function startupRows(): Promise<BenchRow[]> {
  const sample = async (args: string[]) => {
    const ms: number[] = [];
    await timed(process.execPath, args); // warm the page cache
    for (let i = 0; i < 10; i++) ms.push((await timed(process.execPath, args)).ms);
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
    { name: 'vmkeep --version, cold start (median of 10)', measured: fmtMs(version), target: '≤ 120 ms', met: version <= 120, source: 'real libvirt' },
    { name: 'vmkeep status --help (median of 10)', measured: fmtMs(help), target: '≤ 250 ms', met: help <= 250, source: 'real libvirt' },
  ];
}

/** status for 1, 10 and 50 real domains, half of them running with a checkpoint. */
async function statusRows(): Promise<BenchRow[]> {
  const domains: TestDomain[] = [];
  for (let i = 0; i < 50; i++) {
    const running = i % 2 === 0;
    const dom = await createTestDomain({ name: `vmkeep-test-bench-st-${String(i).padStart(2, '0')}`, start: running, disks: [{ target: 'vda', sizeMiB: 64 }] });
    if (running) await virsh(['checkpoint-create-as', '--domain', dom.uuid, '--name', 'virtnbdbackup.0']);
    domains.push(dom);
  }
  const rows: BenchRow[] = [];
  for (const n of [1, 10, 50]) {
    const names = domains.slice(0, n).map((d) => d.name);
    const ms: number[] = [];
    await vmkeep(['status', '--domains', ...names, '--json']);
    for (let i = 0; i < 5; i++) {
      const r = await vmkeep(['status', '--domains', ...names, '--json']);
      const doc = JSON.parse(r.stdout) as Record<string, { disks?: unknown[] }>;
      if (Object.keys(doc).length !== n || Object.values(doc).some((d) => (d.disks?.length ?? 0) !== 1))
        throw new Error(`status did not report ${n} domains with their disk`);
      ms.push(r.ms);
    }
    const m = median(ms);
    rows.push({
      name: `vmkeep status --json, ${n} domain${n > 1 ? 's' : ''} (${Math.ceil(n / 2)} running with a checkpoint; median of 5)`,
      measured: fmtMs(m),
      target: n === 50 ? '≤ 1000 ms' : '',
      met: n === 50 ? m <= 1000 : undefined,
      source: 'real libvirt',
    });
  }
  for (const d of domains) await virsh(['destroy', d.uuid]).catch(() => undefined);
  await cleanupAll();
  return rows;
}

/** vmkeep backup (full) against bare virtnbdbackup -l full on the same domain, interleaved. */
async function fullRows(rounds: number): Promise<BenchRow[]> {
  const dom = await createTestDomain({ name: 'vmkeep-test-bench-full', start: true, disks: [{ target: 'vda', sizeMiB: 1024 }] });
  await fill(dom, 0, 512, 0x10);
  const lockDir = scratchDir('locks');
  const ratios: number[] = [];
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const outV = scratchDir('full-vmkeep');
    const outB = scratchDir('full-bare');
    const runV = async () => {
      const r = await vmkeep(['backup', '--domains', dom.name, '--output', outV, '--json'], { VMKEEP_LOCK_DIR: lockDir });
      const doc = JSON.parse(r.stdout) as { results: Array<{ result: string; level: string }> };
      if (doc.results[0]?.result !== 'done' || doc.results[0].level !== 'full') throw new Error(`vmkeep backup did not take a full: ${r.stdout}`);
      return r.ms;
    };
    const runB = async () => (await timed('virtnbdbackup', ['-d', dom.name, '-l', 'full', '-o', join(outB, 'chain')])).ms;
    const [v, b] = await interleaved(round, runV, runB);
    ours.push(v);
    theirs.push(b);
    ratios.push(v / b);
    rmSync(outV, { recursive: true, force: true });
    rmSync(outB, { recursive: true, force: true });
  }
  await cleanupAll();
  const r = median(ratios);
  return [
    {
      name: `backup, full of a 1 GiB disk holding 512 MiB (running domain; vmkeep vs bare virtnbdbackup, ${rounds} interleaved rounds)`,
      measured: `${fmtRatio(r)} (vmkeep ${fmtMs(median(ours))}, virtnbdbackup ${fmtMs(median(theirs))})`,
      target: '≤ 1.03×',
      met: r <= 1.03,
      source: 'real libvirt',
      note: `per-round ratios ${ratios.map(fmtRatio).join(', ')}`,
    },
  ];
}

/**
 * vmkeep backup (incremental) against bare virtnbdbackup -l inc. virtnbdbackup's checkpoint names
 * are shared by every folder of a domain, so two tools cannot keep incremental chains on one
 * domain: two identical domains (same disk, same data, same writes) stand in, one per tool.
 */
async function incRows(rounds: number): Promise<BenchRow[]> {
  const domV = await createTestDomain({ name: 'vmkeep-test-bench-inc-v', start: true, disks: [{ target: 'vda', sizeMiB: 1024 }] });
  const domB = await createTestDomain({ name: 'vmkeep-test-bench-inc-b', start: true, disks: [{ target: 'vda', sizeMiB: 1024 }] });
  await fill(domV, 0, 128, 0x20);
  await fill(domB, 0, 128, 0x20);
  const lockDir = scratchDir('locks');
  const outV = scratchDir('inc-vmkeep');
  const outB = join(scratchDir('inc-bare'), 'chain');
  await vmkeep(['backup', '--domains', domV.name, '--output', outV], { VMKEEP_LOCK_DIR: lockDir });
  await timed('virtnbdbackup', ['-d', domB.name, '-l', 'full', '-o', outB]);
  const ratios: number[] = [];
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await fill(domV, 200 + round * 16, 10, 0x40 + round);
    await fill(domB, 200 + round * 16, 10, 0x40 + round);
    const runV = async () => {
      const r = await vmkeep(['backup', '--domains', domV.name, '--output', outV, '--json'], { VMKEEP_LOCK_DIR: lockDir });
      const doc = JSON.parse(r.stdout) as { results: Array<{ result: string; level: string }> };
      if (doc.results[0]?.result !== 'done' || doc.results[0].level !== 'inc') throw new Error(`vmkeep backup did not take an incremental: ${r.stdout}`);
      return r.ms;
    };
    const runB = async () => (await timed('virtnbdbackup', ['-d', domB.name, '-l', 'inc', '-o', outB])).ms;
    const [v, b] = await interleaved(round, runV, runB);
    ours.push(v);
    theirs.push(b);
    ratios.push(v / b);
  }
  await cleanupAll();
  rmSync(outV, { recursive: true, force: true });
  const r = median(ratios);
  return [
    {
      name: `backup, 10 MiB incremental (running twin domains; vmkeep vs bare virtnbdbackup, ${rounds} interleaved rounds)`,
      measured: `${fmtRatio(r)} (vmkeep ${fmtMs(median(ours))}, virtnbdbackup ${fmtMs(median(theirs))})`,
      target: '≤ 1.10×',
      met: r <= 1.1,
      source: 'real libvirt',
      note: `per-round ratios ${ratios.map(fmtRatio).join(', ')}; two identical domains, one per tool (shared checkpoint names)`,
    },
  ];
}

/** --jobs 1 against --jobs 2 on four domains (fulls of 128 MiB each), interleaved. */
async function jobsRows(rounds: number): Promise<BenchRow[]> {
  const doms: TestDomain[] = [];
  for (let i = 0; i < 4; i++) {
    const d = await createTestDomain({ name: `vmkeep-test-bench-jobs-${i}`, start: true, disks: [{ target: 'vda', sizeMiB: 512 }] });
    await fill(d, 0, 128, 0x60 + i);
    doms.push(d);
  }
  const lockDir = scratchDir('locks');
  const one: number[] = [];
  const two: number[] = [];
  const names = doms.map((d) => d.name);
  for (let round = 0; round < rounds; round++) {
    const run = async (jobs: number) => {
      const out = scratchDir(`jobs${jobs}`);
      const r = await vmkeep(['backup', '--domains', ...names, '--output', out, '--jobs', String(jobs), '--json'], { VMKEEP_LOCK_DIR: lockDir });
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
  await cleanupAll();
  const r = median(two) / median(one);
  return [
    {
      name: `backup of 4 domains (128 MiB each, fulls): --jobs 2 time / --jobs 1 time (${rounds} interleaved rounds)`,
      measured: `${fmtRatio(r)} (--jobs 1 ${fmtMs(median(one))}, --jobs 2 ${fmtMs(median(two))})`,
      target: '',
      met: undefined,
      source: 'real libvirt',
    },
  ];
}

/** Every product benchmark, in one run; domains are removed also when one fails. */
export async function runProductBench(): Promise<BenchRow[]> {
  rmSync(SCRATCH, { recursive: true, force: true });
  // Traversable by the QEMU user, as a backup target folder is.
  mkdirSync(SCRATCH, { recursive: true, mode: 0o711 });
  try {
    const rows: BenchRow[] = [];
    rows.push(...(await startupRows()));
    rows.push(...(await statusRows()));
    rows.push(...(await fullRows(3)));
    rows.push(...(await incRows(5)));
    rows.push(...(await jobsRows(2)));
    for (const r of rows) r.note = [r.note, `domain type ${hostDomainType()}`].filter(Boolean).join('; ');
    return rows;
  } finally {
    await cleanupAll().catch(() => undefined);
    rmSync(SCRATCH, { recursive: true, force: true });
  }
}
