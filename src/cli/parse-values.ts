/** Parsers for option values that several commands share (usage errors on bad input). */
import { usageError } from '../errors.js';
import { parseDuration } from '../retention/duration.js';
import type { Duration } from '../retention/types.js';

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

/** The output folder's days-left thresholds: the flag's, else the config's check.minDaysLeft ("14,7" or 14), else none. */
export function minDaysLeftOf(flag: unknown, config: string | number | undefined): DaysLeftThresholds | undefined {
  const value = flag ?? config;
  return value === undefined ? undefined : parseDaysLeft(String(value));
}

/** The boot proof age limit: the flag's (already parsed), else the config's check.bootMaxAge, else none. */
export function bootMaxAgeOf(flag: unknown, config: string | undefined): Duration | undefined {
  if (flag !== undefined) return flag as Duration;
  return config === undefined ? undefined : parseDuration(config, 'check.bootMaxAge');
}
