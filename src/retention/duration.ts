/**
 * Durations as users write them for retention: `4h`, `3d`, `2w`, `1m` (month), `1y`, and
 * combinations in that order such as `1y6m` or `1d12h`.
 */
import { add, sub } from 'date-fns';
import { usageError } from '../errors.js';
import type { Duration } from './types.js';

const UNITS = ['y', 'm', 'w', 'd', 'h'] as const;
const DURATION_PATTERN = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?$/;
const HOURS_PER_UNIT = { y: 365 * 24, m: 30 * 24, w: 7 * 24, d: 24, h: 1 } as const;

/** Parse `3d`, `1m`, `1d12h`...; `what` names the option in the error message. */
export function parseDuration(text: string, what = 'duration'): Duration {
  const trimmed = typeof text === 'string' ? text.trim() : '';
  const match = DURATION_PATTERN.exec(trimmed);
  if (trimmed === '' || !match) {
    throw usageError(`bad ${what} ${JSON.stringify(text)}: use a number and a unit h, d, w, m (month) or y, e.g. 3d or 1d12h`);
  }
  const [years, months, weeks, days, hours] = match.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number, number];
  if (![years, months, weeks, days, hours].every(Number.isSafeInteger)) {
    throw usageError(`bad ${what} ${JSON.stringify(text)}: the number is too large`);
  }
  // Past 1000 years dates overflow and comparisons quietly fail: a typo, not a policy.
  const approxHours = years * 8766 + months * 730.5 + weeks * 168 + days * 24 + hours;
  if (approxHours > 1000 * 8766) throw usageError(`bad ${what} ${JSON.stringify(text)}: longer than 1000 years`);
  return makeDuration({ years, months, weeks, days, hours });
}

/** Build a frozen duration with its normalised spelling. */
function makeDuration(parts: Partial<Omit<Duration, 'text'>>): Duration {
  const values = {
    years: parts.years ?? 0,
    months: parts.months ?? 0,
    weeks: parts.weeks ?? 0,
    days: parts.days ?? 0,
    hours: parts.hours ?? 0,
  };
  const amounts = [values.years, values.months, values.weeks, values.days, values.hours];
  const text = amounts.map((n, i) => (n > 0 ? `${n}${UNITS[i]}` : '')).join('') || '0d';
  return Object.freeze({ ...values, text });
}

/** Is this a zero length (as in do-snapshot's `0d:AGE`, "keep nothing")? */
export function isZeroDuration(duration: Duration): boolean {
  return nominalHours(duration) === 0;
}

/** The date `times` × `duration` after `date`, following the local calendar. */
export function addDuration(date: Date | number, duration: Duration, times = 1): Date {
  return add(date, durationObject(duration, times));
}

/** The date `duration` before `date`, following the local calendar. */
export function subtractDuration(date: Date | number, duration: Duration): Date {
  return sub(date, durationObject(duration));
}

/**
 * Length in hours with a month as 30 days and a year as 365: only for ordering and comparing
 * rules (which tier is younger), never for cutting dates.
 */
export function nominalHours(duration: Duration): number {
  return (
    duration.years * HOURS_PER_UNIT.y +
    duration.months * HOURS_PER_UNIT.m +
    duration.weeks * HOURS_PER_UNIT.w +
    duration.days * HOURS_PER_UNIT.d +
    duration.hours * HOURS_PER_UNIT.h
  );
}

function durationObject(duration: Duration, times = 1) {
  return {
    years: duration.years * times,
    months: duration.months * times,
    weeks: duration.weeks * times,
    days: duration.days * times,
    hours: duration.hours * times,
  };
}
