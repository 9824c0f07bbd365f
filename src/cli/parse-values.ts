/** Parsers for option values that several commands share (usage errors on bad input). */
import { usageError } from '../errors.js';
import { GROUP_BY_VALUES } from '../retention/periods.js';
import type { GroupBy } from '../retention/types.js';

const MAX_LOCK_WAIT_S = 604_800;

/** --lock-wait SECONDS → ms. */
export function parseLockWait(value: unknown): number {
  const n = typeof value === 'string' && value.trim() === '' ? NaN : Number(value ?? 0);
  // A week at most: longer is a typo, and timers past 24.8 days fire at once.
  if (!Number.isFinite(n) || n < 0 || n > MAX_LOCK_WAIT_S)
    throw usageError(`--lock-wait needs seconds from 0 to ${MAX_LOCK_WAIT_S}, got ${JSON.stringify(value)}`);
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

/** Warning and critical days before an output folder is full. */
export interface DaysLeftThresholds {
  warning: number;
  critical: number | undefined;
}

/** `--min-days-left 10` or `10,5`: days, the critical one below the warning one. */
export function parseDaysLeft(text: string): DaysLeftThresholds {
  const parts = text.split(',').map((p) => p.trim());
  const nums = parts.map((p) => (/^\d+(\.\d+)?$/.test(p) ? Number(p) : NaN));
  if (parts.length > 2 || nums.some((n) => Number.isNaN(n)))
    throw usageError(`bad --min-days-left ${JSON.stringify(text)}: expected DAYS or WARNING,CRITICAL days, e.g. 14,7`);
  const [warning, critical] = nums as [number, number | undefined];
  if (critical !== undefined && critical >= warning)
    throw usageError(`--min-days-left ${text}: the critical days (${critical}) must be fewer than the warning days (${warning}) (swapped?)`);
  return { warning, critical };
}
