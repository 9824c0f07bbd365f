/** `backup --prune`: VMSnap's period rule, applied to one domain after its backup succeeded. */
import type { AppContext } from '../app/context.js';
import { parsePolicy } from '../retention/policy.js';
import { planPrune } from '../retention/plan-prune.js';
import type { GroupBy, PruneOutcome, RetentionPolicy } from '../retention/types.js';
import { executePrune, finishInterruptedRemovals } from './execute-prune.js';
import { readHistories } from './history.js';

export type { PruneOutcome };

/** Only called after this run completed a backup of the domain in the current period. */
export async function pruneAfterBackup(
  ctx: AppContext,
  domain: string,
  output: string,
  groupBy: GroupBy,
  policy: RetentionPolicy = parsePolicy({ groupBy, vmsnapRule: true }),
): Promise<PruneOutcome> {
  // A chain folder an interrupted prune left half-deleted still fills the disk: finish it first.
  const finished = await finishInterruptedRemovals(output, [domain], ctx.log);
  const { histories, chains } = await readHistories(output, [domain]);
  const plan = planPrune(histories, policy, ctx.now());
  const done = await executePrune(plan, chains, ctx.log, ctx.faults, ctx.now);
  return {
    removed: [...finished.map((f) => `${f.domain}/${f.name} (left by an interrupted prune)`), ...done.removed],
    kept: plan.domains.flatMap((d) => d.keep.map((k) => `${d.domain}/${k.id}`)),
    failed: done.failed,
  };
}
