/**
 * Run the benchmarks and write BENCHMARKS.md (npm run bench).
 *
 *   npm run bench                         every group, at the sizes the issues name
 *   npm run bench -- --only push,verify   only these groups; the others keep their last figures
 *   npm run bench -- --code-only          only the groups that need no libvirt
 *   npm run bench -- --quick [--only ..]  tiny disks, 1-2 rounds: proves every path runs end to end;
 *                                         its figures are not measurements and go to a file in the
 *                                         temp folder, never into BENCHMARKS.md
 *   npm run bench -- --list               the groups, what each measures and how long it takes
 *
 * Each group's rows are kept in bench/results.json with the date they were measured, so a run
 * of a few groups updates those and BENCHMARKS.md is written from all of them.
 * - product groups: the built CLI on real libvirt with real domains, against bare
 *   virtnbdbackup in the same run; these are the figures the targets are judged on;
 * - code groups: vmkeep's code in memory, with a fake runner, or on real files; they measure
 *   vmkeep's code, never the product, and say so.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { runBootVerifyBench, runQuiesceBench } from './guest.bench.js';
import { SCRATCH, type BenchOptions } from './lib.js';
import { runJobsBench, runOverheadBench, runStartupBench } from './product.bench.js';
import { runPushEngineBench } from './push-engine.bench.js';
import { runReplicateBench } from './replicate.bench.js';
import { runReportBench } from './report.bench.js';
import { runRetentionBench } from './retention.bench.js';
import type { BenchRow } from './row.js';
import { runNightlyBench, runStatusScaleBench } from './scale.bench.js';
import { runStatusBench } from './status.bench.js';
import { runChecksumBench, runVerifyCoresBench } from './verify.bench.js';

interface Group {
  name: string;
  kind: 'product' | 'code';
  /** What it measures, for --list. */
  what: string;
  /** Rough minutes at full size on a quiet 2-core machine, for --list. */
  minutes: number;
  run: (o: BenchOptions) => Promise<BenchRow[]>;
}

const GROUPS: Group[] = [
  { name: 'retention', kind: 'code', what: 'retention planner in memory', minutes: 0.2, run: () => runRetentionBench() },
  { name: 'fanout', kind: 'code', what: 'status fan-out with a fake runner', minutes: 0.1, run: () => runStatusBench() },
  {
    name: 'report',
    kind: 'code',
    what: 'report of 500 domains × 400 points, then again with a boot proof and screenshot per domain',
    minutes: 6,
    run: (o) => (o.quick ? runReportBench(10, 40, 1) : runReportBench()),
  },
  { name: 'checksum', kind: 'code', what: 'chunk checksum cost per GiB, 1 and 2 worker threads', minutes: 0.5, run: runChecksumBench },
  { name: 'startup', kind: 'product', what: 'CLI cold start', minutes: 0.3, run: runStartupBench },
  { name: 'status', kind: 'product', what: 'status of 10, 50, 200 real domains', minutes: 3, run: runStatusScaleBench },
  {
    name: 'push',
    kind: 'product',
    what: 'push engine vs bare virtnbdbackup: 512 MiB and 2 GiB fulls, 10 MiB incremental',
    minutes: 4,
    run: runPushEngineBench,
  },
  { name: 'overhead', kind: 'product', what: 'virtnbdbackup engine vs bare virtnbdbackup: 2 GiB full, 10 MiB incremental', minutes: 5, run: runOverheadBench },
  { name: 'verify', kind: 'product', what: 'verify of a 2 GiB push chain, 1 core against 2', minutes: 2, run: runVerifyCoresBench },
  { name: 'nightly', kind: 'product', what: 'nightly run of 10 and 50 domains, --jobs 1 and 2', minutes: 5, run: runNightlyBench },
  { name: 'jobs', kind: 'product', what: '--jobs 2 against --jobs 1, four fulls', minutes: 1, run: runJobsBench },
  { name: 'boot', kind: 'product', what: 'verify --boot of one point, push against virtnbdbackup (booting guest)', minutes: 4, run: runBootVerifyBench },
  { name: 'quiesce', kind: 'product', what: "quiesce cost from the guest's journal, both engines (booting guest)", minutes: 3, run: runQuiesceBench },
  { name: 'replicate', kind: 'product', what: 'replicate to restic against rsync', minutes: 1, run: runReplicateBench },
];

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(64);
}

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
let only: string[] | undefined;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (a === '--only') only = (argv[++i] ?? usage('--only needs a comma list of groups (see --list)')).split(',').filter(Boolean);
  else if (a.startsWith('--only=')) only = a.slice('--only='.length).split(',').filter(Boolean);
  else if (a === '--code-only') only = GROUPS.filter((g) => g.kind === 'code').map((g) => g.name);
  else if (a !== '--quick' && a !== '--list') usage(`unknown argument ${JSON.stringify(a)} (use --quick, --only GROUP,..., --code-only, --list)`);
}
if (argv.includes('--list')) {
  for (const g of GROUPS) process.stdout.write(`${g.name.padEnd(10)} ${g.kind.padEnd(8)} ~${g.minutes} min  ${g.what}\n`);
  process.stdout.write(`all: ~${Math.round(GROUPS.reduce((n, g) => n + g.minutes, 0))} min\n`);
  process.exit(0);
}
const unknown = (only ?? []).filter((n) => !GROUPS.some((g) => g.name === n));
if (unknown.length > 0) usage(`no benchmark group ${unknown.join(', ')} (groups: ${GROUPS.map((g) => g.name).join(', ')})`);
const selected = GROUPS.filter((g) => only === undefined || only.includes(g.name));

function tool(args: string[]): string {
  try {
    return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return 'not available';
  }
}
const libvirt = /library: libvirt ([\d.]+)/.exec(tool(['virsh', '-c', 'qemu:///system', 'version']))?.[1] ?? 'not available';
const qemu = /version ([\d.]+)/.exec(tool(['qemu-system-x86_64', '--version']))?.[1] ?? 'not available';
const machine = [
  `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
  `Node ${process.version}`,
  `libvirt ${libvirt}, QEMU ${qemu}, virtnbdbackup ${tool(['virtnbdbackup', '--version'])}`,
  `/dev/kvm ${existsSync('/dev/kvm') ? 'present' : 'absent'}`,
].join('; ');
const today = new Date().toISOString().slice(0, 10);

/** One group's figures as stored in bench/results.json. */
interface StoredGroup {
  date: string;
  machine: string;
  seconds: number;
  rows: BenchRow[];
}
const RESULTS = new URL('../../bench/results.json', import.meta.url); // dist-bench/bench/run.js → bench/
const stored: Record<string, StoredGroup> = quick || !existsSync(RESULTS) ? {} : (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, StoredGroup>);

const options: BenchOptions = { quick };
let failed = 0;
process.stderr.write(`bench: ${selected.map((g) => g.name).join(', ')}${quick ? ' (quick: tiny sizes, not measurements)' : ''}\n`);
try {
  for (const g of selected) {
    const t0 = performance.now();
    process.stderr.write(`bench: ${g.name} ...\n`);
    let rows: BenchRow[];
    try {
      rows = await g.run(options);
    } catch (e) {
      // A group that fails becomes a row that says so, and the others still run.
      failed += 1;
      process.stderr.write(`bench: ${g.name} failed: ${e instanceof Error ? e.stack : String(e)}\n`);
      rows = [
        {
          name: `${g.name}: did not finish`,
          measured: e instanceof Error ? e.message.split('\n')[0]! : String(e),
          target: '',
          met: false,
          source: g.kind === 'product' ? 'real libvirt' : 'in memory',
        },
      ];
    }
    const seconds = Math.round((performance.now() - t0) / 1000);
    process.stderr.write(`bench: ${g.name} took ${seconds} s\n`);
    stored[g.name] = { date: today, machine, seconds, rows };
  }
} finally {
  rmSync(SCRATCH, { recursive: true, force: true });
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
/** A group's rows, each note saying when it was measured if that was not today (the header says on what). */
const rowsOf = (kind: Group['kind']) =>
  GROUPS.filter((g) => g.kind === kind && stored[g.name]).flatMap((g) => {
    const s = stored[g.name]!;
    const when = s.date === today ? '' : `measured ${s.date}`;
    return s.rows.map((r) => ({ ...r, note: [r.note, when].filter(Boolean).join('; ') }));
  });
const table = (which: BenchRow[]) =>
  [
    '| benchmark | measured | target | | source | notes |',
    '|---|---|---|---|---|---|',
    ...which.map(
      (r) =>
        `| ${cell(r.name)} | ${cell(r.measured)} | ${cell(r.target)} | ${r.met === undefined ? '' : r.met ? 'met' : '**MISSED**'} | ${r.source} | ${cell(r.note ?? '')} |`,
    ),
  ].join('\n');
const missing = GROUPS.filter((g) => !stored[g.name]);
/** "2026-12-07 on 2 × ..., 2026-11-30 on ...": when the figures were taken, and on what machine. */
const taken = [...new Set(Object.values(stored).map((s) => `${s.date} on ${s.machine}`))].sort().reverse();

const text = `# Benchmarks

Written by \`npm run bench\` (bench/run.ts). Measured ${taken.join('; and ') || 'never'}.
Targets come from the issues. A missed target stays here as missed, with what limits it
(see "What limits the missed targets" below, written by hand after the run).
${quick ? '\n**QUICK RUN (`--quick`): tiny disks and 1-2 rounds to prove every path runs. These figures are not measurements.**\n' : ''}
## The product on real libvirt

The built CLI (\`bin/vmkeep\`) with real throwaway domains on the real libvirtd, and bare
virtnbdbackup side by side in the same run; runs interleaved, order flipped every round, a
\`sync\` between runs, compared as ratios of one run's figures. Where a backup's time matters, the
notes give its phases (\`--json\` phases, medians) and what lies outside them.

${table(rowsOf('product'))}

## vmkeep's code alone (not the product)

In-memory planners, the status fan-out with a fake runner that answers every call after 20 ms,
and the chunk checksums on a file in the page cache. These measure vmkeep's code; no product
target is judged on them.

${table(rowsOf('code'))}
${missing.length > 0 ? `\nNot measured yet: ${missing.map((g) => `${g.name} (${g.what})`).join('; ')}. Run \`npm run bench -- --only ${missing.map((g) => g.name).join(',')}\`.\n` : ''}`;

if (quick) {
  const file = join(tmpdir(), 'vmkeep-bench-quick.md');
  writeFileSync(file, text);
  process.stdout.write(`${text}\n(quick run: written to ${file}; BENCHMARKS.md and bench/results.json untouched)\n`);
} else {
  writeFileSync(RESULTS, `${JSON.stringify(stored, null, 2)}\n`);
  // The hand-written analysis of the missed targets travels with the figures.
  const limits = readFileSync(new URL('../../bench/LIMITS.md', import.meta.url), 'utf8');
  writeFileSync(new URL('../../BENCHMARKS.md', import.meta.url), `${text}\n${limits}`);
  process.stdout.write(text);
}
if (failed > 0) {
  process.stderr.write(`bench: ${failed} group(s) did not finish\n`);
  process.exitCode = 1;
}
