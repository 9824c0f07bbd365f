/**
 * The report's verdicts: per (host, domain) row and for the fleet, in vmkeep's words. Pure: the
 * folders' data, the thresholds and `now` in; rows and a headline out.
 */
import { join } from 'node:path';
import { pickDomainVerify, type DomainBootVerify } from '../repository/run-history.js';
import type { ReportDomainData, ReportFolderData } from '../repository/read-report-data.js';
import { pointFileBytes } from '../repository/removal-record.js';
import { evidenceFolder } from '../repository/boot-evidence.js';
import { subtractDuration } from '../retention/duration.js';
import type { Duration } from '../retention/types.js';
import { makeThumbnail, readThumbnail, ThumbnailError } from '../util/png-thumbnail.js';

export type RowState = 'ok' | 'warning' | 'critical';

export interface ReportThresholds {
  /** Last good backup older than this many hours: warning / critical (as `check --warning/--critical`). */
  warningHours: number;
  criticalHours: number;
  /** An output folder full in fewer days than this: warning / critical. */
  minDaysLeft: { warning: number; critical: number | undefined };
  /**
   * A last boot proof older than this, or none, is a warning (as `check --boot-max-age`, or the
   * config's check.bootMaxAge); undefined: boot proofs are not expected and their age is not judged.
   */
  bootMaxAge?: Duration | undefined;
}

export const DEFAULT_REPORT_THRESHOLDS: ReportThresholds = { warningHours: 26, criticalHours: 50, minDaysLeft: { warning: 14, critical: 7 } };

export interface RunLine {
  time: string;
  result: 'success' | 'failure' | 'interrupted';
  durationSeconds: number | null;
  bytes: number | null;
  note: string;
  /** Where the run's time went, when its point recorded it. */
  phases?: ReadonlyArray<{ name: string; ms: number }>;
}

export interface ReportRow {
  host: string;
  output: string;
  domain: string;
  state: RowState;
  problems: string[];
  tags: readonly string[] | undefined;
  /** libvirt's word for the domain (running, shut off), undefined when libvirt was not asked. */
  libvirtState: string | undefined;
  engine: string;
  lastGood: { time: string; ageSeconds: number; state: RowState } | undefined;
  restorePoints: number;
  chains: number;
  sizeOnDisk: number;
  lastVerify: { time: string; ok: boolean; chain: string } | undefined;
  /** The last boot proof (verify --boot) of a point still on disk; undefined: none. */
  bootProof: BootProofCell | undefined;
  protectedPoints: number;
  labels: string[];
  runs: RunLine[];
  failures: string[];
  /** The newest runs that recorded their phases, oldest first (the phase chart). */
  phaseRuns: Array<{ time: string; label: string; phases: ReadonlyArray<{ name: string; ms: number }> }>;
  timeline: Array<{ folder: string; points: Array<{ time: string; level: 'full' | 'inc'; bytes: number }> }>;
  error: string | undefined;
}

/** What the row shows of its last boot proof. */
export interface BootProofCell {
  time: string;
  ok: boolean;
  /** The point booted: `chain/checkpoint`. */
  point: string;
  /** Its evidence folder, relative to the domain's folder: `chain/.boot-verify/checkpoint/`. */
  evidence: string;
  reason: string | undefined;
  /** Seconds from the guest's start to its first answer, when it answered. */
  firstAnswerSeconds: number | undefined;
  /** Older than the limit (`bootMaxAge`). */
  stale: boolean;
  /** The console screenshot, shrunk (a grey PNG of a few hundred bytes), when one was kept and could be read. */
  thumbnail?: { dataUri: string; width: number; height: number; bytes: number };
  /** Why a screenshot kept with the proof has no thumbnail. */
  screenshotProblem?: string;
}

export interface FolderVerdict {
  host: string;
  output: string;
  state: RowState;
  problem: string | undefined;
}

/** How many runs the phase chart shows: enough to see a trend, few enough to read each bar. */
const PHASE_RUNS = 20;

const worse = (a: RowState, b: RowState): RowState =>
  a === 'critical' || b === 'critical' ? 'critical' : a === 'warning' || b === 'warning' ? 'warning' : 'ok';

/** "2 days", "5 hours", "40 minutes". */
export function describeAge(seconds: number): string {
  if (seconds >= 2 * 86400) return `${Math.floor(seconds / 86400)} days`;
  if (seconds >= 2 * 3600) return `${Math.floor(seconds / 3600)} hours`;
  return `${Math.max(0, Math.floor(seconds / 60))} minutes`;
}

/** One row of the table, judged. */
export function judgeRow(
  folder: Pick<ReportFolderData, 'host' | 'output'>,
  d: ReportDomainData,
  t: ReportThresholds,
  now: Date,
  libvirt?: { state: string | undefined; tags: readonly string[] | undefined },
): ReportRow {
  const problems: Array<[RowState, string]> = [];
  const h = d.history;
  const manifests = d.chains.map((c) => c.manifest).filter((m) => m !== undefined);
  const engine = d.chains.length === 0 ? '-' : manifests.length === 0 ? 'VMSnap' : [...new Set(manifests.map((m) => m.engine))].join(', ');
  let lastGood: ReportRow['lastGood'];
  if (d.error !== undefined) problems.push(['critical', `cannot read its backups: ${d.error}`]);
  else if (!h?.lastSuccess) problems.push(['critical', 'no backup yet']);
  else {
    const age = Math.max(0, Math.round((now.getTime() - Date.parse(h.lastSuccess.time)) / 1000));
    const state: RowState = age > t.criticalHours * 3600 ? 'critical' : age > t.warningHours * 3600 ? 'warning' : 'ok';
    lastGood = { time: h.lastSuccess.time, ageSeconds: age, state };
    if (state !== 'ok') problems.push([state, `no backup for ${describeAge(age)}`]);
  }
  if (h?.lastRun && h.lastRun.result !== 'success')
    problems.push(['warning', `last run ${h.lastRun.result === 'failure' ? 'failed' : 'was interrupted'}${h.lastRun.message ? `: ${h.lastRun.message}` : ''}`]);
  for (const c of h?.damagedChains ?? []) problems.push(['critical', `chain ${c.chain} is damaged: ${c.problems.join('; ')}`]);
  const verify = pickDomainVerify(d.chains);
  if (verify?.result === 'failed') problems.push(['critical', `last verify failed (${verify.chain})`]);
  const boot = h?.lastBootVerify;
  const bootProof = boot && describeBootProof(boot, d.bootScreenshot, t.bootMaxAge, now);
  if (d.error === undefined) problems.push(...judgeBootProof(bootProof, t.bootMaxAge, now));
  const points = d.chains.flatMap((c) => c.points);
  const runs = listRuns(d.chains);
  return {
    host: folder.host,
    output: folder.output,
    domain: d.domain,
    state: problems.reduce<RowState>((s, [p]) => worse(s, p), 'ok'),
    problems: problems.map(([, p]) => p),
    tags: libvirt?.tags,
    libvirtState: libvirt?.state,
    engine,
    lastGood,
    restorePoints: points.length,
    chains: d.chains.length,
    sizeOnDisk: d.chains.reduce((n, c) => n + c.sizeOnDisk, 0),
    lastVerify: verify && { time: verify.time, ok: verify.result === 'ok', chain: verify.chain },
    bootProof,
    protectedPoints: points.filter((p) => p.protected).length,
    labels: [...new Set(points.map((p) => p.label).filter((l): l is string => l !== undefined))],
    runs: runs.slice(0, 10),
    failures: runs.filter((r) => r.result !== 'success').map((r) => r.time),
    phaseRuns: runs
      .filter((r) => r.phases !== undefined && r.phases.length > 0)
      .slice(0, PHASE_RUNS)
      .reverse()
      .map((r) => ({ time: r.time, label: r.note.split(' ')[0]!, phases: r.phases! })),
    timeline: d.chains.map((c) => {
      const bytes = pointFileBytes(c);
      return { folder: c.folder, points: c.points.map((p, i) => ({ time: p.time, level: p.level, bytes: bytes[i]! })) };
    }),
    error: d.error,
  };
}

/** The row's boot proof: when, which point, its result, whether it is older than the limit, and its screenshot shrunk. */
export function describeBootProof(b: DomainBootVerify, screenshot: ReportDomainData['bootScreenshot'], limit: Duration | undefined, now: Date): BootProofCell {
  const cell: BootProofCell = {
    time: b.time,
    ok: b.result === 'ok',
    point: `${b.chain}/${b.checkpoint}`,
    evidence: `${join(b.chain, evidenceFolder(b.checkpoint))}/`,
    reason: b.reason,
    firstAnswerSeconds: b.firstAnswerSeconds,
    stale: limit !== undefined && Date.parse(b.time) < subtractDuration(now, limit).getTime(),
  };
  if (screenshot && 'error' in screenshot) return { ...cell, screenshotProblem: `the screenshot cannot be read: ${screenshot.error}` };
  if (!screenshot) return cell;
  try {
    // verify --boot made it when it kept the evidence; evidence kept before has the screenshot only.
    const t = 'thumbnail' in screenshot ? readThumbnail(screenshot.thumbnail)! : makeThumbnail(screenshot.png);
    return { ...cell, thumbnail: { dataUri: `data:image/png;base64,${t.png.toString('base64')}`, width: t.width, height: t.height, bytes: t.png.length } };
  } catch (e) {
    if (!(e instanceof ThumbnailError)) throw e;
    return { ...cell, screenshotProblem: `no thumbnail of the screenshot: ${e.message}` };
  }
}

/**
 * What a boot proof adds to the verdict, as `check --boot-max-age` judges it: a failed one is
 * critical, whatever the limit (the point does not boot); with a limit, one older than it or none
 * at all is a warning. Without a limit boot proofs are not expected, and none is no problem.
 */
export function judgeBootProof(b: BootProofCell | undefined, limit: Duration | undefined, now: Date): Array<[RowState, string]> {
  const problems: Array<[RowState, string]> = [];
  if (b && !b.ok) problems.push(['critical', `last boot proof failed (${b.point}: ${b.reason ?? 'no reason recorded'})`]);
  if (!limit) return problems;
  if (!b) problems.push(['warning', `never proved by booting with vmkeep verify --boot (limit ${limit.text})`]);
  else if (b.stale) {
    const age = Math.max(0, Math.round((now.getTime() - Date.parse(b.time)) / 1000));
    problems.push(['warning', `boot proof older than the limit: the last one is ${describeAge(age)} old (limit ${limit.text})`]);
  }
  return problems;
}

/** A domain's runs, newest first: each point recorded (a success) and each recorded failure or interruption. */
function listRuns(chains: ReportDomainData['chains']): RunLine[] {
  const runs: RunLine[] = [
    ...chains.flatMap((c) => {
      const recorded = new Map<string, NonNullable<typeof c.manifest>['points'][number]>();
      for (const x of c.manifest?.points ?? []) if (!recorded.has(x.checkpoint)) recorded.set(x.checkpoint, x);
      return c.points.map((p): RunLine => {
        const m = recorded.get(p.checkpoint);
        return {
          time: p.time,
          result: 'success',
          durationSeconds: m ? m.durationMs / 1000 : null,
          bytes: p.dataBytes ?? null,
          note: `${p.level} ${c.folder}/${p.checkpoint}`,
          ...(m?.phases ? { phases: m.phases } : {}),
        };
      });
    }),
    ...chains.flatMap((c) =>
      (c.manifest?.events ?? [])
        .filter((e) => e.kind === 'failed' || e.kind === 'interrupted')
        .map((e): RunLine => ({ time: e.time, result: e.kind === 'failed' ? 'failure' : 'interrupted', durationSeconds: null, bytes: null, note: e.message })),
    ),
  ];
  // Newest first; each time parsed once (a domain has hundreds of runs, a sort compares thousands of pairs).
  const at = new Map(runs.map((r) => [r, Date.parse(r.time)]));
  runs.sort((a, b) => at.get(b)! - at.get(a)!);
  return runs;
}

/** An output folder's verdict from its forecast. */
export function judgeFolder(f: Pick<ReportFolderData, 'host' | 'output' | 'forecast' | 'forecastError'>, t: ReportThresholds): FolderVerdict {
  const base = { host: f.host, output: f.output };
  if (!f.forecast) return { ...base, state: 'warning', problem: `output folder ${f.output}: free space unknown (${f.forecastError ?? 'not read'})` };
  const days = f.forecast.daysLeft;
  if (days === null) return { ...base, state: 'ok', problem: undefined };
  const problem = `output folder ${f.output} fills in ${Math.floor(days)} days`;
  if (t.minDaysLeft.critical !== undefined && days < t.minDaysLeft.critical) return { ...base, state: 'critical', problem };
  if (days < t.minDaysLeft.warning) return { ...base, state: 'warning', problem };
  return { ...base, state: 'ok', problem: undefined };
}

/** The headline: how many domains are fine, how many need attention and why. */
export function summarizeFleet(rows: readonly ReportRow[], folders: readonly FolderVerdict[]): { state: RowState; headline: string; reasons: string[] } {
  const bad = rows.filter((r) => r.state !== 'ok');
  const state = [...rows.map((r) => r.state), ...folders.map((f) => f.state)].reduce<RowState>(worse, 'ok');
  const reasons = [...bad.map((r) => `${r.host}/${r.domain}: ${r.problems.join('; ')}`), ...folders.flatMap((f) => (f.problem ? [f.problem] : []))];
  const fine = rows.length - bad.length;
  const headline =
    rows.length === 0
      ? 'No domains with backups in the selected output folders.'
      : bad.length === 0
        ? `All ${rows.length} domain${rows.length === 1 ? ' is' : 's are'} fine.`
        : `${fine} domain${fine === 1 ? ' is' : 's are'} fine, ${bad.length} need${bad.length === 1 ? 's' : ''} attention.`;
  return { state, headline, reasons };
}
