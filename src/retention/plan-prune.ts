/**
 * planPrune: the pure retention planner. Histories and a policy in, a plan out that says for
 * every chain and point whether it stays and why. No fs, no runner, no clock.
 */
import { compareText, judgeDomain, listKeptBy, type ChainVerdict, type PreparedChain } from './judge-domain.js';
import { findPolicyWarnings, policyLines } from './policy.js';
import type {
  ChainDecision,
  DomainHistory,
  DomainPlan,
  PlanPruneOptions,
  PointDecision,
  PrunePlan,
  PruneTotals,
  RetentionPolicy,
} from './types.js';

/** Decide which chains of each domain to keep and which to remove, and why. */
export function planPrune(
  histories: readonly DomainHistory[],
  policy: RetentionPolicy,
  now: Date,
  options: PlanPruneOptions = {},
): PrunePlan {
  const force = options.force ?? false;
  const domains = mergeByDomain(histories).map((history) => planDomain(history, policy, now, force));
  const held = domains
    .filter((d) => d.lastBackupFailed && !force)
    .map((d) => `${d.domain}: latest backup failed, nothing pruned (force to prune anyway)`);
  return {
    now: now.toISOString(),
    force,
    policy: policyLines(policy),
    warnings: [...findPolicyWarnings(policy), ...held],
    domains,
    totals: countTotals(domains),
  };
}

function planDomain(history: DomainHistory, policy: RetentionPolicy, now: Date, force: boolean): DomainPlan {
  const { chains, verdicts } = judgeDomain(history, policy, now, force);
  const decisions = chains.map((prepared, c) => describeChain(prepared, verdicts[c]!));
  return {
    domain: history.domain,
    lastBackupFailed: history.lastBackupFailed,
    keep: decisions.filter((d) => d.action === 'keep'),
    remove: decisions.filter((d) => d.action === 'remove'),
  };
}

/** Put a chain verdict into the plan's words. */
function describeChain(prepared: PreparedChain, verdict: ChainVerdict): ChainDecision {
  const { chain, points } = prepared;
  const action = verdict.keep ? 'keep' : 'remove';
  const keptBy = listKeptBy(prepared, verdict);
  const periodKeep = verdict.period !== undefined && 'keep' in verdict.period ? [verdict.period.keep] : [];
  const reasons = verdict.keep
    ? [...verdict.safety, ...periodKeep, ...keptBy.map((k) => `${k.pointId}: ${k.reason}`)]
    : [...verdict.removal];
  const pointDecisions: PointDecision[] = points.map((point, p) => ({
    id: point.id,
    action,
    reasons: describePoint(verdict.pointReasons.get(p), point.protected, verdict.keep),
  }));
  return {
    id: chain.id,
    state: chain.state,
    action,
    reasons,
    keptBy,
    oldest: points[0]?.time.toISOString(),
    newest: points.at(-1)?.time.toISOString(),
    points: pointDecisions,
  };
}

// Most points just follow their chain: share these instead of building 100k equal arrays.
const KEPT_WITH_CHAIN: readonly string[] = Object.freeze(['kept with its chain']);
const REMOVED_WITH_CHAIN: readonly string[] = Object.freeze(['removed with its chain']);

/** A point's own reasons, or that it simply follows its chain. */
export function describePoint(
  selected: readonly string[] | undefined,
  isProtected: boolean,
  kept: boolean,
): readonly string[] {
  if (isProtected) return ['protected', ...(selected ?? [])];
  if (selected) return [...selected];
  return kept ? KEPT_WITH_CHAIN : REMOVED_WITH_CHAIN;
}

/** One history per domain, sorted by name; a domain listed twice is merged. */
function mergeByDomain(histories: readonly DomainHistory[]): DomainHistory[] {
  const byDomain = new Map<string, DomainHistory>();
  for (const history of histories) {
    const seen = byDomain.get(history.domain);
    byDomain.set(
      history.domain,
      seen
        ? {
            domain: history.domain,
            chains: [...seen.chains, ...history.chains],
            lastBackupFailed: seen.lastBackupFailed || history.lastBackupFailed,
          }
        : history,
    );
  }
  return [...byDomain.values()].sort((a, b) => compareText(a.domain, b.domain));
}

function countTotals(domains: readonly DomainPlan[]): PruneTotals {
  const sumPoints = (chains: readonly ChainDecision[]) => chains.reduce((n, c) => n + c.points.length, 0);
  return {
    keptChains: domains.reduce((n, d) => n + d.keep.length, 0),
    removedChains: domains.reduce((n, d) => n + d.remove.length, 0),
    keptPoints: domains.reduce((n, d) => n + sumPoints(d.keep), 0),
    removedPoints: domains.reduce((n, d) => n + sumPoints(d.remove), 0),
  };
}
