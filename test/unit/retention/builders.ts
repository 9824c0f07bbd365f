/**
 * In-memory builders for retention tests: points, chains and histories without any disk.
 * Times are local (`at('2026-11-03T04:00')`), the clock the planner's buckets use.
 */
import { addDays, addHours } from 'date-fns';
import type { ChainDecision, ChainState, DomainHistory, PrunePlan, RetentionChain, RetentionPoint } from '../../../src/retention/index.js';

/** A local time from `yyyy-MM-ddTHH:mm` (no zone: JavaScript reads it as local). */
export function at(localTime: string): Date {
  return new Date(localTime);
}

export interface ChainOptions {
  domain?: string;
  state?: ChainState;
  protected?: boolean;
  periodStart?: Date;
  /** Indexes of points to mark protected. */
  protectedPoints?: readonly number[];
  /** When the chain's last verify failed. */
  verifyFailedAt?: Date;
}

/** A chain whose points are `virtnbdbackup.0..n-1` at the given times (oldest first). */
export function chain(id: string, times: readonly Date[], options: ChainOptions = {}): RetentionChain {
  const points: RetentionPoint[] = times.map((time, i) => ({
    id: `virtnbdbackup.${i}`,
    time,
    protected: options.protectedPoints?.includes(i) ?? false,
  }));
  return {
    id,
    domain: options.domain ?? 'vm1',
    periodStart: options.periodStart,
    state: options.state ?? 'complete',
    protected: options.protected ?? false,
    ...(options.verifyFailedAt ? { verifyFailedAt: options.verifyFailedAt } : {}),
    points,
  };
}

/** One single-point chain per time, named `c-<index>` (do-snapshot style: every backup alone). */
export function singlePointChains(times: readonly Date[], domain = 'vm1'): RetentionChain[] {
  return times.map((time, i) => chain(`c-${String(i).padStart(3, '0')}`, [time], { domain }));
}

/** A domain history. */
export function history(chains: readonly RetentionChain[], options: { domain?: string; lastBackupFailed?: boolean } = {}): DomainHistory {
  const domain = options.domain ?? chains[0]?.domain ?? 'vm1';
  return { domain, chains, lastBackupFailed: options.lastBackupFailed ?? false };
}

/**
 * `count` times, `stepHours` apart, starting at `first`. Whole days step by the local calendar,
 * so a daily 03:00 stays 03:00 across a DST change wherever the tests run.
 */
export function timesEvery(first: Date, count: number, stepHours: number): Date[] {
  const wholeDays = stepHours % 24 === 0;
  return Array.from({ length: count }, (_, i) => (wholeDays ? addDays(first, (i * stepHours) / 24) : addHours(first, i * stepHours)));
}

/** All chain decisions of a plan, kept and removed, for one domain (default: the only one). */
export function decisionsOf(plan: PrunePlan, domain?: string): ChainDecision[] {
  const domainPlan = domain === undefined ? plan.domains[0] : plan.domains.find((d) => d.domain === domain);
  if (!domainPlan) throw new Error(`no domain ${domain ?? '(first)'} in plan`);
  return [...domainPlan.keep, ...domainPlan.remove];
}

/** The decision for one chain id. */
export function decisionFor(plan: PrunePlan, chainId: string): ChainDecision {
  const found = plan.domains.flatMap((d) => [...d.keep, ...d.remove]).find((c) => c.id === chainId);
  if (!found) throw new Error(`no chain ${chainId} in plan`);
  return found;
}

/** Ids of kept and removed chains across the plan, sorted. */
export function keptIds(plan: PrunePlan): string[] {
  return plan.domains.flatMap((d) => d.keep.map((c) => c.id)).sort();
}

export function removedIds(plan: PrunePlan): string[] {
  return plan.domains.flatMap((d) => d.remove.map((c) => c.id)).sort();
}

/** Deterministic shuffle (mulberry32), so a failing property run can be replayed from its seed. */
export function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
