/**
 * do-snapshot's `--simulate`: run the scheduled job (backup, then prune) every INTERVAL over a
 * DURATION in memory and report what survives. Uses the same judge as planPrune.
 *
 * With a groupBy, a backup starts a new chain when the period changes and otherwise appends an
 * incremental point to the current chain, as vmkeep does. Without one, every backup is its own
 * one-point chain, so point rules (tiers above all) act on single points as in do-snapshot.
 *
 * With mergePoints, points no rule keeps are merged into their child as planPrune merges them,
 * each chain as its engine allows (a virtnbdbackup chain keeps its full), and every merge is
 * reported. Started from a domain's recorded chains (`history`), the first run only prunes them:
 * that run is what `prune` would do now.
 */
import { usageError } from '../errors.js';
import { addDuration, nominalHours, parseDuration } from './duration.js';
import { judgeDomain, type PreparedChainCache } from './judge-domain.js';
import { describePoint, planMerges } from './plan-prune.js';
import { periodAdjective, periodLabel, startOfPeriod } from './periods.js';
import { findPolicyWarnings, hasAnyRule, hasPointRules, policyLines } from './policy.js';
import type {
  DomainHistory,
  Duration,
  GroupBy,
  RetentionChain,
  RetentionPoint,
  RetentionPolicy,
  SimulatedEngine,
  SimulatedMerge,
  SimulatedPoint,
  SimulatedRemoval,
  SimulationRequest,
  SimulationResult,
} from './types.js';

/** More runs than this is almost surely a typo (every 1h over 30y). */
export const MAX_SIMULATION_RUNS = 200_000;

const DOMAIN = 'simulated';

/** A chain the simulation owns and appends to. */
interface SimChain extends RetentionChain {
  points: RetentionPoint[];
  readonly periodStartMs: number | undefined;
  /** Number of the next point: merges remove points, so the count is no name. */
  nextPoint: number;
  /** A point's name with its number left out: `virtnbdbackup.`, `vmkeep.<chain id>.`. */
  readonly namePrefix: string;
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
  engine: SimulatedEngine;
  merges: SimulatedMerge[];
  removals: SimulatedRemoval[];
  /** The recorded history's: its latest backup failed, so its first prune holds everything. */
  lastBackupFailed: boolean;
  /** Recording order of the next backup (recorded points carry one; later ones must sort after them). */
  nextSequence: number | undefined;
  /** How many chains backups started (push chain ids are counted from it). */
  chainsStarted: number;
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
    chains: request.history ? request.history.chains.map(adoptChain) : [],
    prepared: new WeakMap(),
    lastBackupMs: undefined,
    backups: 0,
    skippedBackups: 0,
    removedChains: 0,
    removedPoints: 0,
    mergedPoints: 0,
    mergePoints: request.mergePoints ?? false,
    engine: engineOf(request),
    merges: [],
    removals: [],
    lastBackupFailed: request.history?.lastBackupFailed ?? false,
    nextSequence: undefined,
    chainsStarted: 0,
  };
  if (request.history) seedFromHistory(state, request.history);
  for (const [k, now] of times.entries()) {
    // Recorded chains: the first run is the prune of what is there, as `prune` would make it now.
    if (!(request.history && k === 0) && backUp(state, now, request.ifOlderThan, groupBy)) state.lastBackupFailed = false;
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
    engine: state.engine,
    from: request.history?.domain,
    merges: state.merges,
    removals: state.removals,
    surviving: listSurvivors(state.chains, request.policy, end, request.history?.domain ?? DOMAIN),
    warnings: [...findPolicyWarnings(request.policy), ...findScheduleWarnings(request), ...findEngineWarnings(request)],
  };
}

/**
 * With --merge-points the engine decides what can go (a virtnbdbackup chain keeps its full), and
 * with nothing recorded and no --engine the model is a guess: `backup --engine auto` writes new
 * local chains with push unless the run is VMSnap-compatible.
 */
function findEngineWarnings(request: SimulationRequest): string[] {
  if (request.mergePoints !== true || request.engine !== undefined || (request.history?.chains.length ?? 0) > 0) return [];
  return [
    'no --engine and no recorded chains: modelled virtnbdbackup chains (their fulls are never merged away); backup --engine auto writes new local chains with push unless the run is VMSnap-compatible, so give --engine push or --engine virtnbdbackup to model the one your backups use',
  ];
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

/** One scheduled backup; false when `ifOlderThan` skipped it. */
function backUp(state: SimState, now: Date, ifOlderThan: Duration | undefined, groupBy?: GroupBy): boolean {
  const ms = now.getTime();
  const last = state.lastBackupMs;
  if (ifOlderThan && last !== undefined && ms < addDuration(last, ifOlderThan).getTime()) {
    state.skippedBackups++;
    return false;
  }
  state.lastBackupMs = ms;
  state.backups++;
  const periodStart = groupBy ? startOfPeriod(now, groupBy) : undefined;
  const current = state.chains.at(-1);
  const sequence = state.nextSequence === undefined ? undefined : state.nextSequence++;
  // A backup goes on only with a chain it can add to (a broken or unfinished one makes it start anew).
  if (groupBy && current && current.state === 'complete' && current.periodStartMs === periodStart?.getTime()) {
    current.points.push(makePoint(current.namePrefix, current.nextPoint++, now, sequence));
    state.prepared.delete(current);
    return true;
  }
  const namePrefix = state.engine === 'push' ? `vmkeep.${state.chainsStarted.toString(16).padStart(8, '0')}.` : 'virtnbdbackup.';
  state.chainsStarted++;
  const id = groupBy && periodStart ? periodChainName(periodStart, groupBy) : singleBackupName(now);
  state.chains.push({
    // A second chain in one period gets VMSnap's `.2` suffix, as backup names it.
    id: state.chains.some((c) => c.id === id) ? `${id}.${state.chains.filter((c) => c.id.startsWith(id)).length + 1}` : id,
    domain: DOMAIN,
    periodStart,
    periodStartMs: periodStart?.getTime(),
    state: 'complete',
    protected: false,
    mergeable: mergeableAs(state.engine),
    points: [makePoint(namePrefix, 0, now, sequence)],
    nextPoint: 1,
    namePrefix,
  });
  return true;
}

/** Which points of a chain written by `engine` can be merged (see RetentionChain.mergeable). */
function mergeableAs(engine: SimulatedEngine): RetentionChain['mergeable'] {
  return engine === 'push' ? true : 'incrementals';
}

/** A recorded chain the simulation may add to: numbered past the names it holds. */
function adoptChain(chain: RetentionChain): SimChain {
  const numbers = chain.points.map((p) => Number(/(\d+)$/.exec(p.id)?.[1] ?? -1));
  const last = chain.points.at(-1)?.id ?? '';
  return {
    ...chain,
    points: [...chain.points],
    periodStartMs: chain.periodStart?.getTime(),
    nextPoint: Math.max(-1, ...numbers) + 1,
    namePrefix: /\d+$/.test(last) ? last.replace(/\d+$/, '') : `${last}.`,
  };
}

/** The last backup and the recording order come from the recorded chains. */
function seedFromHistory(state: SimState, history: DomainHistory): void {
  const points = history.chains.flatMap((c) => c.points);
  if (points.length > 0) state.lastBackupMs = Math.max(...points.map((p) => p.time.getTime()));
  const sequences = points.flatMap((p) => (p.sequence === undefined ? [] : [p.sequence]));
  if (sequences.length > 0) state.nextSequence = Math.max(...sequences) + 1;
}

/** The engine later backups use: the one asked for, else the newest recorded chain's. */
function engineOf(request: SimulationRequest): SimulatedEngine {
  if (request.engine !== undefined) return request.engine;
  return request.history?.chains.at(-1)?.mergeable === true ? 'push' : 'virtnbdbackup';
}

/** `vmsnap-backup-monthly-2026-11`, as VMSnap names a period's chain folder. */
function periodChainName(periodStart: Date, groupBy: GroupBy): string {
  return `vmsnap-backup-${periodAdjective(groupBy)}-${periodLabel(periodStart, groupBy)}`;
}

/** `backup-20260101T0030Z`: UTC, so the hour repeated when DST ends cannot give two the same name. */
function singleBackupName(now: Date): string {
  return `backup-${now.toISOString().replace(/[-:]/g, '').slice(0, 13)}Z`;
}

function makePoint(prefix: string, index: number, time: Date, sequence: number | undefined): RetentionPoint {
  return { id: `${prefix}${index}`, time, protected: false, ...(sequence === undefined ? {} : { sequence }) };
}

function prune(state: SimState, policy: RetentionPolicy, now: Date): void {
  const history = { domain: DOMAIN, chains: state.chains, lastBackupFailed: state.lastBackupFailed };
  const { chains, verdicts } = judgeDomain(history, policy, now, false, state.prepared);
  const time = now.toISOString();
  // As planPrune: a domain whose latest backup failed keeps everything.
  const held = state.lastBackupFailed || !hasAnyRule(policy);
  const keep = new Set<RetentionChain>();
  chains.forEach((prepared, c) => {
    if (!verdicts[c]!.keep) return;
    keep.add(prepared.chain);
    // Point-level prune: the merged points leave the kept chain.
    const merges = state.mergePoints && !held ? planMerges(prepared, verdicts[c]!, hasPointRules(policy)) : [];
    const dropped = new Set(merges.flatMap((m) => m.dropped));
    if (dropped.size === 0) return;
    for (const { reasons: _reasons, ...m } of merges) state.merges.push({ time, ...m });
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
    state.removals.push({ time, chain: chain.id, points: chain.points.map((p) => p.id) });
  }
  state.chains = state.chains.filter((chain) => keep.has(chain));
}

function listSurvivors(chains: readonly SimChain[], policy: RetentionPolicy, now: Date, domain: string): SimulatedPoint[] {
  const judged = judgeDomain({ domain, chains, lastBackupFailed: false }, policy, now, false);
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
