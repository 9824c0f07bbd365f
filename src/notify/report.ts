/** What a notification says about a finished run: pure, built from the command's result document. */
import type { NotifyOutcome } from '../config/notify-schema.js';
import { printable } from '../util/printable.js';
import type { ForecastNotice } from './forecast-notice.js';

export interface RunReport {
  /** Format marker for receivers. */
  vmkeep: 'run-report/1';
  command: string;
  host: string;
  /** Random UUID of this run; also on every log line and in healthchecks' `rid`. */
  runId: string;
  outcome: NotifyOutcome;
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  /** One line for people: subject of a mail, title of a push message, body of a failure ping. */
  summary: string;
  /** One line per item that did not simply succeed (and per success when there are few). */
  details: string[];
  /** The command's result document, as `--json` prints it; null when the command could not run. */
  result: unknown;
  /** The error that ended the run before it produced a document. */
  error?: string;
  /** The output folder fills sooner than the warning days (see forecast-notice.ts). */
  forecast?: ForecastNotice;
}

export interface ReportInput {
  command: string;
  host: string;
  runId: string;
  /** The CLI's outcome word: 'ok' or an error code. */
  outcome: string;
  exitCode: number;
  startedAt: Date;
  finishedAt: Date;
  document: unknown;
  error?: string;
  forecast?: ForecastNotice | undefined;
}

/** 'ok' → success, 'partial' → partial, anything else (failure, locked, tool missing, interrupted) → failure. */
export function notifyOutcomeOf(outcome: string): NotifyOutcome {
  if (outcome === 'ok') return 'success';
  if (outcome === 'partial') return 'partial';
  return 'failure';
}

interface ItemLine {
  name: string;
  state: string;
  reason: string | undefined;
}

/** Is this verify --boot's document (points booted, not chains checked)? */
function isBootDocument(document: unknown): document is Record<string, unknown> {
  return (
    !!document &&
    typeof document === 'object' &&
    (document as Record<string, unknown>)['boot'] === true &&
    Array.isArray((document as Record<string, unknown>)['points'])
  );
}

const seconds = (ms: unknown) => (typeof ms === 'number' ? `${(ms / 1000).toFixed(1)} s` : '? s');

/**
 * verify --boot: one line per point (booted, with the checks that passed; or why not, with the
 * console's last line), one per domain it could not verify, one per leftover it removed.
 */
function bootItemsOf(d: Record<string, unknown>): ItemLine[] {
  const points = (d['points'] as Array<Record<string, unknown>>).map((p) => {
    const name = `${String(p['domain'] ?? '?')}: point ${String(p['point'] ?? '?')}`;
    const checks = Array.isArray(p['checks']) ? (p['checks'] as Array<Record<string, unknown>>) : [];
    if (p['result'] === 'ok') {
      const passed = checks.map((c) => String(c['check'])).join(', ');
      return { name, state: 'booted', reason: `${passed || 'checks'} passed, first answer after ${seconds(p['firstAnswerMs'])}` };
    }
    const tail = Array.isArray(p['consoleTail']) ? (p['consoleTail'] as unknown[]).map(String) : [];
    const last = tail.length > 0 ? `; last console line: ${printable(tail[tail.length - 1]!)}` : '; the console printed nothing';
    return { name, state: 'did not boot', reason: `${strOrUndef(p['reason']) ?? 'unknown'}${last}` };
  });
  const failures = Array.isArray(d['failures'])
    ? (d['failures'] as Array<Record<string, unknown>>).map((f) => ({
        name: String(f['domain'] ?? '?'),
        state: 'not verified',
        reason: strOrUndef(f['reason']),
      }))
    : [];
  return [...points, ...failures];
}

/** Per-domain (or per-chain) results a document carries: backup's `results`, verify's `chains`/`failures`, verify --boot's `points`. */
function itemsOf(document: unknown): ItemLine[] | undefined {
  if (!document || typeof document !== 'object') return undefined;
  if (isBootDocument(document)) return bootItemsOf(document);
  const d = document as Record<string, unknown>;
  if (Array.isArray(d['results'])) {
    return (d['results'] as Array<Record<string, unknown>>).map((r) => ({
      name: String(r['domain'] ?? '?'),
      state: String(r['result'] ?? '?'),
      reason: r['result'] === 'done' ? (r['level'] ? `${String(r['level'])} into ${String(r['chain'] ?? '?')}` : undefined) : strOrUndef(r['reason']),
    }));
  }
  if (Array.isArray(d['chains'])) {
    const chains = (d['chains'] as Array<Record<string, unknown>>).map((c) => ({
      name: `${String(c['domain'] ?? '?')}/${String(c['chain'] ?? '?')}`,
      state: String(c['result'] ?? '?'),
      reason: Array.isArray(c['problems']) && c['problems'].length > 0 ? `${c['problems'].length} problem(s)` : undefined,
    }));
    const failures = Array.isArray(d['failures'])
      ? (d['failures'] as Array<Record<string, unknown>>).map((f) => ({ name: String(f['domain'] ?? '?'), state: 'failed', reason: strOrUndef(f['reason']) }))
      : [];
    return [...chains, ...failures];
  }
  return undefined;
}

function strOrUndef(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

const OK_STATES = new Set(['done', 'ok', 'skipped', 'planned', 'booted']);

/** Build the report a notifier sends. */
export function buildRunReport(input: ReportInput): RunReport {
  const outcome = notifyOutcomeOf(input.outcome);
  const items = itemsOf(input.document);
  let counts = '';
  const details: string[] = [];
  if (items) {
    const byState = new Map<string, number>();
    for (const i of items) byState.set(i.state, (byState.get(i.state) ?? 0) + 1);
    counts = [...byState].map(([s, n]) => `${n} ${s}`).join(', ');
    const troubled = items.filter((i) => !OK_STATES.has(i.state));
    const shown = troubled.length > 0 || items.length > 20 ? troubled : items;
    for (const i of shown) details.push(`${i.name}: ${i.state}${i.reason ? `: ${i.reason}` : ''}`);
  }
  if (input.error) details.unshift(input.error);
  const doc = input.document;
  const boot = isBootDocument(doc);
  if (boot && Array.isArray(doc['leftoversRemoved'])) details.push(...(doc['leftoversRemoved'] as unknown[]).map(String));
  if (input.forecast) details.push(input.forecast.message);
  const word = outcome === 'success' ? 'succeeded' : outcome === 'partial' ? 'partly failed' : 'FAILED';
  const fills = input.forecast ? `; ${input.forecast.output} full in ${Math.floor(input.forecast.daysLeft)} days` : '';
  // The command word alone would not tell a boot proof from a checksum verify.
  const summary = `vmkeep ${input.command}${boot ? ' --boot' : ''} on ${input.host} ${word}${counts ? ` (${counts})` : input.error ? `: ${input.error}` : ''}${fills}`;
  return {
    vmkeep: 'run-report/1',
    command: input.command,
    host: input.host,
    runId: input.runId,
    outcome,
    exitCode: input.exitCode,
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    summary,
    details,
    result: input.document === undefined ? null : input.document,
    ...(input.error ? { error: input.error } : {}),
    ...(input.forecast ? { forecast: input.forecast } : {}),
  };
}

/**
 * Does a target hear of this run? Its outcome, or, for a run that succeeded while its output
 * folder fills sooner than the warning, a target that hears of partial runs (a run that needs
 * attention without having failed).
 */
export function targetHears(on: readonly NotifyOutcome[], report: Pick<RunReport, 'outcome' | 'forecast'>): boolean {
  return on.includes(report.outcome) || (report.forecast !== undefined && on.includes('partial'));
}

/** The report as plain text: the summary, then the detail lines. */
export function renderReportText(report: RunReport): string {
  return [report.summary, '', ...report.details, '', `run ${report.runId}, ${report.startedAt} to ${report.finishedAt}, exit ${report.exitCode}`].join('\n');
}
