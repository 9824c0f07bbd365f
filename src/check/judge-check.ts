/**
 * The Nagios/Icinga verdict: pure, from each domain's run history and consistency, the
 * thresholds and `now`. One line for the monitoring system, perfdata after the `|`.
 */
import { isDatedInFuture } from '../repository/recording-order.js';
import type { RunHistory } from '../repository/run-history.js';
import { subtractDuration } from '../retention/duration.js';
import type { Duration } from '../retention/types.js';

export type CheckState = 0 | 1 | 2 | 3;
export const STATE_WORD: Readonly<Record<CheckState, string>> = { 0: 'OK', 1: 'WARNING', 2: 'CRITICAL', 3: 'UNKNOWN' };

export interface CheckThresholds {
  warning: Duration;
  critical: Duration;
  /** Verify older than this (or none at all) is a warning. */
  verifyWarning: Duration | undefined;
  verifyCritical: Duration | undefined;
  /** Boot proof (`verify --boot`) older than this, or none, is a WARNING; a failed one is CRITICAL. */
  bootMaxAge?: Duration | undefined;
}

export interface DomainCheckInput {
  domain: string;
  /** Undefined when the repository could not be read for it (then `error` says why). */
  history: RunHistory | undefined;
  /** libvirt consistency; undefined when it could not be read. */
  consistent: boolean | undefined;
  /** The guest agent says the guest's filesystems are frozen (undefined: no answer). */
  guestFrozen?: boolean | undefined;
  error: string | undefined;
}

export interface DomainVerdict {
  domain: string;
  state: CheckState;
  /** Why it is not OK (empty when OK). */
  problems: string[];
  ageSeconds: number | undefined;
  /** Set on the output folder's own verdict (`--min-days-left`): `domain` then names the folder. */
  output?: true;
  /** The output folder's forecast days until full (its verdict only; absent when none). */
  daysLeft?: number;
}

/** `--min-days-left D[,C]`: WARNING under D days until the output folder is full, CRITICAL under C. */
export interface DaysLeftThresholds {
  warning: number;
  critical: number | undefined;
}

export interface CheckVerdict {
  state: CheckState;
  /** The first line, with perfdata. */
  line: string;
  domains: DomainVerdict[];
}

const secondsBetween = (a: Date, b: Date) => Math.round((a.getTime() - b.getTime()) / 1000);

/** Seconds a duration spans back from now (months and years follow the calendar). */
function spanSeconds(now: Date, d: Duration): number {
  return secondsBetween(now, subtractDuration(now, d));
}

/** A short age: 45s, 5h, 3d. */
export function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 2 * 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 2 * 86400) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

function judgeDomain(d: DomainCheckInput, t: CheckThresholds, now: Date): DomainVerdict {
  const problems: Array<[CheckState, string]> = [];
  const h = d.history;
  if (d.error !== undefined || !h) {
    return { domain: d.domain, state: 3, problems: [`cannot judge: ${d.error ?? 'no history'}`], ageSeconds: undefined };
  }
  let ageSeconds: number | undefined;
  if (!h.lastSuccess) problems.push([2, 'no backup at all']);
  else {
    // A last point dated after now (the clock went back since) is as fresh as can be, not "-3801907s ago".
    ageSeconds = Math.max(0, secondsBetween(now, new Date(h.lastSuccess.time)));
    const when = `last backup ${formatAge(ageSeconds)} ago`;
    if (ageSeconds > spanSeconds(now, t.critical)) problems.push([2, `${when} (critical ${t.critical.text})`]);
    else if (ageSeconds > spanSeconds(now, t.warning)) problems.push([1, `${when} (warning ${t.warning.text})`]);
  }
  if (h.lastRun && h.lastRun.result !== 'success')
    problems.push([1, `last run ${h.lastRun.result === 'failure' ? 'failed' : 'was interrupted'} at ${h.lastRun.time}`]);
  if (h.latestDated && isDatedInFuture(h.latestDated.time, now)) {
    problems.push([
      1,
      `${h.latestDated.chain}/${h.latestDated.checkpoint} is dated in the future (${h.latestDated.time}): the host clock ran ahead; the last recorded point counts as the newest`,
    ]);
  }
  const damaged = h.damagedChains ?? [];
  if (h.unhealthyChains > damaged.length) problems.push([1, `${h.unhealthyChains - damaged.length} chain(s) broken or unfinished`]);
  // Its points cannot be restored, whether or not a verify has looked yet.
  for (const c of damaged) problems.push([2, `chain ${c.chain} is damaged: ${c.problems.join('; ')}`]);
  if (d.consistent === false) problems.push([1, 'checkpoints and bitmaps disagree (see vmkeep status)']);
  if (d.consistent === undefined) problems.push([3, 'consistency unknown: libvirt could not be asked']);
  if (d.guestFrozen === true) problems.push([1, 'guest filesystems frozen: its writes are blocked']);
  if (h.lastVerify && !h.lastVerify.ok) problems.push([2, `last verify failed (${h.lastVerify.chain})`]);
  if (t.verifyWarning || t.verifyCritical) {
    if (!h.lastVerify) problems.push([t.verifyCritical ? 2 : 1, 'never verified']);
    else {
      const vAge = secondsBetween(now, new Date(h.lastVerify.time));
      if (t.verifyCritical && vAge > spanSeconds(now, t.verifyCritical))
        problems.push([2, `last verify ${formatAge(vAge)} ago (critical ${t.verifyCritical.text})`]);
      else if (t.verifyWarning && vAge > spanSeconds(now, t.verifyWarning))
        problems.push([1, `last verify ${formatAge(vAge)} ago (warning ${t.verifyWarning.text})`]);
    }
  }
  // A last boot proof that failed is CRITICAL with or without a limit, as a failed verify is: that
  // point does not boot. Its age, and a domain never proved, count only with --boot-max-age.
  const b = h.lastBootVerify;
  if (b?.result === 'failed') problems.push([2, `${b.chain}/${b.checkpoint} did not boot at ${b.time}: ${b.reason ?? 'no reason recorded'}`]);
  if (t.bootMaxAge) {
    if (!b) problems.push([1, 'never proved by booting (vmkeep verify --boot)']);
    else {
      const bAge = secondsBetween(now, new Date(b.time));
      if (bAge > spanSeconds(now, t.bootMaxAge)) problems.push([1, `last boot proof ${formatAge(bAge)} ago (--boot-max-age ${t.bootMaxAge.text})`]);
    }
  }
  return { domain: d.domain, state: worst(problems.map(([s]) => s)), problems: problems.map(([, p]) => p), ageSeconds };
}

/**
 * The output folder's verdict from its forecast: a folder that does not grow, or has too little
 * history for a number, is OK (the forecast's basis says which); one that cannot be read is UNKNOWN.
 */
export function judgeForecast(
  output: string,
  forecast: { daysLeft: number | null; fullAt: string | null; basis: string } | undefined,
  t: DaysLeftThresholds,
  error?: string,
): DomainVerdict {
  const base = { domain: `output ${output}`, output: true as const, ageSeconds: undefined };
  if (!forecast) return { ...base, state: 3, problems: [`forecast unknown: ${error ?? 'not read'}`] };
  const days = forecast.daysLeft;
  if (days === null) return { ...base, state: 0, problems: [] };
  const when = `fills in ${days} days (${forecast.fullAt?.slice(0, 10) ?? '?'})`;
  if (t.critical !== undefined && days < t.critical) return { ...base, state: 2, problems: [`${when} (critical ${t.critical} days)`], daysLeft: days };
  if (days < t.warning) return { ...base, state: 1, problems: [`${when} (warning ${t.warning} days)`], daysLeft: days };
  return { ...base, state: 0, problems: [], daysLeft: days };
}

/** CRITICAL beats WARNING beats UNKNOWN beats OK: a known problem is more urgent than a blind spot. */
export function worst(states: readonly CheckState[]): CheckState {
  for (const s of [2, 1, 3] as const) if (states.includes(s)) return s;
  return 0;
}

/** Nagios perfdata label: quoted when it holds anything but word characters, ' doubled. */
function perfLabel(raw: string): string {
  // '|' would end the perfdata and '=' the label: neither may appear, even quoted.
  const label = raw.replace(/[|=\n]/g, '_');
  return /^[A-Za-z0-9_.-]+$/.test(label) ? label : `'${label.replace(/'/g, "''")}'`;
}

/** Judge every domain and render the plugin line. */
export function judgeCheck(domains: readonly DomainCheckInput[], t: CheckThresholds, now: Date, extraUnknown: readonly string[] = []): CheckVerdict {
  return summarizeVerdicts(
    domains.map((d) => judgeDomain(d, t, now)),
    t,
    now,
    extraUnknown,
  );
}

/** The plugin line from domain verdicts already judged (one host's, or several hosts' as `host/domain`). */
export function summarizeVerdicts(verdicts: readonly DomainVerdict[], t: CheckThresholds, now: Date, extraUnknown: readonly string[] = []): CheckVerdict {
  const domains = verdicts.filter((v) => v.output !== true);
  const outputs = verdicts.filter((v) => v.output === true);
  const state = worst([...verdicts.map((v) => v.state), ...(extraUnknown.length > 0 ? [3 as const] : [])]);
  const word = STATE_WORD[state];
  const ages = domains.map((v) => v.ageSeconds).filter((a): a is number => a !== undefined);
  let text: string;
  if (domains.length === 0 && extraUnknown.length === 0 && outputs.length === 0) text = 'no domains selected';
  else if (state === 0) {
    text =
      domains.length === 0
        ? 'no domains selected'
        : `${domains.length} domain${domains.length === 1 ? '' : 's'}, newest backup ${formatAge(Math.min(...ages))} ago, oldest ${formatAge(Math.max(...ages))} ago`;
    for (const o of outputs) if (o.daysLeft !== undefined) text += `, ${o.domain} fills in ${o.daysLeft} days`;
  } else {
    const bad = domains.filter((v) => v.state !== 0);
    const parts: string[] = [];
    if (bad.length + extraUnknown.length > 0) {
      const items = [...extraUnknown, ...bad.map((v) => `${v.domain}: ${v.problems.join(', ')}`)];
      parts.push(`${bad.length + extraUnknown.length} of ${domains.length + extraUnknown.length} domains need attention: ${items.join('; ')}`);
    }
    for (const o of outputs) if (o.state !== 0) parts.push(`${o.domain}: ${o.problems.join(', ')}`);
    text = parts.join('; ');
  }
  const warnS = spanSeconds(now, t.warning);
  const critS = spanSeconds(now, t.critical);
  const perf = [
    ...domains.filter((v) => v.ageSeconds !== undefined).map((v) => `${perfLabel(`age_${v.domain}`)}=${v.ageSeconds}s;${warnS};${critS};0;`),
    ...outputs.filter((v) => v.daysLeft !== undefined).map((v) => `${perfLabel(`days_left_${v.domain.replace(/^output /, '')}`)}=${v.daysLeft};;;0;`),
  ].join(' ');
  // Plugin output must stay on one line; a domain name with | would cut the perfdata short.
  const line = `VMKEEP ${word} - ${text.replace(/[|\n]/g, ' ')}${perf ? ` | ${perf}` : ''}`;
  return { state, line, domains: [...verdicts] };
}
