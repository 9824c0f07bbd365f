/**
 * The core of the planner for one domain: which chains stay and why, before anything is put
 * into the plan's words. planPrune and simulate share it; simulate needs only the verdicts, not a
 * full plan, on every one of its thousands of runs, so the per-point work here is kept to plain
 * loops over typed arrays and reasons are stored only for the few points a rule selects.
 */
import { VmkeepError } from '../errors.js';
import { judgeByPeriod, type PeriodVerdict } from './period-rule.js';
import { startOfPeriod } from './periods.js';
import { hasAnyRule, hasPointRules } from './policy.js';
import { selectPoints, type Candidates } from './select-points.js';
import type { DomainHistory, PointReason, RetentionChain, RetentionPoint, RetentionPolicy } from './types.js';

/** A chain ready for planning: points sorted oldest first, their times in milliseconds. */
export interface PreparedChain {
  readonly chain: RetentionChain;
  readonly points: readonly RetentionPoint[];
  readonly times: Float64Array;
  readonly periodStartMs: number | undefined;
  /** `protected point <id>` for each protected point, oldest first. */
  readonly protectedReasons: readonly string[];
  /** Times of the points rules may select, newest first, and their indexes in `points`. */
  readonly candidateTimes: Float64Array;
  readonly candidatePoints: Int32Array;
}

/** Prepared chains by chain object, for callers that judge the same chains many times. */
export type PreparedChainCache = WeakMap<RetentionChain, PreparedChain>;

/** Reasons by point index; only points some rule selected are present. */
export type PointReasons = ReadonlyMap<number, readonly string[]>;

/** The planner's verdict on one chain. */
export interface ChainVerdict {
  readonly keep: boolean;
  /** Reasons that keep the chain whatever the rules say (protected, in progress...). */
  readonly safety: readonly string[];
  readonly period: PeriodVerdict;
  /** By index into PreparedChain.points, the reasons rules selected the point. */
  readonly pointReasons: PointReasons;
  /** Why the chain goes, when it does. */
  readonly removal: readonly string[];
}

export interface DomainVerdict {
  readonly chains: readonly PreparedChain[];
  readonly verdicts: readonly ChainVerdict[];
}

const NO_REASONS: PointReasons = new Map();

/**
 * Decide, for one domain's history, which chains stay and why. A cache (valid for one policy
 * only) lets a caller that judges the same chain objects again skip preparing them again.
 */
export function judgeDomain(history: DomainHistory, policy: RetentionPolicy, now: Date, force: boolean, cache?: PreparedChainCache): DomainVerdict {
  if (Number.isNaN(now.getTime())) throw new VmkeepError('failure', 'retention planning needs a valid "now"');
  const recorded = recordedTimes(history);
  // Times corrected for the recording order belong to this history alone: no cache then.
  const chains = prepareChains(history, policy, recorded ? undefined : cache, recorded);
  const pointReasons = selectChainPoints(chains, policy, now);
  const groupBy = policy.vmsnapRule ? policy.groupBy : undefined;
  const periods = groupBy ? judgeByPeriod(periodChains(chains), groupBy, now) : [];
  const newest = findNewestComplete(chains);
  const anchorReason = newest !== undefined && hasNewerFailedChain(chains, newest) ? ANCHOR_PAST_FAILED : ANCHOR;
  const held = [
    ...(history.lastBackupFailed && !force ? ['latest backup failed: nothing pruned'] : []),
    ...(hasAnyRule(policy) ? [] : ['no retention rule configured: nothing pruned']),
  ];
  const pointRules = hasPointRules(policy);
  const verdicts = chains.map((prepared, c) =>
    judgeChain(prepared, c === newest ? anchorReason : undefined, held, periods[c], pointReasons[c] ?? NO_REASONS, pointRules),
  );
  return { chains, verdicts };
}

const ANCHOR = 'newest complete chain';
const ANCHOR_PAST_FAILED = 'newest complete chain that passed or was not yet failed by verify';

/** Did verify fail a complete chain at least as new as the anchor (so the anchor stepped past it)? */
function hasNewerFailedChain(chains: readonly PreparedChain[], anchor: number): boolean {
  const anchorTime = newestTime(chains[anchor]!);
  return chains.some((c) => isVerifyFailed(c) && c.chain.state === 'complete' && newestTime(c) >= anchorTime);
}

function isVerifyFailed({ chain }: PreparedChain): boolean {
  return chain.verifyFailedAt !== undefined;
}

/** A chain verify failed is no complete chain to the period rule: it must not let older periods go. */
function periodChains(chains: readonly PreparedChain[]) {
  return chains.map((c) => ({ state: isVerifyFailed(c) ? ('broken' as const) : c.chain.state, periodStartMs: c.periodStartMs }));
}

function judgeChain(
  prepared: PreparedChain,
  anchorReason: string | undefined,
  held: readonly string[],
  period: PeriodVerdict,
  pointReasons: PointReasons,
  pointRules: boolean,
): ChainVerdict {
  const safety = [...held, ...safetyReasons(prepared, anchorReason)];
  const keep = safety.length > 0 || (period !== undefined && 'keep' in period) || pointReasons.size > 0;
  const removal = keep ? [] : removalReasons(prepared, period, pointRules);
  return { keep, safety, period, pointReasons, removal };
}

function safetyReasons({ chain, protectedReasons }: PreparedChain, anchorReason: string | undefined): string[] {
  return [
    ...(chain.verifyFailedAt ? [verifyFailedReason(chain.verifyFailedAt)] : []),
    ...(chain.damaged !== undefined ? [`damaged (${chain.damaged}): kept for inspection; remove it by hand after checking`] : []),
    ...(anchorReason !== undefined ? [anchorReason] : []),
    ...(chain.state === 'in-progress' ? ['in progress'] : []),
    ...(chain.protected ? ['protected'] : []),
    ...protectedReasons,
  ];
}

/** Why prune holds a chain verify failed: its earlier points may still restore, a person decides. */
export function verifyFailedReason(time: Date): string {
  return `failed its last verify on ${time.toISOString()}: kept for inspection; remove it by hand after checking`;
}

/** The points whose selection keeps a chain, newest first, with each rule's reason. */
export function listKeptBy({ points }: PreparedChain, { pointReasons }: ChainVerdict): PointReason[] {
  const newestFirst = [...pointReasons.keys()].sort((a, b) => b - a);
  return newestFirst.flatMap((p) => pointReasons.get(p)!.map((reason) => ({ pointId: points[p]!.id, reason })));
}

function removalReasons({ chain }: PreparedChain, period: PeriodVerdict, pointRules: boolean): string[] {
  const note = period !== undefined && 'note' in period ? [period.note] : [];
  if (chain.state === 'broken') return [...note, 'broken chain: its points count toward no rule'];
  if (note.length > 0 && !pointRules) return note;
  return [...note, 'not selected by any rule'];
}

/**
 * Point rules see every point of chains that are not broken, except protected points (kept
 * anyway, and they must not use up a keep-N slot). The points of a broken chain, or of one
 * verify failed, are not restore points anyone should count on, so they take no slot either.
 */
function selectChainPoints(chains: readonly PreparedChain[], policy: RetentionPolicy, now: Date): Map<number, string[]>[] {
  const perChain: Map<number, string[]>[] = [];
  const candidates = listCandidatesNewestFirst(chains);
  for (const [i, reasons] of selectPoints(candidates.times, policy, now)) {
    const { chain, point } = candidates.locate(i);
    (perChain[chain] ??= new Map()).set(point, reasons);
  }
  return perChain;
}

/** Every chain's candidates in one list, newest first, and where candidate i comes from. */
interface IndexedCandidates extends Candidates {
  locate(i: number): { chain: number; point: number };
}

function listCandidatesNewestFirst(chains: readonly PreparedChain[]): IndexedCandidates {
  // Chains rarely overlap in time: then, walked backwards, they are already newest first and
  // only the times need copying (this runs once per simulated run, over the whole history).
  return chainsFollowEachOther(chains) ? concatenateCandidates(chains) : sortCandidates(chains);
}

/** Does every chain's oldest candidate come after the previous chain's newest? */
function chainsFollowEachOther(chains: readonly PreparedChain[]): boolean {
  let newestBefore = Number.NEGATIVE_INFINITY;
  for (const { candidateTimes } of chains) {
    if (candidateTimes.length === 0) continue;
    if (candidateTimes[candidateTimes.length - 1]! < newestBefore) return false;
    newestBefore = candidateTimes[0]!;
  }
  return true;
}

function concatenateCandidates(chains: readonly PreparedChain[]): IndexedCandidates {
  const size = chains.reduce((n, c) => n + c.candidateTimes.length, 0);
  const times = new Float64Array(size);
  // starts[k]: where chain chains.length-1-k begins in `times`.
  const starts = new Int32Array(chains.length);
  let offset = 0;
  for (let c = chains.length - 1; c >= 0; c--) {
    starts[chains.length - 1 - c] = offset;
    times.set(chains[c]!.candidateTimes, offset);
    offset += chains[c]!.candidateTimes.length;
  }
  const locate = (i: number) => {
    const k = lastStartAtOrBefore(starts, i);
    const chain = chains.length - 1 - k;
    return { chain, point: chains[chain]!.candidatePoints[i - starts[k]!]! };
  };
  return { times, locate };
}

/**
 * The segment holding candidate i: the last one starting at or before i. An empty segment
 * shares its start with the next one, so the last such segment is never empty.
 */
function lastStartAtOrBefore(starts: Int32Array, i: number): number {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >>> 1;
    if (starts[mid]! <= i) low = mid;
    else high = mid - 1;
  }
  return low;
}

function sortCandidates(chains: readonly PreparedChain[]): IndexedCandidates {
  const entries: { time: number; chain: number; point: number }[] = [];
  chains.forEach(({ candidateTimes, candidatePoints }, chain) => {
    candidateTimes.forEach((time, k) => entries.push({ time, chain, point: candidatePoints[k]! }));
  });
  // Ties fall back to positions in the prepared (sorted) chains, so input order never matters.
  entries.sort((a, b) => b.time - a.time || b.chain - a.chain || b.point - a.point);
  return { times: Float64Array.from(entries, (e) => e.time), locate: (i) => entries[i]! };
}

/**
 * The complete chain holding the newest point, among those verify did not fail (a failed one is
 * no restore anyone should count on). A complete chain without points holds no restore point, so
 * it counts only when no complete chain has any (then by its period).
 */
function findNewestComplete(chains: readonly PreparedChain[]): number | undefined {
  const complete = chains.flatMap((c, i) => (c.chain.state === 'complete' && !isVerifyFailed(c) ? [i] : []));
  const withPoints = complete.filter((i) => chains[i]!.times.length > 0);
  const pool = withPoints.length > 0 ? withPoints : complete;
  // Chains are sorted, so on a tie the later one in that order wins: deterministic.
  return pool.reduce<number | undefined>((best, i) => (best === undefined || newestTime(chains[i]!) >= newestTime(chains[best]!) ? i : best), undefined);
}

function newestTime({ times, periodStartMs }: PreparedChain): number {
  return times.at(-1) ?? periodStartMs ?? Number.NEGATIVE_INFINITY;
}

/** The time the rules see for each point; the point's own date unless the recording order says otherwise. */
type TimeOf = (point: RetentionPoint) => number;

const dateOf: TimeOf = (point) => point.time.getTime();

/**
 * Times the rules see when some points carry their place in the recording order: walking back
 * from the point recorded last, each point is at least a millisecond older than the one recorded
 * after it. Dates that agree with the order stay as they are; a point dated in the future but
 * recorded before today's takes a time just before today's, so it never wins a slot over it.
 * Undefined when no point is numbered (then dates alone decide, as before).
 */
function recordedTimes(history: DomainHistory): TimeOf | undefined {
  const all = history.chains.flatMap((c) => c.points);
  if (!all.some((p) => p.sequence !== undefined)) return undefined;
  const order = [...all].sort(compareRecording);
  const times = new Map<RetentionPoint, number>();
  let bound = Number.POSITIVE_INFINITY;
  for (let i = order.length - 1; i >= 0; i--) {
    const point = order[i]!;
    const time = Math.min(point.time.getTime(), bound);
    times.set(point, time);
    bound = time - 1;
  }
  return (point) => times.get(point) ?? point.time.getTime();
}

/** Recording order: numbered points by number, after every unnumbered one; unnumbered by date. */
function compareRecording(a: RetentionPoint, b: RetentionPoint): number {
  if (a.sequence !== undefined && b.sequence !== undefined) return a.sequence - b.sequence || a.time.getTime() - b.time.getTime();
  if (a.sequence !== undefined) return 1;
  if (b.sequence !== undefined) return -1;
  return a.time.getTime() - b.time.getTime() || compareText(a.id, b.id);
}

/** Sort chains (oldest first, then by id) and their points, so input order never matters. */
function prepareChains(history: DomainHistory, policy: RetentionPolicy, cache?: PreparedChainCache, timeOf: TimeOf = dateOf): PreparedChain[] {
  const prepared = history.chains.map((chain) => {
    const cached = cache?.get(chain);
    if (cached) return cached;
    const fresh = prepareChain(chain, policy, timeOf);
    cache?.set(chain, fresh);
    return fresh;
  });
  prepared.sort((a, b) => chainStart(a) - chainStart(b) || compareText(a.chain.id, b.chain.id));
  prepared.forEach((p, i) => {
    if (i > 0 && p.chain.id === prepared[i - 1]!.chain.id) {
      throw new VmkeepError('failure', `domain ${history.domain} lists chain ${p.chain.id} twice`);
    }
  });
  return prepared;
}

function prepareChain(chain: RetentionChain, policy: RetentionPolicy, timeOf: TimeOf): PreparedChain {
  const points = isSortedByTime(chain.points, timeOf) ? chain.points : [...chain.points].sort((a, b) => comparePoints(a, b, timeOf));
  const times = new Float64Array(points.length);
  const protectedReasons: string[] = [];
  for (let p = 0; p < points.length; p++) {
    times[p] = timeOf(points[p]!);
    if (Number.isNaN(times[p])) {
      throw new VmkeepError('failure', `chain ${chain.id} has point ${points[p]!.id} with an invalid time`);
    }
    if (points[p]!.protected) protectedReasons.push(`protected point ${points[p]!.id}`);
  }
  const anchor = chain.periodStart ?? points[0]?.time;
  const periodStartMs = policy.groupBy && anchor ? startOfPeriod(anchor, policy.groupBy).getTime() : undefined;
  const usable = chain.state === 'broken' || chain.verifyFailedAt ? 0 : points.length - protectedReasons.length;
  const candidates = listChainCandidates(points, times, usable);
  return { chain, points, times, periodStartMs, protectedReasons, ...candidates };
}

/** The `usable` points of a chain that rules may select, newest first (see selectChainPoints). */
function listChainCandidates(points: readonly RetentionPoint[], times: Float64Array, usable: number) {
  const candidateTimes = new Float64Array(usable);
  const candidatePoints = new Int32Array(usable);
  // Plain loops: TypedArray.from with a mapping function is many times slower in V8.
  for (let p = points.length - 1, k = 0; k < usable; p--) {
    if (points[p]!.protected) continue;
    candidateTimes[k] = times[p]!;
    candidatePoints[k] = p;
    k++;
  }
  return { candidateTimes, candidatePoints };
}

function chainStart(prepared: PreparedChain): number {
  return prepared.times[0] ?? prepared.chain.periodStart?.getTime() ?? Number.POSITIVE_INFINITY;
}

function isSortedByTime(points: readonly RetentionPoint[], timeOf: TimeOf): boolean {
  let before = points[0] ? timeOf(points[0]) : 0;
  for (let i = 1; i < points.length; i++) {
    const time = timeOf(points[i]!);
    if (time < before || (time === before && compareText(points[i - 1]!.id, points[i]!.id) > 0)) return false;
    before = time;
  }
  return true;
}

function comparePoints(a: RetentionPoint, b: RetentionPoint, timeOf: TimeOf): number {
  return timeOf(a) - timeOf(b) || compareText(a.id, b.id);
}

/** Locale-free comparison: the same order on every machine. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
