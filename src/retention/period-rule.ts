/**
 * VMSnap's period rule, judged per chain: the current period's chains stay; the previous
 * period's chains stay until the current period is 15/45/90/180 days old; and nothing is
 * dropped before the domain has a complete chain in the current period.
 */
import { endOfGrace, GRACE_DAYS, periodAdjective, startOfPeriod, startOfPreviousPeriod } from './periods.js';
import type { ChainState, GroupBy } from './types.js';

/** What the rule needs of a chain: its state and the start of its period (undefined: unknown). */
export interface PeriodChain {
  readonly state: ChainState;
  readonly periodStartMs: number | undefined;
}

/** The rule's word on a chain: a reason to keep it, or a note on why it does not. */
export type PeriodVerdict = { readonly keep: string } | { readonly note: string } | undefined;

/** Judge each chain of one domain by VMSnap's period rule. */
export function judgeByPeriod(chains: readonly PeriodChain[], groupBy: GroupBy, now: Date): PeriodVerdict[] {
  const current = startOfPeriod(now, groupBy).getTime();
  const previous = startOfPreviousPeriod(new Date(current), groupBy).getTime();
  const graceOver = now.getTime() >= endOfGrace(new Date(current), groupBy).getTime();
  const hasCompleteCurrent = chains.some((c) => c.state === 'complete' && c.periodStartMs === current);
  const adjective = periodAdjective(groupBy);
  const grace = GRACE_DAYS[groupBy];
  return chains.map(({ periodStartMs: period }): PeriodVerdict => {
    if (period === undefined) return undefined;
    if (period > current) return { keep: `${adjective} period starts after now` };
    if (period === current) return { keep: `current ${adjective} period` };
    if (!hasCompleteCurrent) return { keep: `no complete chain in the current ${adjective} period yet` };
    if (graceOver) return { note: `older than the current ${adjective} period by ${grace}+ days` };
    if (period === previous) {
      return { keep: `previous ${adjective} period, until the current one is ${grace} days old` };
    }
    return { note: `older than the previous ${adjective} period` };
  });
}
