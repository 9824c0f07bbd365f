/**
 * Where a run's time went: each named step of one domain's run is timed (monotonic clock,
 * performance.now) and added to its phase. A phase timed inside another is taken out of the
 * outer one (the freeze inside the engine's job counts as freeze, not twice), so the phases
 * never add up to more than the time they cover.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

/** The phases a run is split into (those that apply to each command). */
export type PhaseName =
  | 'lock'
  | 'read'
  | 'plan'
  | 'power'
  | 'repairs'
  | 'freeze'
  | 'engine'
  | 'checksums'
  | 'fsync'
  | 'manifest'
  | 'prune'
  | 'hooks'
  | 'notify'
  | 'report'
  | 'check'
  | 'restore'
  | 'send';

/** One phase's total time in the run, in milliseconds. */
export interface PhaseTime {
  name: PhaseName;
  ms: number;
}

/** A running phase: what the phases timed inside it took (taken out of its own time). */
interface Frame {
  timer: PhaseTimer;
  innerMs: number;
}

/** Which phase runs now, per async flow: a domain's phases nest even while other domains run. */
const current = new AsyncLocalStorage<Frame>();

/** The phases of one domain's run (or one run), in the order each first ran. */
export class PhaseTimer {
  private readonly totals = new Map<PhaseName, number>();

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** Run `step` as part of `name`; its time (less the phases timed inside it) goes to `name`. */
  async time<T>(name: PhaseName, step: () => Promise<T> | T): Promise<T> {
    const outer = current.getStore();
    const frame: Frame = { timer: this, innerMs: 0 };
    const t0 = this.clock();
    try {
      return await current.run(frame, step);
    } finally {
      const elapsed = Math.max(0, this.clock() - t0);
      this.add(name, Math.max(0, elapsed - frame.innerMs));
      // Only the same timer's outer phase gives up the time: another timer's phases are its own.
      if (outer?.timer === this) outer.innerMs += elapsed;
    }
  }

  /** Add time measured elsewhere to a phase. */
  add(name: PhaseName, ms: number): void {
    this.totals.set(name, (this.totals.get(name) ?? 0) + Math.max(0, ms));
  }

  /** The phases so far, whole milliseconds (rounded down: they never sum above the wall time). */
  list(): PhaseTime[] {
    return [...this.totals].map(([name, ms]) => ({ name, ms: Math.floor(ms) }));
  }
}

/** The words the one-line breakdown uses for each phase. */
const PHASE_WORDS: Record<PhaseName, string> = {
  lock: 'waiting for the lock',
  read: 'reading the domain',
  plan: 'planning',
  power: 'starting/stopping the domain',
  repairs: 'repairs',
  freeze: 'freeze/thaw',
  engine: 'engine job',
  checksums: 'checksums',
  fsync: 'flushing to disk',
  manifest: 'manifest',
  prune: 'prune',
  hooks: 'hooks',
  notify: 'notifications',
  report: 'writing the HTML report',
  check: 'checking files',
  restore: 'restoring',
  send: 'sending',
};

/** "engine job 12.3 s, checksums 1.2 s, ..." largest first; phases under 1 ms are left out. */
export function describePhases(phases: readonly PhaseTime[]): string {
  const shown = [...phases].filter((p) => p.ms >= 1).sort((a, b) => b.ms - a.ms);
  if (shown.length === 0) return 'no phase took a millisecond';
  return shown.map((p) => `${PHASE_WORDS[p.name]} ${formatMs(p.ms)}`).join(', ');
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
