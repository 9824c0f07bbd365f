#!/usr/bin/env node
// Writes test/run/durations.json, the file durations test/run/sequencer.ts starts the longest
// files first by, from a vitest JSON report:
//   npx vitest run --reporter=default --reporter=json --outputFile=/tmp/report.json
//   node scripts/test-durations.mjs /tmp/report.json
// With --print it writes nothing and prints the slowest files instead (.ci/run does, so that a
// CI log says where its time went).
// Durations are whole seconds of wall time on the machine that ran them (2 cores, several files
// at once): only their order matters.
import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

const args = process.argv.slice(2);
const print = args.includes('--print');
const [reportPath] = args.filter((a) => a !== '--print');
if (!reportPath) {
  process.stderr.write('usage: node scripts/test-durations.mjs [--print] VITEST-JSON-REPORT\n');
  process.exit(64);
}
const root = resolve(new URL('..', import.meta.url).pathname);
const report = JSON.parse(readFileSync(reportPath, 'utf8'));
const files = {};
for (const r of report.testResults ?? []) {
  const ms = Math.max(0, (r.endTime ?? 0) - (r.startTime ?? 0));
  files[relative(root, r.name)] = Math.round(ms / 1000) * 1000;
}
if (print) {
  const slowest = Object.entries(files)
    .sort(([, a], [, b]) => b - a)
    .slice(0, 15);
  process.stdout.write(
    `slowest test files (wall time, sharing the machine with the files beside them):\n${slowest.map(([f, ms]) => `  ${String(ms / 1000).padStart(5)} s  ${f}`).join('\n')}\n`,
  );
  process.exit(0);
}
const sorted = Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
const out = new URL('../test/run/durations.json', import.meta.url);
writeFileSync(out, `${JSON.stringify({ from: new Date(report.startTime ?? Date.now()).toISOString().slice(0, 10), files: sorted }, null, 2)}\n`);
process.stdout.write(`wrote ${out.pathname}: ${Object.keys(sorted).length} files\n`);
