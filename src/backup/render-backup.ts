/** The text a backup run prints: one table row per domain, then its repairs, notes and prunes. */
import prettyBytes from 'pretty-bytes';
import { printable } from '../util/printable.js';
import { renderColumns } from '../util/render-columns.js';
import type { DomainResult } from './types.js';

/** The summary table printed at the end of a run. */
export function renderSummary(results: readonly DomainResult[], dryRun: boolean): string {
  const rows = results.map((r) => [
    printable(r.domain),
    r.result,
    r.level ?? '-',
    r.dataBytes === undefined ? '-' : prettyBytes(r.dataBytes, { binary: true }),
    r.durationMs === undefined ? '-' : `${(r.durationMs / 1000).toFixed(1)} s`,
    r.throughputBytesPerSecond === undefined ? '-' : `${prettyBytes(r.throughputBytesPerSecond, { binary: true })}/s`,
    printable(r.result === 'done' ? (r.chain ?? '') : r.result === 'planned' ? `${r.chain}: ${(r.reasons ?? []).join('; ')}` : (r.reason ?? '')),
  ]);
  const head = ['domain', 'result', 'level', 'data', 'time', 'speed', dryRun ? 'plan' : 'chain / reason'];
  const out = renderColumns(head, rows);
  for (const r of results) {
    for (const rep of r.repairs ?? []) out.push(`  ${r.domain}: ${dryRun ? 'would repair' : 'repaired'}: ${rep}`);
    for (const note of r.notes ?? []) out.push(`  ${r.domain}: note: ${note}`);
    for (const rm of r.prune?.removed ?? []) out.push(`  ${r.domain}: pruned ${rm}`);
  }
  return `${out.join('\n')}\n`;
}
