/**
 * Plain-text views of a prune plan (for `--dry-run`) and of a simulation. Times are shown in
 * local time, the same clock the buckets and periods use.
 */
import { format } from 'date-fns';
import type { ChainDecision, DomainPlan, PointMerge, PrunePlan, SimulationResult } from './types.js';
import { renderColumns } from '../util/render-columns.js';

/** How many reasons a table cell shows before it says how many more there are. */
const REASONS_SHOWN = 3;

/** The plan as text: policy, warnings, then one table per domain (chain, action, reasons). */
export function renderPrunePlan(plan: PrunePlan): string {
  const { totals } = plan;
  return [
    `Prune plan at ${showTime(plan.now)}${plan.force ? ' (forced)' : ''}`,
    ...indentedSection('Policy:', plan.policy),
    ...plan.warnings.map((w) => `warning: ${w}`),
    ...plan.domains.flatMap(renderDomain),
    '',
    `Total: keep ${count(totals.keptChains, 'chain')} (${count(totals.keptPoints, 'point')}), ` +
      `remove ${count(totals.removedChains, 'chain')} (${count(totals.removedPoints, 'point')})` +
      (totals.mergedPoints > 0 ? `, of them ${count(totals.mergedPoints, 'point')} merged into their child` : ''),
  ].join('\n');
}

function renderDomain(domain: DomainPlan): string[] {
  const chains = [...domain.keep, ...domain.remove].sort(byOldest);
  const notes = [...(domain.lastBackupFailed ? ['latest backup failed'] : []), ...(domain.noPolicy ? ['no retention policy'] : [])];
  const header = `Domain ${domain.domain}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
  if (chains.length === 0) return ['', header, '  no chains'];
  const rows = chains.map((c) => [c.id, c.state, String(c.points.length), c.newest ? showTime(c.newest) : '-', c.action, shortenReasons(c.reasons)]);
  const table = renderColumns(['CHAIN', 'STATE', 'POINTS', 'NEWEST', 'ACTION', 'REASONS'], rows, { trimEnd: true });
  return ['', header, ...table.map((l) => `  ${l}`), ...domain.merges.map((m) => `  ${describeMerge(m)}`)];
}

/** One merge in words, as the plan, the simulation and delete print it. */
function describeMerge(m: Pick<PointMerge, 'chain' | 'dropped' | 'into' | 'newParent'>): string {
  return `merge ${m.chain}: ${m.dropped.join(', ')} into ${m.into} (${m.newParent ? `which then rests on ${m.newParent}` : 'which becomes the full'})`;
}

/** The simulation as text: settings, the surviving points with why they survive, warnings. */
export function renderSimulation(result: SimulationResult): string {
  const skip = result.ifOlderThan ? `, backing up if the last backup is older than ${result.ifOlderThan}` : '';
  const schedule = `every ${result.every} over ${result.over}${skip}`;
  const grouping = result.groupBy ? `chains grouped by ${result.groupBy}` : 'one chain per backup';
  const from = result.from === undefined ? '' : ` from the recorded chains of ${result.from}`;
  const rows = result.surviving.map((s) => [showTime(s.time), s.chain, s.point, shortenReasons(s.reasons)]);
  const merges = result.merges.map((m) => `${showTime(m.time)}  ${describeMerge(m)}`);
  const removals = result.removals.map((r) => `${showTime(r.time)}  remove ${r.chain} (${count(r.points.length, 'point')})`);
  return [
    `Simulated ${schedule}${from} (${grouping}, ${result.engine} chains), ${showTime(result.start)} to ${showTime(result.end)}`,
    `${count(result.runs, 'run')}: ${count(result.backups, 'backup')}, ${result.skippedBackups} skipped; ` +
      `pruned ${count(result.removedChains, 'chain')} (${count(result.removedPoints, 'point')})` +
      (result.mergedPoints > 0 ? `, of them ${count(result.mergedPoints, 'point')} merged into their child` : ''),
    ...indentedSection('Policy:', result.policy),
    ...(merges.length > 0 ? ['', ...indentedSection('Merged:', merges)] : []),
    ...(removals.length > 0 ? ['', ...indentedSection('Removed:', removals)] : []),
    '',
    ...renderColumns(['TIME', 'CHAIN', 'POINT', 'WHY'], rows, { trimEnd: true }),
    '',
    `${count(result.surviving.length, 'point')} survive`,
    ...result.warnings.map((w) => `warning: ${w}`),
  ].join('\n');
}

function shortenReasons(reasons: readonly string[]): string {
  const shown = reasons.slice(0, REASONS_SHOWN).join('; ');
  return reasons.length > REASONS_SHOWN ? `${shown} (+${reasons.length - REASONS_SHOWN} more)` : shown;
}

function indentedSection(title: string, lines: readonly string[]): string[] {
  return [title, ...lines.map((l) => `  ${l}`)];
}

function byOldest(a: ChainDecision, b: ChainDecision): number {
  const ak = a.oldest ?? '\uffff';
  const bk = b.oldest ?? '\uffff';
  return ak < bk ? -1 : ak > bk ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function showTime(iso: string): string {
  return format(new Date(iso), 'yyyy-MM-dd HH:mm');
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
