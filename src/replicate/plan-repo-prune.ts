/**
 * Retention on the repository side (pure): the repository's point snapshots become chain
 * histories for the same planner `vmkeep prune` uses (src/retention), one domain per
 * `host/domain`; a chain the planner removes is forgotten whole (every snapshot of it), never
 * one point of a chain whose later points still need its data files.
 */
import { parseChainFolderName } from '../repository/index.js';
import { planPrune } from '../retention/plan-prune.js';
import type { DomainHistory, PrunePlan, RetentionChain, RetentionPolicy } from '../retention/types.js';
import type { ExistingSnapshot } from './plan-replicate.js';

export interface RepoPrunePlan {
  plan: PrunePlan;
  /** Per removed chain: `host/domain`, chain, and every snapshot id to forget. */
  forget: Array<{ domain: string; chain: string; snapshots: string[] }>;
}

/** The repository's snapshots as one history per `host/domain`. */
export function repoHistories(snapshots: readonly ExistingSnapshot[]): DomainHistory[] {
  const byDomain = new Map<string, Map<string, ExistingSnapshot[]>>();
  for (const s of snapshots) {
    const d = `${s.point.host}/${s.point.domain}`;
    const chains = byDomain.get(d) ?? new Map<string, ExistingSnapshot[]>();
    byDomain.set(d, chains);
    chains.set(s.point.chain, [...(chains.get(s.point.chain) ?? []), s]);
  }
  return [...byDomain.entries()].map(([domain, chains]) => ({
    domain,
    lastBackupFailed: false,
    chains: [...chains.entries()].map(([chain, snaps]): RetentionChain => {
      const points = snaps
        .map((s) => ({ id: s.point.checkpoint, time: new Date(s.time ?? 0), protected: false }))
        .sort((a, b) => a.time.getTime() - b.time.getTime());
      return { id: chain, domain, periodStart: parseChainFolderName(chain)?.start, state: 'complete', protected: false, points };
    }),
  }));
}

/** Plan repository-side retention: what to forget, chain by chain, with the planner's reasons. */
export function planRepoPrune(snapshots: readonly ExistingSnapshot[], policy: RetentionPolicy, now: Date): RepoPrunePlan {
  const plan = planPrune(repoHistories(snapshots), policy, now);
  const forget = plan.domains.flatMap((d) =>
    d.remove.map((c) => ({
      domain: d.domain,
      chain: c.id,
      snapshots: snapshots.filter((s) => `${s.point.host}/${s.point.domain}` === d.domain && s.point.chain === c.id).map((s) => s.id),
    })),
  );
  return { plan, forget };
}
