import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasAnyRule, parsePolicy, planPrune, type DomainHistory, type RawRetentionOptions, type RetentionChain } from '../../../src/retention/index.js';
import { historiesArbitrary, NOW, rawPolicyArbitrary } from './arbitraries.js';
import { removedIds, shuffle } from './builders.js';

const RULE_REASON = /^(keep-(last|hourly|daily|weekly|monthly|yearly) \d+\/\d+|within |tier |younger than )/;
const COUNT_RULES = [
  ['last', 'keepLast'],
  ['hourly', 'keepHourly'],
  ['daily', 'keepDaily'],
  ['weekly', 'keepWeekly'],
  ['monthly', 'keepMonthly'],
  ['yearly', 'keepYearly'],
] as const;
const forceArbitrary = fc.boolean();

function chainsOf(histories: readonly DomainHistory[], domain: string): RetentionChain[] {
  return histories.filter((h) => h.domain === domain).flatMap((h) => h.chains);
}

function lastTime(chain: RetentionChain): number {
  return Math.max(...chain.points.map((p) => p.time.getTime()));
}

// Generous timeout: each property runs 100 random cases, and the machines are shared.
describe('planPrune properties', { timeout: 30_000 }, () => {
  it('splits every chain into exactly one of keep and remove, with reasons, points following their chain', () => {
    fc.assert(
      fc.property(historiesArbitrary, rawPolicyArbitrary, forceArbitrary, (histories, raw, force) => {
        const plan = planPrune(histories, parsePolicy(raw), NOW, { force });
        for (const domain of plan.domains) {
          const input = chainsOf(histories, domain.domain);
          const kept = domain.keep.map((c) => c.id);
          const removed = domain.remove.map((c) => c.id);
          expect([...kept, ...removed].sort()).toEqual(input.map((c) => c.id).sort());
          for (const decision of [...domain.keep, ...domain.remove]) {
            expect(decision.reasons.length).toBeGreaterThan(0);
            expect(decision.points).toHaveLength(input.find((c) => c.id === decision.id)!.points.length);
            expect(decision.points.every((p) => p.action === decision.action && p.reasons.length > 0)).toBe(true);
          }
        }
      }),
    );
  });

  it('never removes the newest complete chain, chains in progress, protected or verify failed, or after a failed backup', () => {
    fc.assert(
      fc.property(historiesArbitrary, rawPolicyArbitrary, forceArbitrary, (histories, raw, force) => {
        const plan = planPrune(histories, parsePolicy(raw), NOW, { force });
        for (const history of histories) {
          const domain = plan.domains.find((d) => d.domain === history.domain)!;
          const removed = new Set(domain.remove.map((c) => c.id));
          if (history.lastBackupFailed && !force) expect(removed.size).toBe(0);
          for (const chain of history.chains) {
            const guarded = chain.protected || chain.points.some((p) => p.protected);
            if (chain.state === 'in-progress' || guarded) expect(removed.has(chain.id)).toBe(false);
            // Even forced: a chain verify failed is a person's to remove.
            if (chain.verifyFailedAt) expect(removed.has(chain.id)).toBe(false);
          }
          // The anchor: the newest complete chain that verify did not fail stays, whatever newer failed ones exist.
          const complete = history.chains.filter((c) => c.state === 'complete' && !c.verifyFailedAt);
          if (complete.length > 0) expect(complete.some((c) => !removed.has(c.id))).toBe(true);
          const withPoints = complete.filter((c) => c.points.length > 0);
          if (withPoints.length > 0) {
            const newest = Math.max(...withPoints.map(lastTime));
            expect(withPoints.some((c) => lastTime(c) === newest && !removed.has(c.id))).toBe(true);
          }
        }
      }),
    );
  });

  it('is deterministic: shuffling domains, chains and points gives a deep-equal plan', () => {
    fc.assert(
      fc.property(historiesArbitrary, rawPolicyArbitrary, fc.integer(), (histories, raw, seed) => {
        const policy = parsePolicy(raw);
        const shuffled = shuffle(histories, seed).map((h, i) => ({
          ...h,
          chains: shuffle(h.chains, seed + i).map((c, j) => ({ ...c, points: shuffle(c.points, seed + i + j) })),
        }));
        expect(planPrune(shuffled, policy, NOW)).toEqual(planPrune(histories, policy, NOW));
      }),
    );
  });

  it('lets keep-N rules pick at most N points, never a protected point or one of a broken or verify-failed chain', () => {
    fc.assert(
      fc.property(historiesArbitrary, rawPolicyArbitrary, (histories, raw) => {
        const plan = planPrune(histories, parsePolicy(raw), NOW);
        for (const domain of plan.domains) {
          const chains = [...domain.keep, ...domain.remove];
          const input = chainsOf(histories, domain.domain);
          for (const decision of chains) {
            const chain = input.find((c) => c.id === decision.id)!;
            decision.points.forEach((p) => {
              const picked = p.reasons.some((r) => RULE_REASON.test(r));
              const isProtected = chain.points.find((pt) => pt.id === p.id)!.protected;
              if (chain.state === 'broken' || chain.verifyFailedAt || isProtected) expect(picked).toBe(false);
            });
          }
          for (const [rule, key] of COUNT_RULES) {
            const n = (raw[key] as number | undefined) ?? 0;
            const reasons = chains.flatMap((c) => c.points.flatMap((p) => p.reasons));
            const picks = reasons.filter((r) => r.startsWith(`keep-${rule} `));
            expect(picks.length).toBeLessThanOrEqual(n);
            expect(picks.sort()).toEqual(picks.map((_, i) => `keep-${rule} ${i + 1}/${n}`).sort());
          }
        }
      }),
    );
  });

  it('ORs rules: adding a rule never removes more, and neither does taking force away', () => {
    const extraRule = fc.constantFrom<RawRetentionOptions>(
      { keepLast: 2 },
      { keepDaily: 3 },
      { keepWeekly: 2 },
      { keepMonthly: 1 },
      { keepYearly: 1 },
      { keepWithin: '1w' },
      { vmsnapRule: true },
    );
    fc.assert(
      fc.property(historiesArbitrary, rawPolicyArbitrary, extraRule, (histories, raw, extra) => {
        const key = Object.keys(extra)[0] as keyof RawRetentionOptions;
        const base = parsePolicy(raw);
        fc.pre(hasAnyRule(base) && (raw[key] === undefined || raw[key] === 0 || raw[key] === false));
        const before = new Set(removedIds(planPrune(histories, base, NOW)));
        const after = removedIds(planPrune(histories, parsePolicy({ ...raw, ...extra }), NOW));
        expect(after.every((id) => before.has(id))).toBe(true);
        const forced = new Set(removedIds(planPrune(histories, base, NOW, { force: true })));
        expect([...before].every((id) => forced.has(id))).toBe(true);
      }),
    );
  });

  it('a policy per domain decides each domain exactly as that policy alone would; no policy removes nothing', () => {
    const ownPolicy = fc.option(rawPolicyArbitrary, { nil: undefined });
    fc.assert(
      fc.property(historiesArbitrary, fc.tuple(ownPolicy, ownPolicy, ownPolicy), forceArbitrary, (histories, raws, force) => {
        const names = ['alpha', 'beta', 'gamma'];
        const policyFor = (d: string) => {
          const raw = raws[names.indexOf(d)];
          return raw === undefined ? undefined : parsePolicy(raw);
        };
        const plan = planPrune(histories, policyFor, NOW, { force });
        for (const domain of plan.domains) {
          const own = policyFor(domain.domain);
          if (own === undefined) {
            expect(domain.remove).toEqual([]);
            expect(domain.noPolicy).toBe(true);
            continue;
          }
          const alone = planPrune(
            histories.filter((h) => h.domain === domain.domain),
            own,
            NOW,
            { force },
          );
          expect({ ...domain }).toEqual(alone.domains[0]);
        }
        // Every domain is in exactly one policy group.
        expect(plan.policies.flatMap((g) => g.domains).sort()).toEqual(plan.domains.map((d) => d.domain).sort());
      }),
    );
  });
});
