/**
 * Retention benchmarks: planning over 100k points, and a year of hourly simulated runs.
 * No vitest here: bench/run.ts imports runRetentionBench and prints the rows.
 */
import { addHours } from 'date-fns';
import { parseDuration, parsePolicy, planPrune, simulate } from '../src/retention/index.js';
import type { DomainHistory, RetentionChain, RetentionPoint } from '../src/retention/index.js';
import type { BenchRow } from './row.js';

/** A timed scenario: median wall time against the most it may take. */
export interface BenchResult {
  name: string;
  /** Median wall time of the measured runs. */
  ms: number;
  /** The most it may take. */
  target: number;
}

/** A timed scenario as a BENCHMARKS.md row. */
export function toRow(r: BenchResult, source: BenchRow['source'], note?: string): BenchRow {
  return { name: r.name, measured: `${r.ms.toFixed(1)} ms`, target: `≤ ${r.target.toFixed(0)} ms`, met: r.ms <= r.target, source, ...(note ? { note } : {}) };
}

const RUNS = 5;

/** Time each retention scenario (one warm-up, then the median of five runs). */
export async function runRetentionBench(): Promise<BenchRow[]> {
  const histories = buildHistories(10, 10_000, new Date('2025-09-01T00:00:00'));
  const now = new Date('2026-11-20T12:00:00');
  const everyRule = parsePolicy({
    vmsnapRule: true,
    keepLast: 10,
    keepHourly: 48,
    keepDaily: 14,
    keepWeekly: 8,
    keepMonthly: 12,
    keepYearly: 5,
    keepWithin: '3d',
    keepTiers: ['1d:1w', '1w:1m', '0d:5y'],
  });
  const hourlyForAYear = {
    every: parseDuration('1h'),
    over: parseDuration('1y'),
    start: new Date('2026-01-01T00:30:00'),
  };
  const monthlyChains = parsePolicy({
    vmsnapRule: true,
    keepHourly: 24,
    keepDaily: 7,
    keepWeekly: 4,
    keepMonthly: 12,
  });
  const singleBackups = parsePolicy({ keepLast: 24, keepTiers: ['1d:1d', '1w:1w', '1m:1m', '0d:6m'] });
  const results: BenchResult[] = [
    {
      name: 'retention: planPrune over 100k points (10 domains, monthly chains, every rule)',
      ms: time(() => planPrune(histories, everyRule, now)),
      target: 200,
    },
    {
      name: 'retention: simulate hourly runs for a year (monthly chains, VMSnap rule + keep-hourly/daily/...)',
      ms: time(() => simulate({ ...hourlyForAYear, policy: monthlyChains })),
      target: 2000,
    },
    {
      name: 'retention: simulate hourly runs for a year (one chain per backup, keep-last 24 + four tiers)',
      ms: time(() => simulate({ ...hourlyForAYear, policy: singleBackups })),
      target: 2000,
    },
  ];
  return results.map((r) => toRow(r, 'in memory', 'pure planner, median of 5'));
}

function time(task: () => unknown): number {
  task();
  const samples = Array.from({ length: RUNS }, () => {
    const begin = performance.now();
    task();
    return performance.now() - begin;
  }).sort((a, b) => a - b);
  return Math.round(samples[Math.floor(RUNS / 2)]! * 10) / 10;
}

/** Hourly points per domain, one chain per calendar month, as monthly vmkeep chains would be. */
function buildHistories(domains: number, hoursPerDomain: number, start: Date): DomainHistory[] {
  return Array.from({ length: domains }, (_, d) => {
    const domain = `bench-${d}`;
    const chains = new Map<string, RetentionChain & { points: RetentionPoint[] }>();
    for (let h = 0; h < hoursPerDomain; h++) {
      const time = addHours(start, h);
      const id = `vmsnap-backup-monthly-${time.getFullYear()}-${String(time.getMonth() + 1).padStart(2, '0')}`;
      const chain = chains.get(id) ?? newChain(id, domain);
      chain.points.push({ id: `virtnbdbackup.${chain.points.length}`, time, protected: false });
      chains.set(id, chain);
    }
    return { domain, chains: [...chains.values()], lastBackupFailed: false };
  });
}

function newChain(id: string, domain: string): RetentionChain & { points: RetentionPoint[] } {
  return { id, domain, periodStart: undefined, state: 'complete', protected: false, points: [] };
}
