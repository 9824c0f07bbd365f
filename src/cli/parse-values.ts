/** Parsers for option values that several commands share (usage errors on bad input). */
import { usageError } from '../errors.js';
import { GROUP_BY_VALUES } from '../retention/periods.js';
import type { GroupBy } from '../retention/types.js';

/** --lock-wait SECONDS → ms. */
export function parseLockWait(value: unknown): number {
  const n = Number(value ?? 0);
  if (!Number.isFinite(n) || n < 0) throw usageError(`--lock-wait needs a number of seconds, got ${JSON.stringify(value)}`);
  return Math.round(n * 1000);
}

/** --groupBy month|quarter|bi-annual|year (VMSnap also wrote bi-annually). */
export function parseGroupBy(value: unknown): GroupBy {
  const v = String(value ?? 'month').trim();
  const normalised = v === 'bi-annually' || v === 'biannual' ? 'bi-annual' : v;
  if (!(GROUP_BY_VALUES as readonly string[]).includes(normalised)) {
    throw usageError(`--groupBy must be one of ${GROUP_BY_VALUES.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return normalised as GroupBy;
}
