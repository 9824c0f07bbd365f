/** Run every benchmark and write the figures to BENCHMARKS.md (npm run bench). */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { runRetentionBench, type BenchResult } from './retention.bench.js';
import { runStatusBench } from './status.bench.js';

const results: BenchResult[] = [...(await runRetentionBench()), ...(await runStatusBench())];
const rows = results.map((r) => `| ${r.name} | ${r.ms.toFixed(1)} ms | ≤ ${r.target.toFixed(0)} ms | ${r.ms <= r.target ? 'met' : 'MISSED'} |`);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
const text = `# Benchmarks

Written by \`npm run bench\` (bench/run.ts); numbers from the last run, on ${machine}, ${new Date().toISOString().slice(0, 10)}.
Targets come from the issues; a missed target is a bug to fix, not a number to edit.

| benchmark | measured | target | |
|---|---|---|---|
${rows.join('\n')}

Engine throughput (virtnbdbackup 1.9.15 on this machine kind, from ../shared/HOST-NOTES.md): a full backup of 1 GiB of data
runs at about 200-225 MB/s using about 55% of one core; every virtnbdbackup run costs about 1.2 s of fixed start-up.
`;
writeFileSync(new URL('../../BENCHMARKS.md', import.meta.url) /* dist-bench/bench/run.js → repo root */, text);
process.stdout.write(text);
if (results.some((r) => r.ms > r.target)) process.exitCode = 1;
