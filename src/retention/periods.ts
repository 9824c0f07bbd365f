/**
 * Backup periods (VMSnap's `--groupBy`): which period a date falls in, the period before it,
 * and how long the previous period's chains survive into the current one.
 */
import { addDays, format, startOfMonth, startOfQuarter, startOfYear, subMonths } from 'date-fns';
import type { GroupBy } from './types.js';

export const GROUP_BY_VALUES: readonly GroupBy[] = Object.freeze(['month', 'quarter', 'bi-annual', 'year']);

const MONTHS_PER_PERIOD: Readonly<Record<GroupBy, number>> = { month: 1, quarter: 3, 'bi-annual': 6, year: 12 };

/** VMSnap's grace: the previous period's chains go once the current period is this many days old. */
export const GRACE_DAYS: Readonly<Record<GroupBy, number>> = Object.freeze({
  month: 15,
  quarter: 45,
  'bi-annual': 90,
  year: 180,
});

const ADJECTIVE: Readonly<Record<GroupBy, string>> = {
  month: 'monthly',
  quarter: 'quarterly',
  'bi-annual': 'bi-annual',
  year: 'yearly',
};

/** Start (local midnight) of the period containing `date`. */
export function startOfPeriod(date: Date | number, groupBy: GroupBy): Date {
  switch (groupBy) {
    case 'month':
      return startOfMonth(date);
    case 'quarter':
      return startOfQuarter(date);
    case 'bi-annual': {
      const month = startOfMonth(date);
      return subMonths(month, month.getMonth() % 6);
    }
    case 'year':
      return startOfYear(date);
  }
}

/** Start of the period before the one starting at `periodStart`. */
export function startOfPreviousPeriod(periodStart: Date, groupBy: GroupBy): Date {
  return subMonths(periodStart, MONTHS_PER_PERIOD[groupBy]);
}

/** The moment the previous period's chains stop being kept by the VMSnap rule. */
export function endOfGrace(currentPeriodStart: Date, groupBy: GroupBy): Date {
  return addDays(currentPeriodStart, GRACE_DAYS[groupBy]);
}

/** `monthly`, `quarterly`, `bi-annual`, `yearly`: for messages and chain names. */
export function periodAdjective(groupBy: GroupBy): string {
  return ADJECTIVE[groupBy];
}

/** A short name of the period starting at `periodStart`: `2026-11`, `2026-Q4`, `2026-H2`, `2026`. */
export function periodLabel(periodStart: Date, groupBy: GroupBy): string {
  switch (groupBy) {
    case 'month':
      return format(periodStart, 'yyyy-MM');
    case 'quarter':
      return format(periodStart, "yyyy-'Q'Q");
    case 'bi-annual':
      return `${format(periodStart, 'yyyy')}-H${periodStart.getMonth() < 6 ? 1 : 2}`;
    case 'year':
      return format(periodStart, 'yyyy');
  }
}
