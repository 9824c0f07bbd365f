import { describe, expect, it } from 'vitest';
import { parseDuration, parsePolicy, planPrune, renderPrunePlan, renderSimulation, simulate } from '../../../src/retention/index.js';
import { at, chain, history, singlePointChains, timesEvery } from './builders.js';

describe('renderPrunePlan', () => {
  const now = at('2026-11-20T12:00');
  const chains = [
    chain('vmsnap-backup-monthly-2026-10', timesEvery(at('2026-10-01T03:00'), 31, 24)),
    chain('vmsnap-backup-monthly-2026-11', timesEvery(at('2026-11-01T03:00'), 20, 24)),
  ];
  const plan = planPrune(
    [history(chains, { domain: 'web01' }), history(singlePointChains([at('2026-11-19T03:00')], 'db01'), { lastBackupFailed: true })],
    parsePolicy({ vmsnapRule: true, keepDaily: 7 }),
    now,
  );
  const text = renderPrunePlan(plan);
  const lines = text.split('\n');

  it('prints one table per domain, sorted by domain, with chain, action and reasons', () => {
    expect(lines.indexOf('Domain db01 (latest backup failed)')).toBeLessThan(lines.indexOf('Domain web01'));
    const october = lines.find((l) => l.includes('vmsnap-backup-monthly-2026-10'));
    expect(october).toMatch(/complete\s+31\s+2026-10-31 03:00\s+remove\s+older than the current monthly period by 15\+/);
    const november = lines.find((l) => l.includes('vmsnap-backup-monthly-2026-11'));
    // 2 chain reasons + 7 points picked by keep-daily: 3 shown, 6 more.
    expect(november).toMatch(/keep\s+newest complete chain; current monthly period; virtnbdbackup\.19: keep-daily 1\/7 \(\+6 more\)$/);
  });

  it('shows the policy, the warnings and the totals', () => {
    expect(lines[0]).toBe('Prune plan at 2026-11-20 12:00');
    expect(lines).toContain('  keep-daily 7: the newest point of each of the last 7 days that have one');
    expect(lines).toContain('warning: db01: latest backup failed, nothing pruned (force to prune anyway)');
    expect(lines.at(-1)).toBe('Total: keep 2 chains (21 points), remove 1 chain (31 points)');
  });
});

describe('renderSimulation', () => {
  it('lists every surviving point and the warnings', () => {
    const result = simulate({
      every: parseDuration('1d'),
      over: parseDuration('1m'),
      policy: parsePolicy({ keepTiers: ['2w:1w', '1w:2w'] }),
      start: at('2026-05-01T03:00'),
    });
    const lines = renderSimulation(result).split('\n');
    const header = lines.findIndex((l) => /^TIME\s+CHAIN\s+POINT\s+WHY$/.test(l));
    expect(header).toBeGreaterThan(0);
    const rows = lines.slice(header + 1, header + 1 + result.surviving.length);
    expect(rows.every((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d {2}backup-/.test(l))).toBe(true);
    expect(lines).toContain(`${result.surviving.length} points survive`);
    expect(lines.filter((l) => l.startsWith('warning: '))).toHaveLength(result.warnings.length);
    expect(result.warnings.length).toBeGreaterThan(0);
  });
});

describe('renderPrunePlan with merges', () => {
  it('prints one line per merge under the domain table and counts merged points in the total', () => {
    const now = at('2026-11-20T12:00');
    const push = { ...chain('c1', timesEvery(at('2026-11-10T03:00'), 5, 24), { domain: 'web01' }), mergeable: true };
    const plan = planPrune([history([push], { domain: 'web01' })], parsePolicy({ keepLast: 2 }), now, { mergePoints: true });
    const lines = renderPrunePlan(plan).split('\n');
    expect(lines).toContain('  merge c1: virtnbdbackup.0, virtnbdbackup.1, virtnbdbackup.2 into virtnbdbackup.3 (which becomes the full)');
    expect(lines.at(-1)).toBe('Total: keep 1 chain (2 points), remove 0 chains (3 points), of them 3 points merged into their child');
  });
});
