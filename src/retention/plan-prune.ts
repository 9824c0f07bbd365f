/**
 * planPrune: the pure retention planner. Histories and a policy (one for every domain, or one
 * per domain) in, a plan out that says for every chain and point whether it stays and why.
 * No fs, no runner, no clock.
 */
import { compareText, judgeDomain, listKeptBy, verifyFailedReason, type ChainVerdict, type PreparedChain } from './judge-domain.js';
import { POLICY_FOOTER, findPolicyWarnings, hasAnyRule, hasPointRules, policyLines, ruleLines } from './policy.js';
import type {
  ChainDecision,
  DomainHistory,
  DomainPlan,
  PlanPruneOptions,
  PointDecision,
  PointMerge,
  PolicyFor,
  PrunePlan,
  PruneTotals,
  RetentionPolicy,
} from './types.js';

/** A domain no policy applies to is judged by this one: no rule, so nothing of it goes. */
const NO_POLICY: RetentionPolicy = Object.freeze({});
const NO_POLICY_LINE = 'no retention policy applies: nothing is pruned';

/**
 * Decide which chains of each domain to keep and which to remove, and why. `policy` is the one
 * policy for every domain, or a function that gives each domain its own (undefined: none
 * applies, the domain is held and a warning names it).
 */
export function planPrune(histories: readonly DomainHistory[], policy: RetentionPolicy | PolicyFor, now: Date, options: PlanPruneOptions = {}): PrunePlan {
  const force = options.force ?? false;
  const mergePoints = options.mergePoints ?? false;
  const perDomain = typeof policy === 'function';
  const merged = mergeByDomain(histories);
  const policyOf = new Map(merged.map((h) => [h.domain, perDomain ? policy(h.domain) : policy]));
  const domains = merged.map((history) => {
    const own = policyOf.get(history.domain);
    const plan = planDomain(history, own ?? NO_POLICY, now, force, mergePoints);
    return own === undefined ? { ...plan, noPolicy: true as const } : plan;
  });
  const held = domains.filter((d) => d.lastBackupFailed && !force).map((d) => `${d.domain}: latest backup failed, nothing pruned (force to prune anyway)`);
  const unpoliced = domains
    .filter((d) => d.noPolicy === true)
    .map((d) => `${d.domain}: no retention policy applies to it, nothing pruned${options.noPolicyHint ? ` (${options.noPolicyHint})` : ''}`);
  const verifyFailed = merged.flatMap((h) =>
    h.chains
      .filter((c) => c.verifyFailedAt !== undefined)
      .sort((a, b) => compareText(a.id, b.id))
      .map((c) => `${h.domain}: ${c.id} ${verifyFailedReason(c.verifyFailedAt!)}`),
  );
  const groups = perDomain ? groupByPolicy(policyOf) : [{ domains: merged.map((h) => h.domain), policy }];
  return {
    now: now.toISOString(),
    force,
    policy: perDomain ? groupedPolicyLines(groups) : policyLines(policy),
    policies: groups.map(({ domains: names, policy: p }) => ({ domains: names, lines: p === undefined ? [NO_POLICY_LINE] : policyLines(p) })),
    warnings: [
      ...groups.flatMap(({ domains: names, policy: p }) => findPolicyWarnings(p ?? NO_POLICY).map((w) => (perDomain ? `${names.join(', ')}: ${w}` : w))),
      ...unpoliced,
      ...held,
      ...verifyFailed,
    ],
    domains,
    totals: countTotals(domains),
  };
}

/** Domains by the policy they get, in the order each policy is first met; equal words, one group. */
function groupByPolicy(policyOf: ReadonlyMap<string, RetentionPolicy | undefined>): Array<{ domains: string[]; policy: RetentionPolicy | undefined }> {
  const groups = new Map<string, { domains: string[]; policy: RetentionPolicy | undefined }>();
  for (const [domain, p] of policyOf) {
    const key = p === undefined ? '' : ruleLines(p).join('\n');
    const group = groups.get(key) ?? { domains: [], policy: p };
    group.domains.push(domain);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/** `for D1, D2:` with that policy's rules below it, per group; the footer every policy shares once. */
function groupedPolicyLines(groups: ReadonlyArray<{ domains: readonly string[]; policy: RetentionPolicy | undefined }>): string[] {
  const lines = groups.flatMap(({ domains, policy }) => [
    `for ${domains.join(', ')}:`,
    ...(policy === undefined ? [NO_POLICY_LINE] : ruleLines(policy)).map((l) => `  ${l}`),
  ]);
  return groups.some((g) => g.policy !== undefined && hasAnyRule(g.policy)) ? [...lines, ...POLICY_FOOTER] : lines;
}

function planDomain(history: DomainHistory, policy: RetentionPolicy, now: Date, force: boolean, mergePoints: boolean): DomainPlan {
  const { chains, verdicts } = judgeDomain(history, policy, now, force);
  const held = (history.lastBackupFailed && !force) || !hasAnyRule(policy);
  const merges: PointMerge[] = [];
  const decisions = chains.map((prepared, c) => {
    const verdict = verdicts[c]!;
    const chainMerges = mergePoints && !held ? planMerges(prepared, verdict, hasPointRules(policy)) : [];
    merges.push(...chainMerges);
    return markMerged(describeChain(prepared, verdict), chainMerges);
  });
  return {
    domain: history.domain,
    lastBackupFailed: history.lastBackupFailed,
    keep: decisions.filter((d) => d.action === 'keep'),
    remove: decisions.filter((d) => d.action === 'remove'),
    merges,
  };
}

/**
 * Point-level retention inside a kept chain: runs of points no rule selected, each merged into
 * the next point (of a virtnbdbackup chain, incrementals only). Never the newest point (the next incremental builds on its checkpoint and
 * image), never a protected point, nothing of a chain that is in progress, broken, protected or
 * failed by verify (it is held as it is, for a person to inspect).
 * The period rule keeps chains, not points: with point rules beside it, a chain it keeps still
 * loses the points they do not select; without any, its chains stay whole.
 */
export function planMerges({ chain, points }: PreparedChain, verdict: ChainVerdict, pointRules: boolean): PointMerge[] {
  if (!chain.mergeable || !verdict.keep || chain.state !== 'complete' || chain.protected || chain.verifyFailedAt) return [];
  if (!pointRules) return [];
  const last = points.length - 1;
  const from = chain.mergeable === 'incrementals' ? 1 : 0;
  const droppable = (p: number) => p >= from && p < last && !points[p]!.protected && !verdict.pointReasons.has(p);
  const merges: PointMerge[] = [];
  for (let p = 0; p < last; p++) {
    if (!droppable(p)) continue;
    const first = p;
    while (droppable(p + 1)) p++;
    // p + 1 is kept: the newest point, a protected one or one a rule selected.
    const into = points[p + 1]!.id;
    merges.push({
      chain: chain.id,
      dropped: points.slice(first, p + 1).map((x) => x.id),
      into,
      newParent: first === 0 ? undefined : points[first - 1]!.id,
      reasons: [`not selected by any rule: merged into ${into}${first === 0 ? ', which becomes the full' : ''}`],
    });
  }
  return merges;
}

/** The merged points of a kept chain are removed, with the merge as their reason. */
function markMerged(decision: ChainDecision, merges: readonly PointMerge[]): ChainDecision {
  if (merges.length === 0) return decision;
  const into = new Map<string, string>();
  for (const m of merges) for (const id of m.dropped) into.set(id, m.into);
  return {
    ...decision,
    points: decision.points.map((p) => {
      const target = into.get(p.id);
      return target === undefined ? p : { id: p.id, action: 'remove' as const, reasons: ['not selected by any rule', `merged into ${target}`] };
    }),
  };
}

/** Put a chain verdict into the plan's words. */
function describeChain(prepared: PreparedChain, verdict: ChainVerdict): ChainDecision {
  const { chain, points } = prepared;
  const action = verdict.keep ? 'keep' : 'remove';
  const keptBy = listKeptBy(prepared, verdict);
  const periodKeep = verdict.period !== undefined && 'keep' in verdict.period ? [verdict.period.keep] : [];
  const reasons = verdict.keep ? [...verdict.safety, ...periodKeep, ...keptBy.map((k) => `${k.pointId}: ${k.reason}`)] : [...verdict.removal];
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
export function describePoint(selected: readonly string[] | undefined, isProtected: boolean, kept: boolean): readonly string[] {
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
  const merged = domains.reduce((n, d) => n + d.merges.reduce((k, m) => k + m.dropped.length, 0), 0);
  return {
    keptChains: domains.reduce((n, d) => n + d.keep.length, 0),
    removedChains: domains.reduce((n, d) => n + d.remove.length, 0),
    keptPoints: domains.reduce((n, d) => n + sumPoints(d.keep), 0) - merged,
    removedPoints: domains.reduce((n, d) => n + sumPoints(d.remove), 0) + merged,
    mergedPoints: merged,
  };
}
