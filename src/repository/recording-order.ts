/**
 * Which point is newest: the one recorded last, not the one with the latest date. A point's time
 * is the host clock at the start of its run; a clock that ran ahead and was put right dates
 * points in the future, and by date alone they would stay "newest" for weeks (prune would keep
 * them over today's backup, restore would pick them by default). Each point records its place in
 * the domain's sequence (`sequence`, counted per output folder); points recorded before vmkeep
 * kept one come first, in date order.
 */

/** Anything recorded as a restore point: its time, and its place in the domain's sequence if known. */
export interface RecordedPoint {
  time: string;
  sequence?: number | undefined;
}

/** How far ahead of now a point's date may be before it counts as dated in the future (clock drift, NTP steps). */
export const FUTURE_SLACK_MS = 5 * 60_000;

/** Order of recording: by sequence where both have one; one without was recorded before any with one; else by time. */
export function compareRecorded(a: RecordedPoint, b: RecordedPoint): number {
  if (a.sequence !== undefined && b.sequence !== undefined) return a.sequence - b.sequence || Date.parse(a.time) - Date.parse(b.time);
  if (a.sequence !== undefined) return 1;
  if (b.sequence !== undefined) return -1;
  return Date.parse(a.time) - Date.parse(b.time);
}

/** The point recorded last (on a tie, the later one in the list). */
export function findLastRecorded<T extends RecordedPoint>(points: Iterable<T>): T | undefined {
  let last: T | undefined;
  for (const p of points) if (!last || compareRecorded(p, last) >= 0) last = p;
  return last;
}

/** The sequence number the next recorded point of the domain gets. */
export function nextSequence(points: Iterable<RecordedPoint>): number {
  let max = 0;
  for (const p of points) if (p.sequence !== undefined && p.sequence > max) max = p.sequence;
  return max + 1;
}

/** Is this point dated later than now (beyond clock drift)? */
export function isDatedInFuture(time: string, now: Date): boolean {
  return Date.parse(time) > now.getTime() + FUTURE_SLACK_MS;
}
