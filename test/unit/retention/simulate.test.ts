import { differenceInCalendarDays, differenceInHours, subDays } from 'date-fns';
import { describe, expect, it } from 'vitest';
import { VmkeepError } from '../../../src/errors.js';
import { parseDuration, parsePolicy, parseSimulateOption, simulate, type SimulationRequest } from '../../../src/retention/index.js';
import { at } from './builders.js';

const d = parseDuration;

/** Gaps between consecutive times. */
function gaps(times: readonly Date[], measure: (later: Date, earlier: Date) => number): number[] {
  return times.slice(1).map((t, i) => measure(t, times[i]!));
}

describe('simulate', () => {
  // do-snapshot's README example: -s 1d -k 2w:1w -k 1w:1m --simulate 4h:3m. May to July has no
  // DST change in most zones, so a day is 24 hours wherever the test runs.
  const request: SimulationRequest = {
    every: d('4h'),
    over: d('3m'),
    ifOlderThan: d('1d'),
    policy: parsePolicy({ keepTiers: ['2w:1w', '1w:1m'] }),
    start: at('2026-05-01T01:47'),
  };

  it('acceptance: daily points in the last week, one every two weeks before, and a warning', () => {
    const result = simulate(request);
    const end = new Date(result.end);
    const times = result.surviving.map((s) => new Date(s.time));
    const weekAgo = subDays(end, 7);
    const lastWeek = times.filter((t) => t > weekAgo);
    const before = times.filter((t) => t <= weekAgo);

    expect(lastWeek).toHaveLength(7);
    expect(gaps(lastWeek, differenceInHours)).toEqual(Array(6).fill(24));
    expect(before.length).toBeGreaterThan(3);
    // The older tier asks for weekly points, but the younger one left only fortnightly ones.
    expect(gaps(before, differenceInCalendarDays)).toEqual(Array(before.length - 1).fill(14));
    expect(before[0]).toEqual(request.start);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/tier 1w:1m can never keep one point per 1w.*tier 2w:1w/);
  });

  it('counts runs, backups skipped by ifOlderThan, and what was pruned', () => {
    const result = simulate({ ...request, over: d('1w'), policy: parsePolicy({ keepLast: 2 }) });
    expect(result.runs).toBe(7 * 6);
    expect(result.backups).toBe(7);
    expect(result.skippedBackups).toBe(7 * 5);
    expect(result.removedChains).toBe(5);
    expect(result.surviving.map((s) => s.reasons)).toEqual([['keep-last 2/2'], ['keep-last 1/2']]);
  });

  it('with a groupBy, appends incrementals to the period chain and applies the VMSnap grace', () => {
    const policy = parsePolicy({ vmsnapRule: true });
    const result = simulate({ every: d('1d'), over: d('2m10d'), policy, start: at('2026-01-01T03:00') });
    const chains = [...new Set(result.surviving.map((s) => s.chain))];
    expect(chains).toEqual(['vmsnap-backup-monthly-2026-02', 'vmsnap-backup-monthly-2026-03']);
    const february = result.surviving.filter((s) => s.chain === chains[0]);
    expect(february.map((s) => s.point)).toEqual(february.map((_, i) => `virtnbdbackup.${i}`));
    expect(february[0]!.reasons).toEqual(['kept with its chain (previous monthly period, until the current one is 15 days old)']);
    expect(result.removedChains).toBe(1);

    const later = simulate({ every: d('1d'), over: d('2m20d'), policy, start: at('2026-01-01T03:00') });
    expect([...new Set(later.surviving.map((s) => s.chain))]).toEqual(['vmsnap-backup-monthly-2026-03']);
  });

  it('without any rule, every backup survives as its own chain', () => {
    const start = at('2026-05-01T03:00');
    const result = simulate({ every: d('1d'), over: d('5d'), policy: parsePolicy({}), start });
    expect(result.surviving).toHaveLength(5);
    expect(new Set(result.surviving.map((s) => s.chain)).size).toBe(5);
    expect(result.removedChains).toBe(0);
  });

  it('names single-backup chains uniquely, even over the hour repeated when DST ends (EU: Oct 25)', () => {
    const start = at('2026-10-24T00:00');
    const result = simulate({ every: d('1h'), over: d('3d'), policy: parsePolicy({}), start });
    expect(result.surviving).toHaveLength(result.runs);
    expect(new Set(result.surviving.map((s) => s.chain)).size).toBe(result.runs);
  });

  it('warns when a tier asks for points more often than backups are taken', () => {
    const result = simulate({ ...request, over: d('1d'), policy: parsePolicy({ keepTiers: ['1h:1d'] }) });
    expect(result.warnings).toEqual(['tier 1h:1d asks for one point per 1h, but backups are taken at most once per 1d']);
  });

  it('is JSON-able and deterministic', () => {
    const result = simulate(request);
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
    expect(simulate(request)).toEqual(result);
  });

  it("reads do-snapshot's --simulate INTERVAL:DURATION", () => {
    const { every, over } = parseSimulateOption('4h:3m');
    expect([every.text, over.text]).toEqual(['4h', '3m']);
    expect(() => parseSimulateOption('4h')).toThrow(/expected INTERVAL:DURATION/);
    expect(() => parseSimulateOption('4x:3m')).toThrow(/bad simulation interval "4x"/);
  });

  it('rejects a zero interval and runaway simulations with usage errors', () => {
    expect(() => simulate({ ...request, every: d('0h') })).toThrow(VmkeepError);
    expect(() => simulate({ ...request, every: d('1h'), over: d('30y') })).toThrow(/needs over 200000 runs/);
  });
});

describe('simulate with mergePoints (push chains)', () => {
  const base: SimulationRequest = {
    every: d('1d'),
    over: d('2m'),
    groupBy: 'month',
    policy: parsePolicy({ keepLast: 3, keepWeekly: 2 }),
    start: at('2026-05-01T01:00'),
    engine: 'push',
  };

  it('points no rule keeps are merged away inside the kept chain; without it the whole chain survives', () => {
    const whole = simulate(base);
    const merged = simulate({ ...base, mergePoints: true });
    expect(whole.mergedPoints).toBe(0);
    // The chain of the last month survives whole: one point per day of it.
    expect(whole.surviving.length).toBeGreaterThan(20);
    // With merging only the rule-selected points survive: 3 newest plus the newest of 2 weeks.
    expect(merged.surviving.length).toBeLessThanOrEqual(5);
    expect(merged.surviving.length).toBeGreaterThanOrEqual(3);
    expect(merged.surviving.every((s) => s.reasons.some((r) => /^keep-(last|weekly) /.test(r)))).toBe(true);
    expect(merged.mergedPoints).toBeGreaterThan(0);
    expect(merged.removedPoints).toBe(merged.backups - merged.surviving.length);
    // Point names stay unique after merges (no name is reused for a later point).
    const names = merged.surviving.map((s) => `${s.chain}/${s.point}`);
    expect(new Set(names).size).toBe(names.length);
    // The newest backup is always among the survivors.
    expect(merged.surviving.at(-1)!.time).toBe(merged.end);
  });
});

describe('simulate with mergePoints and the period rule (as the CLI builds it from --groupBy)', () => {
  it('chains the period rule keeps still lose the points no point rule selects; the period rule alone merges nothing', () => {
    const request: SimulationRequest = {
      every: d('1d'),
      over: d('2m'),
      policy: parsePolicy({ groupBy: 'month', vmsnapRule: true, keepLast: 2 }),
      start: at('2026-05-01T01:00'),
      mergePoints: true,
    };
    const merged = simulate(request);
    expect(merged.mergedPoints).toBeGreaterThan(0);
    expect(merged.surviving.every((s) => s.chain.startsWith('vmsnap-backup-monthly-'))).toBe(true);
    const periodOnly = simulate({ ...request, policy: parsePolicy({ groupBy: 'month', vmsnapRule: true }) });
    expect(periodOnly.mergedPoints).toBe(0);
  });

  it('says the engine was guessed when nothing was recorded and no --engine was given, and not otherwise', () => {
    const request: SimulationRequest = {
      every: d('1d'),
      over: d('1m'),
      policy: parsePolicy({ groupBy: 'month', keepLast: 2 }),
      start: at('2026-05-01T01:00'),
      mergePoints: true,
    };
    const guessed = simulate(request);
    expect(guessed.engine).toBe('virtnbdbackup');
    expect(guessed.warnings.filter((w) => w.startsWith('no --engine and no recorded chains'))).toHaveLength(1);
    expect(simulate({ ...request, engine: 'virtnbdbackup' }).warnings.some((w) => w.includes('--engine'))).toBe(false);
    expect(simulate({ ...request, mergePoints: false }).warnings.some((w) => w.includes('--engine'))).toBe(false);
  });
});
