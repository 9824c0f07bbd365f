/**
 * do-snapshot's `--simulate`: run the scheduled job (backup, then prune) every INTERVAL over a
 * DURATION in memory and report what survives. Uses the same judge as planPrune.
 *
 * With a groupBy, a backup starts a new chain when the period changes and otherwise appends an
 * incremental point to the current chain, as vmkeep does. Without one, every backup is its own
 * one-point chain, so point rules (tiers above all) act on single points as in do-snapshot.
 */
import { usageError } from '../errors.js';
import { addDuration, nominalHours, parseDuration } from './duration.js';
import { judgeDomain, type PreparedChainCache } from './judge-domain.js';
import { describePoint, planMerges } from './plan-prune.js';
import { periodAdjective, periodLabel, startOfPeriod } from './periods.js';
import { findPolicyWarnings, hasAnyRule, hasPointRules, policyLines } from './policy.js';
import type { Duration, GroupBy, RetentionChain, RetentionPoint, RetentionPolicy, SimulatedPoint, SimulationRequest, SimulationResult } from './types.js';

/** More runs than this is almost surely a typo (every 1h over 30y). */
export const MAX_SIMULATION_RUNS = 200_000;

const DOMAIN = 'simulated';

/** A chain the simulation owns and appends to. */
interface SimChain extends RetentionChain {
  points: RetentionPoint[];
  readonly periodStartMs: number | undefined;
  /** Number of the next point: merges remove points, so the count is no name. */
  nextPoint: number;
}

interface SimState {
  chains: SimChain[];
  /** Chains are judged on every run; only the one that just grew needs preparing again. */
  prepared: PreparedChainCache;
  lastBackupMs: number | undefined;
  backups: number;
  skippedBackups: number;
  removedChains: number;
  removedPoints: number;
  mergedPoints: number;
  mergePoints: boolean;
}

/** Parse do-snapshot's `--simulate INTERVAL:DURATION` (e.g. `4h:3m`). */
export function parseSimulateOption(text: string): { every: Duration; over: Duration } {
  const parts = text.trim().split(':');
  if (parts.length !== 2) {
    throw usageError(`bad --simulate ${JSON.stringify(text)}: expected INTERVAL:DURATION, e.g. 4h:3m`);
  }
  return {
    every: parseDuration(parts[0] ?? '', 'simulation interval'),
    over: parseDuration(parts[1] ?? '', 'simulation duration'),
  };
}

/** Simulate backup + prune every `every` over `over`, starting at `start`. */
export function simulate(request: SimulationRequest): SimulationResult {
  const times = listRunTimes(request);
  const groupBy = request.groupBy ?? request.policy.groupBy;
  const state: SimState = {
    chains: [],
    prepared: new WeakMap(),
    lastBackupMs: undefined,
    backups: 0,
    skippedBackups: 0,
    removedChains: 0,
    removedPoints: 0,
    mergedPoints: 0,
    mergePoints: request.mergePoints ?? false,
  };
  for (const now of times) {
    backUp(state, now, request.ifOlderThan, groupBy);
    prune(state, request.policy, now);
  }
  const end = times.at(-1) ?? request.start;
  return {
    every: request.every.text,
    over: request.over.text,
    ifOlderThan: request.ifOlderThan?.text,
    groupBy,
    start: request.start.toISOString(),
    end: end.toISOString(),
    policy: policyLines(request.policy),
    runs: times.length,
    backups: state.backups,
    skippedBackups: state.skippedBackups,
    removedChains: state.removedChains,
    removedPoints: state.removedPoints,
    mergedPoints: state.mergedPoints,
    surviving: listSurvivors(state.chains, request.policy, end),
    warnings: [...findPolicyWarnings(request.policy), ...findScheduleWarnings(request)],
  };
}

function listRunTimes({ every, over, start }: SimulationRequest): Date[] {
  if (Number.isNaN(start.getTime())) throw usageError('bad simulation start: not a valid date');
  if (nominalHours(every) === 0) throw usageError('bad simulation interval 0: give a positive one, e.g. 4h');
  const end = addDuration(start, over).getTime();
  // An estimate before looping: a calendar month can be 10% shorter than its nominal 30 days.
  const runs = Math.ceil((end - start.getTime()) / (nominalHours(every) * 3_600_000 * 0.9));
  if (runs > MAX_SIMULATION_RUNS) {
    throw usageError(
      `simulating every ${every.text} over ${over.text} needs over ${MAX_SIMULATION_RUNS} runs: ` + 'use a longer interval or a shorter duration',
    );
  }
  const times: Date[] = [];
  // Each run time is counted from the start, so calendar steps (1m) never drift (Jan 31, Feb 28, Mar 28...).
  for (let k = 0; ; k++) {
    const now = addDuration(start, every, k);
    if (now.getTime() >= end) return times;
    times.push(now);
  }
}

function backUp(state: SimState, now: Date, ifOlderThan: Duration | undefined, groupBy?: GroupBy): void {
  const ms = now.getTime();
  const last = state.lastBackupMs;
  if (ifOlderThan && last !== undefined && ms < addDuration(last, ifOlderThan).getTime()) {
    state.skippedBackups++;
    return;
  }
  state.lastBackupMs = ms;
  state.backups++;
  const periodStart = groupBy ? startOfPeriod(now, groupBy) : undefined;
  const current = state.chains.at(-1);
  if (groupBy && current && current.periodStartMs === periodStart?.getTime()) {
    current.points.push(makePoint(current.nextPoint++, now));
    state.prepared.delete(current);
    return;
  }
  state.chains.push({
    id: groupBy && periodStart ? periodChainName(periodStart, groupBy) : singleBackupName(now),
    domain: DOMAIN,
    periodStart,
    periodStartMs: periodStart?.getTime(),
    state: 'complete',
    protected: false,
    mergeable: state.mergePoints,
    points: [makePoint(0, now)],
    nextPoint: 1,
  });
}

/** `vmsnap-backup-monthly-2026-11`, as VMSnap names a period's chain folder. */
function periodChainName(periodStart: Date, groupBy: GroupBy): string {
  return `vmsnap-backup-${periodAdjective(groupBy)}-${periodLabel(periodStart, groupBy)}`;
}

/** `backup-20260101T0030Z`: UTC, so the hour repeated when DST ends cannot give two the same name. */
function singleBackupName(now: Date): string {
  return `backup-${now.toISOString().replace(/[-:]/g, '').slice(0, 13)}Z`;
}

function makePoint(index: number, time: Date): RetentionPoint {
  return { id: `virtnbdbackup.${index}`, time, protected: false };
}

function prune(state: SimState, policy: RetentionPolicy, now: Date): void {
  const history = { domain: DOMAIN, chains: state.chains, lastBackupFailed: false };
  const { chains, verdicts } = judgeDomain(history, policy, now, false, state.prepared);
  const keep = new Set<RetentionChain>();
  chains.forEach((prepared, c) => {
    if (!verdicts[c]!.keep) return;
    keep.add(prepared.chain);
    // Point-level prune (push chains): the merged points leave the kept chain.
    const merges = state.mergePoints && hasAnyRule(policy) ? planMerges(prepared, verdicts[c]!, hasPointRules(policy)) : [];
    const dropped = new Set(merges.flatMap((m) => m.dropped));
    if (dropped.size === 0) return;
    const chain = prepared.chain as SimChain;
    chain.points = chain.points.filter((p) => !dropped.has(p.id));
    state.prepared.delete(chain);
    state.mergedPoints += dropped.size;
    state.removedPoints += dropped.size;
  });
  for (const chain of state.chains) {
    if (keep.has(chain)) continue;
    state.removedChains++;
    state.removedPoints += chain.points.length;
  }
  state.chains = state.chains.filter((chain) => keep.has(chain));
}

function listSurvivors(chains: readonly SimChain[], policy: RetentionPolicy, now: Date): SimulatedPoint[] {
  const judged = judgeDomain({ domain: DOMAIN, chains, lastBackupFailed: false }, policy, now, false);
  const survivors = judged.chains.flatMap((prepared, c) => {
    const verdict = judged.verdicts[c]!;
    const periodKeep = verdict.period && 'keep' in verdict.period ? [verdict.period.keep] : [];
    const chainReason = [...verdict.safety, ...periodKeep][0];
    return prepared.points.map((point, p): SimulatedPoint => {
      const own = verdict.pointReasons.get(p);
      const withChain = chainReason ? [`kept with its chain (${chainReason})`] : undefined;
      const reasons = own || !withChain ? describePoint(own, point.protected, true) : withChain;
      return { chain: prepared.chain.id, point: point.id, time: point.time.toISOString(), reasons };
    });
  });
  return survivors.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}

/** Tiers asking for points more often than backups are taken can never be met. */
function findScheduleWarnings({ every, ifOlderThan, policy }: SimulationRequest): string[] {
  const spacing = ifOlderThan && nominalHours(ifOlderThan) > nominalHours(every) ? ifOlderThan : every;
  return (policy.keepTiers ?? [])
    .filter((tier) => nominalHours(tier.interval) > 0 && nominalHours(tier.interval) < nominalHours(spacing))
    .map((tier) => `tier ${tier.text} asks for one point per ${tier.interval.text}, ` + `but backups are taken at most once per ${spacing.text}`);
}
