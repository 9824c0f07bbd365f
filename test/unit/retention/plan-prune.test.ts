import { addDays, getHours } from 'date-fns';
import { describe, expect, it } from 'vitest';
import { VmkeepError } from '../../../src/errors.js';
import { parsePolicy, planPrune, policyLines, type RawRetentionOptions } from '../../../src/retention/index.js';
import { at, chain, decisionFor, history, keptIds, removedIds, singlePointChains, timesEvery } from './builders.js';

const NOW = at('2026-11-20T12:00'); // a Friday

function plan(chains: Parameters<typeof history>[0], raw: RawRetentionOptions, now = NOW) {
  return planPrune([history(chains)], parsePolicy(raw), now);
}

/** Reasons of the single point of a single-point chain. */
function pointReasons(p: ReturnType<typeof plan>, chainId: string): readonly string[] {
  return decisionFor(p, chainId).points[0]!.reasons;
}

describe('count rules (restic semantics: newest point per bucket)', () => {
  it('keep-last N keeps the N newest points', () => {
    const chains = singlePointChains(timesEvery(at('2026-11-15T03:00'), 5, 24));
    const p = plan(chains, { keepLast: 2 });
    expect(keptIds(p)).toEqual(['c-003', 'c-004']);
    expect(decisionFor(p, 'c-004').reasons).toEqual(['newest complete chain', 'virtnbdbackup.0: keep-last 1/2']);
    expect(decisionFor(p, 'c-003').reasons).toEqual(['virtnbdbackup.0: keep-last 2/2']);
    expect(decisionFor(p, 'c-000').reasons).toEqual(['not selected by any rule']);
    expect(decisionFor(p, 'c-000').points[0]!.reasons).toEqual(['removed with its chain']);
  });

  it('keep-daily keeps the newest point of each day that has one, skipping empty days', () => {
    const times = ['2026-11-16T03:00', '2026-11-17T03:00', '2026-11-17T15:00', '2026-11-18T03:00', '2026-11-20T03:00', '2026-11-20T09:00'];
    const p = plan(singlePointChains(times.map(at)), { keepDaily: 3 });
    expect(pointReasons(p, 'c-005')).toEqual(['keep-daily 1/3']);
    expect(pointReasons(p, 'c-003')).toEqual(['keep-daily 2/3']);
    expect(pointReasons(p, 'c-002')).toEqual(['keep-daily 3/3']);
    expect(removedIds(p)).toEqual(['c-000', 'c-001', 'c-004']);
  });

  it('keep-hourly uses local hours', () => {
    const times = ['2026-11-20T10:05', '2026-11-20T10:40', '2026-11-20T11:10', '2026-11-20T11:50'];
    const p = plan(singlePointChains(times.map(at)), { keepHourly: 2 });
    expect(keptIds(p)).toEqual(['c-001', 'c-003']);
    expect(pointReasons(p, 'c-001')).toEqual(['keep-hourly 2/2']);
  });

  it('keep-weekly uses ISO weeks: Sunday and the next Monday are different weeks', () => {
    const times = ['2026-11-14T03:00', '2026-11-15T03:00', '2026-11-16T03:00']; // Sat, Sun, Mon
    const p = plan(singlePointChains(times.map(at)), { keepWeekly: 2 });
    expect(pointReasons(p, 'c-002')).toEqual(['keep-weekly 1/2']);
    expect(pointReasons(p, 'c-001')).toEqual(['keep-weekly 2/2']);
    expect(removedIds(p)).toEqual(['c-000']);
  });

  it('keep-monthly and keep-yearly use calendar months and years', () => {
    const times = ['2025-06-01T03:00', '2025-12-31T23:00', '2026-01-02T03:00', '2026-10-31T23:30', '2026-11-01T00:30'];
    const chains = singlePointChains(times.map(at));
    const monthly = plan(chains, { keepMonthly: 2 });
    expect(pointReasons(monthly, 'c-004')).toEqual(['keep-monthly 1/2']);
    expect(pointReasons(monthly, 'c-003')).toEqual(['keep-monthly 2/2']);
    const yearly = plan(chains, { keepYearly: 2 });
    expect(keptIds(yearly)).toEqual(['c-001', 'c-004']);
    expect(pointReasons(yearly, 'c-001')).toEqual(['keep-yearly 2/2']);
  });

  it('rules are ORed: one point can be chosen by several rules, and each says so', () => {
    const chains = singlePointChains(timesEvery(at('2026-11-10T03:00'), 11, 24));
    const p = plan(chains, { keepDaily: 1, keepWeekly: 2 });
    expect(pointReasons(p, 'c-010')).toEqual(['keep-daily 1/1', 'keep-weekly 1/2']);
    // The previous ISO week's newest point is Sunday Nov 15.
    expect(pointReasons(p, 'c-005')).toEqual(['keep-weekly 2/2']);
    expect(keptIds(p)).toEqual(['c-005', 'c-010']);
  });
});

describe('keep-within', () => {
  it('keeps every point newer than now minus the duration', () => {
    const times = ['2026-11-17T11:00', '2026-11-17T13:00', '2026-11-19T03:00'];
    const p = plan(singlePointChains(times.map(at)), { keepWithin: '3d' });
    expect(pointReasons(p, 'c-001')).toEqual(['within 3d']);
    expect(pointReasons(p, 'c-002')).toEqual(['within 3d']);
    expect(removedIds(p)).toEqual(['c-000']);
  });
});

describe('tiers (do-snapshot INTERVAL:AGE)', () => {
  it('thins by the youngest tier first, deletes past a 0d tier, and leaves young points alone', () => {
    const times = timesEvery(at('2026-11-10T03:00'), 21, 12); // 03:00 and 15:00, Nov 10 to Nov 20 03:00
    const p = plan(singlePointChains(times), { keepTiers: ['0d:1w', '1d:2d'] });
    const twoDaysAgo = addDays(NOW, -2);
    const weekAgo = addDays(NOW, -7);
    const expectKept = (t: Date) => t > twoDaysAgo || (getHours(t) === 3 && t > weekAgo);
    const kept = times.map((t, i) => ({ t, id: `c-${String(i).padStart(3, '0')}` }));
    expect(keptIds(p)).toEqual(kept.filter(({ t }) => expectKept(t)).map(({ id }) => id));
    expect(pointReasons(p, 'c-020')).toEqual(['younger than 2d (no tier thins it yet)']);
    expect(pointReasons(p, 'c-016')).toEqual(['tier 1d:2d']); // Nov 18 03:00
    expect(decisionFor(p, 'c-000').action).toBe('remove');
  });

  it('walks each tier from the oldest point, so old kept points stay kept', () => {
    const times = timesEvery(at('2026-10-01T03:00'), 51, 24);
    const p = plan(singlePointChains(times), { keepTiers: ['1w:1d'] });
    const keptTimes = p.domains[0]!.keep.map((c) => c.newest);
    expect(keptTimes[0]).toBe(times[0]!.toISOString());
    expect(keptTimes[1]).toBe(addDays(times[0]!, 7).toISOString());
  });
});

describe('VMSnap period rule', () => {
  const monthChain = (id: string, month: string, days: number, options = {}) => chain(id, timesEvery(at(`2026-${month}-01T03:00`), days, 24), options);
  const sep = monthChain('vmsnap-backup-monthly-2026-09', '09', 30);
  const oct = monthChain('vmsnap-backup-monthly-2026-10', '10', 31);

  it('drops the previous month once the current month is 15 days old', () => {
    const nov = monthChain('vmsnap-backup-monthly-2026-11', '11', 20);
    const p = plan([sep, oct, nov], { vmsnapRule: true });
    expect(keptIds(p)).toEqual([nov.id]);
    expect(decisionFor(p, nov.id).reasons).toEqual(['newest complete chain', 'current monthly period']);
    expect(decisionFor(p, oct.id).reasons).toEqual(['older than the current monthly period by 15+ days']);
  });

  it('keeps the previous month during the grace days, but not the month before', () => {
    const nov = monthChain('vmsnap-backup-monthly-2026-11', '11', 10);
    const p = plan([sep, oct, nov], { vmsnapRule: true }, at('2026-11-10T12:00'));
    expect(decisionFor(p, oct.id).reasons).toEqual(['previous monthly period, until the current one is 15 days old']);
    expect(decisionFor(p, sep.id).reasons).toEqual(['older than the previous monthly period']);
  });

  it('drops nothing before the domain has a complete chain in the current period', () => {
    const nov = monthChain('vmsnap-backup-monthly-2026-11', '11', 20, { state: 'in-progress' });
    const p = plan([sep, oct, nov], { vmsnapRule: true });
    expect(removedIds(p)).toEqual([]);
    expect(decisionFor(p, sep.id).reasons).toEqual(['no complete chain in the current monthly period yet']);
    expect(decisionFor(p, oct.id).reasons).toEqual(['newest complete chain', 'no complete chain in the current monthly period yet']);
    expect(decisionFor(p, nov.id).reasons).toEqual(['in progress', 'current monthly period']);
  });

  it('uses 45 days for quarters', () => {
    const q3 = chain('vmsnap-backup-quarterly-2026-Q3', timesEvery(at('2026-07-01T03:00'), 92, 24));
    const q4 = chain('vmsnap-backup-quarterly-2026-Q4', timesEvery(at('2026-10-01T03:00'), 40, 24));
    const before = plan([q3, q4], { vmsnapRule: true, groupBy: 'quarter' }, at('2026-11-14T12:00'));
    expect(decisionFor(before, q3.id).action).toBe('keep');
    const after = plan([q3, q4], { vmsnapRule: true, groupBy: 'quarter' }, at('2026-11-15T12:00'));
    expect(decisionFor(after, q3.id).reasons).toEqual(['older than the current quarterly period by 45+ days']);
  });

  it("prefers a chain's known periodStart over its first point", () => {
    const early = chain('vmsnap-backup-monthly-2026-11', [at('2026-10-31T23:30'), at('2026-11-05T03:00')], {
      periodStart: at('2026-11-01T00:00'),
    });
    const p = plan([oct, early], { vmsnapRule: true });
    expect(decisionFor(p, early.id).reasons).toContain('current monthly period');
    expect(decisionFor(p, oct.id).action).toBe('remove');
  });

  it('is ORed with point rules: a keep-monthly point keeps an old period', () => {
    const nov = monthChain('vmsnap-backup-monthly-2026-11', '11', 20);
    const p = plan([sep, oct, nov], { vmsnapRule: true, keepMonthly: 2 });
    expect(decisionFor(p, oct.id).reasons).toEqual(['virtnbdbackup.30: keep-monthly 2/2']);
    expect(decisionFor(p, sep.id).reasons).toEqual(['older than the current monthly period by 15+ days', 'not selected by any rule']);
  });
});

describe('chains go whole', () => {
  it('keeps a chain for one selected point and names it', () => {
    const a = chain('a', timesEvery(at('2026-11-01T03:00'), 5, 24));
    const b = chain('b', timesEvery(at('2026-11-06T03:00'), 15, 24));
    const p = plan([a, b], { keepDaily: 16 });
    const decision = decisionFor(p, 'a');
    expect(decision.action).toBe('keep');
    expect(decision.keptBy).toEqual([{ pointId: 'virtnbdbackup.4', reason: 'keep-daily 16/16' }]);
    expect(decision.points.map((pt) => pt.reasons)).toEqual([
      ['kept with its chain'],
      ['kept with its chain'],
      ['kept with its chain'],
      ['kept with its chain'],
      ['keep-daily 16/16'],
    ]);
  });

  it('finds the right points across empty chains, and across chains that overlap in time', () => {
    const a = chain('a', timesEvery(at('2026-11-01T03:00'), 3, 24));
    const empty = chain('empty', [], { periodStart: at('2026-11-04T00:00') });
    const b = chain('b', timesEvery(at('2026-11-05T03:00'), 2, 24));
    const inOrder = plan([a, empty, b], { keepLast: 3 });
    expect(decisionFor(inOrder, 'a').keptBy).toEqual([{ pointId: 'virtnbdbackup.2', reason: 'keep-last 3/3' }]);
    expect(decisionFor(inOrder, 'b').keptBy.map((k) => k.reason)).toEqual(['keep-last 1/3', 'keep-last 2/3']);
    expect(decisionFor(inOrder, 'empty').reasons).toEqual(['not selected by any rule']);

    const overlapping = chain('c', [at('2026-11-02T15:00'), at('2026-11-05T15:00')]);
    const mixed = plan([a, b, overlapping], { keepLast: 3 });
    // Newest first: b Nov 6, c Nov 5 15:00, b Nov 5 03:00.
    expect(decisionFor(mixed, 'c').keptBy).toEqual([{ pointId: 'virtnbdbackup.1', reason: 'keep-last 2/3' }]);
    expect(decisionFor(mixed, 'b').keptBy.map((k) => k.reason)).toEqual(['keep-last 1/3', 'keep-last 3/3']);
    expect(decisionFor(mixed, 'a').action).toBe('remove');
  });
});

describe('safety rules', () => {
  const old = singlePointChains(timesEvery(at('2026-11-01T03:00'), 3, 24));

  it('never removes the newest complete chain', () => {
    const p = plan(old, { keepWithin: '1d' });
    expect(keptIds(p)).toEqual(['c-002']);
    expect(decisionFor(p, 'c-002').reasons).toEqual(['newest complete chain']);
  });

  it('takes the newest complete chain to be the one holding the newest point, not an empty one', () => {
    const empty = chain('empty', [], { periodStart: at('2026-11-10T00:00') });
    const p = plan([...old, empty], { keepWithin: '1d' });
    expect(decisionFor(p, 'c-002').reasons).toEqual(['newest complete chain']);
    expect(decisionFor(p, 'empty').action).toBe('remove');
  });

  it('keeps chains in progress, and still the newest complete one', () => {
    const running = chain('running', [at('2026-11-20T03:00')], { state: 'in-progress' });
    const p = plan([...old, running], { keepLast: 1 });
    expect(decisionFor(p, 'running').reasons).toEqual(['in progress', 'virtnbdbackup.0: keep-last 1/1']);
    expect(decisionFor(p, 'c-002').reasons).toEqual(['newest complete chain']);
    expect(removedIds(p)).toEqual(['c-000', 'c-001']);
  });

  it('keeps protected chains and chains with a protected point', () => {
    const guarded = chain('guarded', [at('2026-10-01T03:00')], { protected: true });
    const pinned = chain('pinned', [at('2026-10-02T03:00'), at('2026-10-03T03:00')], { protectedPoints: [1] });
    const p = plan([guarded, pinned, ...old], { keepLast: 1 });
    expect(decisionFor(p, 'guarded').reasons).toEqual(['protected']);
    expect(decisionFor(p, 'pinned').reasons).toEqual(['protected point virtnbdbackup.1']);
    expect(decisionFor(p, 'pinned').points[1]!.reasons).toEqual(['protected']);
  });

  it('does not count protected points toward keep-N', () => {
    const chains = singlePointChains(timesEvery(at('2026-11-17T03:00'), 3, 24));
    const newestProtected = chain('c-002', [at('2026-11-19T03:00')], { protectedPoints: [0] });
    const withNewestProtected = [...chains.slice(0, 2), newestProtected];
    const p = plan(withNewestProtected, { keepLast: 1 });
    expect(pointReasons(p, 'c-001')).toEqual(['keep-last 1/1']);
    expect(pointReasons(p, 'c-002')).toEqual(['protected']);
    expect(removedIds(p)).toEqual(['c-000']);
  });

  it("does not count a broken chain's points and removes it unless something keeps it", () => {
    const broken = chain('broken', [at('2026-11-19T03:00')], { state: 'broken' });
    const p = plan([...old, broken], { keepLast: 1 });
    expect(decisionFor(p, 'c-002').reasons).toEqual(['newest complete chain', 'virtnbdbackup.0: keep-last 1/1']);
    expect(decisionFor(p, 'broken').reasons).toEqual(['broken chain: its points count toward no rule']);
  });

  it('prunes nothing of a domain whose latest backup failed, unless forced', () => {
    const chains = [
      history(old, { domain: 'db', lastBackupFailed: true }),
      history(singlePointChains([at('2026-11-01T03:00'), at('2026-11-02T03:00')], 'web')),
    ];
    const policy = parsePolicy({ keepLast: 1 });
    const held = planPrune(chains, policy, NOW);
    expect(held.domains.map((d) => d.domain)).toEqual(['db', 'web']);
    expect(held.domains[0]!.remove).toEqual([]);
    expect(held.domains[0]!.keep.every((c) => c.reasons[0] === 'latest backup failed: nothing pruned')).toBe(true);
    expect(held.domains[1]!.remove.map((c) => c.id)).toEqual(['c-000']);
    expect(held.warnings).toEqual(['db: latest backup failed, nothing pruned (force to prune anyway)']);
    const forced = planPrune(chains, policy, NOW, { force: true });
    expect(forced.domains[0]!.remove.map((c) => c.id)).toEqual(['c-000', 'c-001']);
    expect(forced.warnings).toEqual([]);
  });

  describe('a chain whose last verify failed', () => {
    const failedAt = at('2026-11-20T10:00');
    const held = `failed its last verify on ${failedAt.toISOString()}: kept for inspection; remove it by hand after checking`;

    it('is no anchor and no keep-N pick: the newest chain verify did not fail stays, and the failed one is held', () => {
      // The review's repro: .2 sound, .3 newest but failed; keep-last 1 removed .2 before.
      const two = chain('chain.2', [at('2026-11-18T03:00'), at('2026-11-19T03:00')]);
      const three = chain('chain.3', [at('2026-11-20T03:00')], { verifyFailedAt: failedAt });
      const p = plan([...old, two, three], { keepLast: 1 });
      expect(decisionFor(p, 'chain.3')).toMatchObject({ action: 'keep', reasons: [held], keptBy: [] });
      expect(decisionFor(p, 'chain.3').points[0]!.reasons).toEqual(['kept with its chain']);
      expect(decisionFor(p, 'chain.2').reasons).toEqual([
        'newest complete chain that passed or was not yet failed by verify',
        'virtnbdbackup.1: keep-last 1/1',
      ]);
      expect(removedIds(p)).toEqual(['c-000', 'c-001', 'c-002']);
      expect(p.warnings).toEqual([`vm1: chain.3 ${held}`]);
    });

    it('keeps the plain anchor words when the failed chain is older than the anchor', () => {
      const failedOld = chain('failed-old', [at('2026-10-01T03:00')], { verifyFailedAt: failedAt });
      const p = plan([failedOld, ...old], { keepLast: 1 });
      expect(decisionFor(p, 'c-002').reasons).toEqual(['newest complete chain', 'virtnbdbackup.0: keep-last 1/1']);
      expect(decisionFor(p, 'failed-old').reasons).toEqual([held]);
    });

    it('is never removed, not by the period rule, not when forced, not when every chain failed', () => {
      const failedOnly = [
        chain('a', [at('2026-09-01T03:00')], { verifyFailedAt: failedAt }),
        chain('b', [at('2026-11-19T03:00')], { verifyFailedAt: failedAt }),
      ];
      const forced = planPrune([history(failedOnly, { lastBackupFailed: true })], parsePolicy({ keepLast: 1, groupBy: 'month', vmsnapRule: true }), NOW, {
        force: true,
      });
      expect(removedIds(forced)).toEqual([]);
      expect(decisionFor(forced, 'a').reasons).toEqual([held, 'no complete chain in the current monthly period yet']);
      expect(decisionFor(forced, 'b').reasons).toEqual([held, 'current monthly period']);
    });

    it('does not count as the complete chain of the current period: the older period stays', () => {
      const october = chain('2026-10', [at('2026-10-05T03:00')], { periodStart: at('2026-10-01T00:00') });
      const olderStill = chain('2026-09', [at('2026-09-05T03:00')], { periodStart: at('2026-09-01T00:00') });
      const november = chain('2026-11', [at('2026-11-19T03:00')], { periodStart: at('2026-11-01T00:00'), verifyFailedAt: failedAt });
      const p = plan([olderStill, october, november], { groupBy: 'month', vmsnapRule: true });
      expect(keptIds(p)).toEqual(['2026-09', '2026-10', '2026-11']);
      expect(decisionFor(p, '2026-09').reasons).toEqual(['no complete chain in the current monthly period yet']);
    });
  });

  it('prunes nothing without any rule', () => {
    const p = plan(old, {});
    expect(removedIds(p)).toEqual([]);
    expect(decisionFor(p, 'c-000').reasons).toEqual(['no retention rule configured: nothing pruned']);
  });
});

describe('plan shape', () => {
  it('counts totals and records now, force and the policy in words', () => {
    const chains = [chain('a', timesEvery(at('2026-11-01T03:00'), 4, 24)), chain('b', timesEvery(at('2026-11-10T03:00'), 3, 24))];
    const p = plan(chains, { keepLast: 1 });
    expect(p.totals).toEqual({ keptChains: 1, removedChains: 1, keptPoints: 3, removedPoints: 4, mergedPoints: 0 });
    expect(p.now).toBe(NOW.toISOString());
    expect(p.force).toBe(false);
    expect(p.policy[0]).toBe('keep-last 1: the newest point');
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
  });

  it('merges a domain listed twice and rejects a chain listed twice', () => {
    const [a, b] = singlePointChains([at('2026-11-01T03:00'), at('2026-11-02T03:00')]);
    const merged = planPrune([history([a!]), history([b!])], parsePolicy({ keepLast: 1 }), NOW);
    expect(merged.domains).toHaveLength(1);
    expect(removedIds(merged)).toEqual(['c-000']);
    expect(() => planPrune([history([a!, a!])], parsePolicy({ keepLast: 1 }), NOW)).toThrow(VmkeepError);
  });
});

describe('a policy per domain (vmkeep prune with the config file)', () => {
  const days = (domain: string) => singlePointChains(timesEvery(at('2026-11-15T03:00'), 5, 24), domain);
  const histories = [history(days('web')), history(days('db')), history(days('old'))];
  const own: Record<string, RawRetentionOptions | undefined> = { web: { keepLast: 1 }, db: { keepLast: 3 }, old: undefined };
  const policyFor = (d: string) => (own[d] === undefined ? undefined : parsePolicy(own[d]));

  it('judges each domain by its own policy; a domain without one is held, named in a warning with what to do', () => {
    const p = planPrune(histories, policyFor, NOW, { noPolicyHint: 'set retention for it in the config file' });
    const removedOf = (d: string) => p.domains.find((x) => x.domain === d)!.remove.map((c) => c.id);
    expect(removedOf('web')).toEqual(['c-000', 'c-001', 'c-002', 'c-003']);
    expect(removedOf('db')).toEqual(['c-000', 'c-001']);
    expect(removedOf('old')).toEqual([]);
    const old = p.domains.find((x) => x.domain === 'old')!;
    expect(old.noPolicy).toBe(true);
    expect(old.keep[0]!.reasons).toContain('no retention rule configured: nothing pruned');
    expect(p.domains.find((x) => x.domain === 'web')!.noPolicy).toBeUndefined();
    expect(p.warnings).toEqual(['old: no retention policy applies to it, nothing pruned (set retention for it in the config file)']);
  });

  it('says which domains each distinct policy applies to, in the plan and its groups', () => {
    const p = planPrune(histories, policyFor, NOW);
    // Domains come sorted by name: db, old, web.
    expect(p.policies).toEqual([
      { domains: ['db'], lines: parsePolicyLines({ keepLast: 3 }) },
      { domains: ['old'], lines: ['no retention policy applies: nothing is pruned'] },
      { domains: ['web'], lines: parsePolicyLines({ keepLast: 1 }) },
    ]);
    expect(p.policy.slice(0, 6)).toEqual([
      'for db:',
      '  keep-last 3: the 3 newest points',
      'for old:',
      '  no retention policy applies: nothing is pruned',
      'for web:',
      '  keep-last 1: the newest point',
    ]);
    // The rules every policy shares are said once, after the groups.
    expect(p.policy.filter((l) => l.startsWith('always kept:'))).toHaveLength(1);
    // Equal policies (equal words) make one group.
    const same = planPrune(histories, (d) => (d === 'old' ? undefined : parsePolicy({ keepLast: 2 })), NOW);
    expect(same.policies.map((g) => g.domains)).toEqual([['db', 'web'], ['old']]);
    expect(same.policy[0]).toBe('for db, web:');
  });

  it('a policy warning names the domains whose policy it is about', () => {
    const p = planPrune(histories, (d) => (d === 'db' ? parsePolicy({ keepTiers: ['0d:1w', '1d:1m'] }) : parsePolicy({ keepLast: 1 })), NOW);
    expect(p.warnings.some((w) => w.startsWith('db: tier 1d:1m never sees a point'))).toBe(true);
    expect(p.warnings.filter((w) => w.includes('never sees a point'))).toHaveLength(1);
  });

  it('one policy for every domain keeps the plan as before: its lines, unprefixed warnings, one group of all domains', () => {
    const policy = parsePolicy({ keepLast: 1 });
    const p = planPrune(histories, policy, NOW);
    expect(p.policy).toEqual(parsePolicyLines({ keepLast: 1 }));
    expect(p.policies).toEqual([{ domains: ['db', 'old', 'web'], lines: p.policy }]);
    expect(p.domains.every((d) => d.noPolicy === undefined)).toBe(true);
  });
});

function parsePolicyLines(raw: RawRetentionOptions): string[] {
  return policyLines(parsePolicy(raw));
}
