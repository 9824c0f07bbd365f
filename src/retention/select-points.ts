/**
 * Point rules: keep-last/hourly/daily/weekly/monthly/yearly (restic semantics), keep-within and
 * do-snapshot tiers. Each rule looks at the same candidate points on its own and records the
 * points it selects; the caller ORs them (see index.ts for why).
 *
 * Candidates are given as times in milliseconds, newest first. A rule records its reason for
 * candidate i under i.
 */
import { startOfDay, startOfHour, startOfISOWeek, startOfMonth, startOfYear } from 'date-fns';
import { addDuration, isZeroDuration, subtractDuration } from './duration.js';
import { COUNT_RULES, type CountRuleKey } from './policy.js';
import type { KeepTier, RetentionPolicy } from './types.js';

/** The points rules choose from: their times in milliseconds, newest first. */
export interface Candidates {
  readonly times: Float64Array;
}

/** Reasons by candidate index; a candidate no rule selected is absent. */
export type CandidateReasons = Map<number, string[]>;

type BucketOf = ((ms: number) => number) | undefined;

// Local-time buckets; ISO weeks start on Monday. keep-last has no bucket: every point is its own.
const BUCKET_OF: Readonly<Record<CountRuleKey, BucketOf>> = {
  keepLast: undefined,
  keepHourly: (ms) => startOfHour(ms).getTime(),
  keepDaily: (ms) => startOfDay(ms).getTime(),
  keepWeekly: (ms) => startOfISOWeek(ms).getTime(),
  keepMonthly: (ms) => startOfMonth(ms).getTime(),
  keepYearly: (ms) => startOfYear(ms).getTime(),
};

/** Run every point rule of the policy over the candidates (times newest first). */
export function selectPoints(times: Float64Array, policy: RetentionPolicy, now: Date): CandidateReasons {
  const reasons: CandidateReasons = new Map();
  for (const { key, name } of COUNT_RULES) {
    const count = policy[key] ?? 0;
    if (count > 0) selectNewestPerBucket(times, reasons, name, count, BUCKET_OF[key]);
  }
  if (policy.keepWithin) {
    const cutoff = subtractDuration(now, policy.keepWithin).getTime();
    selectNewerThan(times, reasons, cutoff, `within ${policy.keepWithin.text}`);
  }
  const tiers = policy.keepTiers ?? [];
  if (tiers.length > 0) selectByTiers(times, reasons, tiers, now);
  return reasons;
}

function addReason(reasons: CandidateReasons, index: number, reason: string): void {
  const list = reasons.get(index);
  if (list) list.push(reason);
  else reasons.set(index, [reason]);
}

/** The first index at or after `from` whose time is before `limit` (times newest first). */
function firstBefore(times: Float64Array, limit: number, from: number): number {
  let low = from;
  let high = times.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (times[mid]! < limit) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** restic's rule: walking from the newest, keep the first point of each new bucket, `count` buckets. */
function selectNewestPerBucket(times: Float64Array, reasons: CandidateReasons, name: string, count: number, bucketOf: BucketOf): void {
  let taken = 0;
  let i = 0;
  while (i < times.length && taken < count) {
    taken++;
    addReason(reasons, i, `${name} ${taken}/${count}`);
    // The rest of the bucket is skipped by binary search: the calendar is asked once per bucket.
    i = bucketOf ? firstBefore(times, bucketOf(times[i]!), i) : i + 1;
  }
}

function selectNewerThan(times: Float64Array, reasons: CandidateReasons, cutoff: number, reason: string): void {
  for (let i = 0; i < times.length && times[i]! > cutoff; i++) addReason(reasons, i, reason);
}

/**
 * do-snapshot tiers, youngest AGE first, each pass thinning what the younger passes left:
 * among the survivors older than AGE, walking from the oldest, keep a point when it is at least
 * INTERVAL after the last one kept (`0d` keeps none). Walking from the oldest lets kept points
 * stay kept as new points age into the tier. Points younger than every AGE are not thinned.
 */
function selectByTiers(times: Float64Array, reasons: CandidateReasons, tiers: readonly KeepTier[], now: Date): void {
  const cutoffs = tiers.map((tier) => subtractDuration(now, tier.age).getTime());
  const alive = new Uint8Array(times.length).fill(1);
  tiers.forEach((tier, t) => thinTier(times, alive, tier, cutoffs[t]!));
  const young = `younger than ${tiers[0]!.age.text} (no tier thins it yet)`;
  const tierReasons = tiers.map((tier) => `tier ${tier.text}`);
  for (let i = 0; i < times.length; i++) {
    const ms = times[i]!;
    if (ms > cutoffs[0]!) addReason(reasons, i, young);
    else if (alive[i]) addReason(reasons, i, tierReasons[oldestTierFor(ms, cutoffs)]!);
  }
}

function thinTier(times: Float64Array, alive: Uint8Array, tier: KeepTier, cutoff: number): void {
  const keepNone = isZeroDuration(tier.interval);
  let nextAllowed = Number.NEGATIVE_INFINITY;
  for (let i = times.length - 1; i >= 0 && times[i]! <= cutoff; i--) {
    if (!alive[i]) continue;
    const ms = times[i]!;
    if (keepNone || ms < nextAllowed) {
      alive[i] = 0;
    } else {
      nextAllowed = addDuration(ms, tier.interval).getTime();
    }
  }
}

/** Index of the oldest tier whose AGE the point has reached (tiers youngest first). */
function oldestTierFor(ms: number, cutoffs: readonly number[]): number {
  for (let t = cutoffs.length - 1; t > 0; t--) if (ms <= cutoffs[t]!) return t;
  return 0;
}
