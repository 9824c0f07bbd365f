/**
 * fast-check arbitraries for retention property tests: random histories (chains of any state,
 * protected chains and points, chains verify failed, failed last backups) and random raw policies.
 */
import fc from 'fast-check';
import type { ChainState, DomainHistory, RawRetentionOptions, RetentionChain } from '../../../src/retention/index.js';

/** Every generated time lies within two years before NOW (plus a little after, for clock skew). */
export const NOW = new Date('2026-11-20T12:00:00');
const HOUR = 3_600_000;
const SPAN_HOURS = 2 * 366 * 24;

const pointOffsets = fc.uniqueArray(fc.integer({ min: -SPAN_HOURS, max: 6 }), { maxLength: 8 });

interface ChainShape {
  state: ChainState;
  protected: boolean;
  /** The chain's last verify failed (at NOW). */
  verifyFailed: boolean;
  hasPeriodStart: boolean;
  offsets: number[];
  protectedPoints: boolean[];
}

/** Rare things (protection, a failed verify) come up about one time in ten. */
const rarely = fc.integer({ min: 0, max: 9 }).map((n) => n === 0);

const chainShape: fc.Arbitrary<ChainShape> = fc.record({
  state: fc.constantFrom<ChainState>('complete', 'complete', 'complete', 'in-progress', 'broken'),
  protected: rarely,
  verifyFailed: rarely,
  hasPeriodStart: fc.boolean(),
  offsets: pointOffsets,
  protectedPoints: fc.array(rarely, { minLength: 8, maxLength: 8 }),
});

function buildChain(domain: string, index: number, s: ChainShape): RetentionChain {
  const times = [...s.offsets].sort((a, b) => a - b).map((h) => new Date(NOW.getTime() + h * HOUR));
  const first = times[0];
  return {
    id: `${domain}-chain-${String(index).padStart(2, '0')}`,
    domain,
    // An empty chain may still know its period: the period start of "now" stands in for one.
    periodStart: s.hasPeriodStart ? monthStart(first ?? NOW) : undefined,
    state: s.state,
    protected: s.protected,
    ...(s.verifyFailed ? { verifyFailedAt: NOW } : {}),
    points: times.map((time, i) => ({ id: `virtnbdbackup.${i}`, time, protected: s.protectedPoints[i] ?? false })),
  };
}

function monthStart(date: Date): Date {
  return new Date(date.getFullYear(), date.getMonth(), 1);
}

/** One domain's history with 0..10 chains. */
export function historyArbitrary(domain: string): fc.Arbitrary<DomainHistory> {
  return fc.record({ chains: fc.array(chainShape, { maxLength: 10 }), lastBackupFailed: fc.boolean() }).map(({ chains, lastBackupFailed }) => ({
    domain,
    chains: chains.map((shape, i) => buildChain(domain, i, shape)),
    lastBackupFailed,
  }));
}

/** One to three domains. */
export const historiesArbitrary: fc.Arbitrary<DomainHistory[]> = fc
  .uniqueArray(fc.constantFrom('alpha', 'beta', 'gamma'), { minLength: 1, maxLength: 3 })
  .chain((domains) => fc.tuple(...domains.map(historyArbitrary)));

const count = fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined });
const durationText = fc.constantFrom('6h', '1d', '3d', '1w', '2w', '1m', '3m', '6m', '1y');
const tierIntervals = fc.constantFrom('0d', '12h', '1d', '1w', '2w', '1m');

/** Raw tiers with distinct ages. */
const tiers = fc
  .uniqueArray(durationText, { maxLength: 3 })
  .chain((ages) => fc.tuple(...ages.map((age) => tierIntervals.map((interval) => `${interval}:${age}`))));

/** Raw policy options as the CLI would give them. */
export const rawPolicyArbitrary: fc.Arbitrary<RawRetentionOptions> = fc.record(
  {
    groupBy: fc.constantFrom('month', 'quarter', 'bi-annual', 'year'),
    vmsnapRule: fc.boolean(),
    keepLast: count,
    keepHourly: count,
    keepDaily: count,
    keepWeekly: count,
    keepMonthly: count,
    keepYearly: count,
    keepWithin: durationText,
    keepTiers: tiers,
  },
  { requiredKeys: [] },
);
