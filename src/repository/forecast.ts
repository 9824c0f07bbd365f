/**
 * The output folder's forecast: how many bytes a day it grows, and when its filesystem is full.
 * Pure: the folder's record of writes and removals in, an estimate out (no fs, no clock).
 *
 * The estimate, per domain, over the last `windowDays` (90) days:
 * - written a day: the Theil-Sen slope (the median of the slopes between every two points) of
 *   the domain's cumulative bytes written, counting the points of chains pruned since. A median
 *   slope is not thrown by one odd run (a full after a period change, a run after a long pause).
 * - removed a day: the bytes prune gave back in the window (its removal record), spread over the
 *   days the domain has history in the window. Retention at work brings the net rate down to zero.
 * The folder's rate is the sum over domains, so a domain added mid-way counts at its own rate
 * from its first backup on, not averaged over days it did not exist. A domain with less than
 * MIN_HISTORY_DAYS of points is left out (named in the basis); a folder with no domain left gets
 * no number: "not enough history".
 */

export const DEFAULT_WINDOW_DAYS = 90;
export const MIN_HISTORY_DAYS = 2;
const DAY_MS = 86_400_000;

/** What one domain's record says: each point's time and bytes, each removal's time and bytes. */
export interface DomainGrowthRecord {
  domain: string;
  /** Every point written: those on disk and those of chains prune removed since. */
  written: ReadonlyArray<{ time: string; bytes: number }>;
  /** What prune gave back. */
  removed: ReadonlyArray<{ time: string; bytes: number }>;
}

export interface ForecastRequest {
  domains: readonly DomainGrowthRecord[];
  /** Bytes the output folder's filesystem still has for vmkeep (statfs bavail). */
  freeBytes: number;
  now: Date;
  windowDays?: number;
}

export interface DomainGrowth {
  domain: string;
  /** Bytes written a day (Theil-Sen); null when the domain has too little history. */
  writtenPerDay: number | null;
  removedPerDay: number | null;
  historyDays: number;
}

export interface OutputForecast {
  /** Net growth: written minus removed, bytes a day; null with "not enough history". */
  bytesPerDay: number | null;
  freeBytes: number;
  /** When the filesystem is full at this rate; null when it does not grow or cannot be told. */
  fullAt: string | null;
  /** Days until fullAt, one decimal; null with fullAt. */
  daysLeft: number | null;
  /** How the number was made, or why there is none, in words. */
  basis: string;
  domains: DomainGrowth[];
}

/** Theil-Sen: the median of the slopes between every two samples with different x. */
export function theilSenSlope(samples: ReadonlyArray<{ x: number; y: number }>): number | null {
  // n² / 2 slopes (4005 for 90 daily points, per domain): a typed array sorts them natively,
  // several times faster than an array of numbers with a comparator.
  const slopes = new Float64Array((samples.length * (samples.length - 1)) / 2);
  let count = 0;
  for (let i = 0; i < samples.length; i++) {
    for (let j = i + 1; j < samples.length; j++) {
      const a = samples[i]!;
      const b = samples[j]!;
      if (b.x !== a.x) slopes[count++] = (b.y - a.y) / (b.x - a.x);
    }
  }
  if (count === 0) return null;
  const sorted = slopes.subarray(0, count).sort();
  const mid = count >> 1;
  return count % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The samples the slope is fitted to: all of them while there are at most two a day, else the
 * first and the last of each day. Theil-Sen's pairs grow with the square of the samples: hourly
 * backups over 90 days are 2,160 samples and 2.3 million slopes (about 0.3 s a domain, paid by
 * every status, check, report and metrics run), the last of each day 91 samples and 4,095 slopes.
 * Each day's last sample holds the day's total, so a daily rate loses nothing by it.
 */
export function fitSamples<T extends { x: number }>(samples: readonly T[], historyDays: number): readonly T[] {
  if (samples.length <= 2 * (Math.ceil(historyDays) + 1)) return samples;
  return samples.filter((s, i) => i === 0 || i === samples.length - 1 || Math.floor(samples[i + 1]!.x) !== Math.floor(s.x));
}

/** One domain's rates over the window. */
export function measureDomainGrowth(record: DomainGrowthRecord, now: Date, windowDays = DEFAULT_WINDOW_DAYS): DomainGrowth {
  const end = now.getTime();
  const start = end - windowDays * DAY_MS;
  const points = record.written
    .map((p) => ({ t: Date.parse(p.time), bytes: p.bytes }))
    .filter((p) => p.t >= start && p.t <= end)
    .sort((a, b) => a.t - b.t);
  const first = points[0]?.t;
  const historyDays = first === undefined ? 0 : (points.at(-1)!.t - first) / DAY_MS;
  if (first === undefined || historyDays < MIN_HISTORY_DAYS) return { domain: record.domain, writtenPerDay: null, removedPerDay: null, historyDays };
  let total = 0;
  const samples = points.map((p) => {
    total += p.bytes;
    return { x: (p.t - first) / DAY_MS, y: total };
  });
  const writtenPerDay = Math.max(0, theilSenSlope(fitSamples(samples, historyDays)) ?? 0);
  const removedBytes = record.removed.filter((r) => Date.parse(r.time) >= first && Date.parse(r.time) <= end).reduce((n, r) => n + r.bytes, 0);
  const removedPerDay = removedBytes / Math.max(MIN_HISTORY_DAYS, (end - first) / DAY_MS);
  return { domain: record.domain, writtenPerDay, removedPerDay, historyDays };
}

const round = (n: number) => Math.round(n);

/** The folder's forecast from its domains' records and its free space. */
export function forecastOutput(request: ForecastRequest): OutputForecast {
  const windowDays = request.windowDays ?? DEFAULT_WINDOW_DAYS;
  const domains = request.domains.map((d) => measureDomainGrowth(d, request.now, windowDays));
  const counted = domains.filter((d) => d.writtenPerDay !== null);
  const young = domains.filter((d) => d.writtenPerDay === null).map((d) => d.domain);
  const base = { freeBytes: request.freeBytes, domains };
  if (counted.length === 0) {
    const longest = Math.max(0, ...domains.map((d) => d.historyDays));
    return {
      ...base,
      bytesPerDay: null,
      fullAt: null,
      daysLeft: null,
      basis: `not enough history: ${longest.toFixed(1)} day(s) of restore points, ${MIN_HISTORY_DAYS} needed`,
    };
  }
  const written = counted.reduce((n, d) => n + d.writtenPerDay!, 0);
  const removed = counted.reduce((n, d) => n + d.removedPerDay!, 0);
  const net = written - removed;
  const left = young.length > 0 ? `; not counted yet (less than ${MIN_HISTORY_DAYS} days of history): ${young.join(', ')}` : '';
  const how = `Theil-Sen fit of bytes written over the last ${windowDays} days by ${counted.length} domain(s), ${round(written)} B/day, less ${round(removed)} B/day removed by prune${left}`;
  if (net <= 0) {
    return { ...base, bytesPerDay: round(net), fullAt: null, daysLeft: null, basis: `${how}: the folder does not grow, prune removes as much as is written` };
  }
  const days = request.freeBytes / net;
  return {
    ...base,
    bytesPerDay: round(net),
    fullAt: new Date(request.now.getTime() + days * DAY_MS).toISOString(),
    daysLeft: Math.floor(days * 10) / 10,
    basis: how,
  };
}

/** Where the next backup's size estimate came from. */
export type NextBackupBasis = 'dirty-bitmap' | 'history' | 'none';

/**
 * The next backup's expected guest data bytes: what QEMU's dirty bitmaps say changed since the
 * latest checkpoint (a running domain), else the median of the domain's recent incrementals
 * (a shut-off domain: its disks do not change until it runs).
 */
export function estimateNextBackup(dirtyBytes: number | undefined, recentIncrementals: readonly number[]): { bytes: number | null; basis: NextBackupBasis } {
  if (dirtyBytes !== undefined) return { bytes: dirtyBytes, basis: 'dirty-bitmap' };
  const last = [...recentIncrementals.slice(-5)].sort((a, b) => a - b);
  if (last.length === 0) return { bytes: null, basis: 'none' };
  const mid = last.length >> 1;
  return { bytes: last.length % 2 === 1 ? last[mid]! : Math.round((last[mid - 1]! + last[mid]!) / 2), basis: 'history' };
}
