/**
 * Point-level retention (push chains, `mergePoints`): properties of the merges the planner
 * lists, and a model of the merge itself that proves every kept point still restores to the
 * same content afterwards.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasPointRules } from '../../../src/retention/policy.js';
import { parseDuration, parsePolicy, planPrune, simulate, type DomainHistory, type PointMerge, type RetentionChain } from '../../../src/retention/index.js';
import { historiesArbitrary, NOW, rawPolicyArbitrary } from './arbitraries.js';

/** The same histories, every chain a push chain. */
const mergeableHistories = historiesArbitrary.map((hs) => hs.map((h): DomainHistory => ({ ...h, chains: h.chains.map((c) => ({ ...c, mergeable: true })) })));

function chainOf(histories: readonly DomainHistory[], domain: string, id: string): RetentionChain {
  return histories.find((h) => h.domain === domain)!.chains.find((c) => c.id === id)!;
}

/**
 * A chain of images as the model sees it: image i holds the blocks point i wrote (block -> the
 * point that wrote it). A point restores to its image over its backing images.
 */
type Image = { id: string; own: Map<number, string> };

function view(images: readonly Image[], upTo: number): Map<number, string> {
  const out = new Map<number, string>();
  for (let i = 0; i <= upTo; i++) for (const [b, v] of images[i]!.own) out.set(b, v);
  return out;
}

/** Apply the merges as the executor does: `into` gets the dropped images' blocks it did not overwrite. */
function applyMerges(images: readonly Image[], merges: readonly PointMerge[]): Image[] {
  let out = [...images];
  for (const m of merges) {
    const into = out.findIndex((x) => x.id === m.into);
    const first = out.findIndex((x) => x.id === m.dropped[0]);
    // The dropped points are the ones right before `into`, in order; newParent the one before them.
    expect(out.slice(first, into).map((x) => x.id)).toEqual(m.dropped);
    expect(first === 0 ? undefined : out[first - 1]!.id).toBe(m.newParent);
    const own = new Map<number, string>();
    for (let i = first; i <= into; i++) for (const [b, v] of out[i]!.own) own.set(b, v);
    out = [...out.slice(0, first), { id: m.into, own }, ...out.slice(into + 1)];
  }
  return out;
}

describe('planPrune with mergePoints: properties', { timeout: 60_000 }, () => {
  it('never drops the newest point of a chain, a protected point, or anything of a chain in progress, broken, protected, verify failed, removed, or of a held domain', () => {
    fc.assert(
      fc.property(mergeableHistories, rawPolicyArbitrary, fc.boolean(), (histories, raw, force) => {
        const policy = parsePolicy(raw);
        const plan = planPrune(histories, policy, NOW, { force, mergePoints: true });
        for (const domain of plan.domains) {
          const history = histories.find((h) => h.domain === domain.domain)!;
          if (history.lastBackupFailed && !force) expect(domain.merges).toEqual([]);
          // Only point rules select points: the period rule alone keeps its chains whole.
          if (!hasPointRules(policy)) expect(domain.merges).toEqual([]);
          for (const m of domain.merges) {
            const chain = chainOf(histories, domain.domain, m.chain);
            expect(chain.state).toBe('complete');
            expect(chain.protected).toBe(false);
            expect(chain.verifyFailedAt).toBeUndefined();
            expect(domain.keep.map((c) => c.id)).toContain(m.chain);
            expect(m.dropped).not.toContain(chain.points.at(-1)!.id);
            for (const id of m.dropped) expect(chain.points.find((p) => p.id === id)!.protected).toBe(false);
            expect(m.reasons.length).toBeGreaterThan(0);
            // A dropped point is marked removed in its (kept) chain's decision; no rule selected it.
            const decision = domain.keep.find((c) => c.id === m.chain)!;
            for (const id of m.dropped) {
              const p = decision.points.find((x) => x.id === id)!;
              expect(p.action).toBe('remove');
              expect(decision.keptBy.map((k) => k.pointId)).not.toContain(id);
            }
          }
        }
      }),
    );
  });

  it('the newest complete chain keeps its newest point; a rule-selected point is never dropped', () => {
    fc.assert(
      fc.property(mergeableHistories, rawPolicyArbitrary, (histories, raw) => {
        const plan = planPrune(histories, parsePolicy(raw), NOW, { force: true, mergePoints: true });
        const without = planPrune(histories, parsePolicy(raw), NOW, { force: true });
        for (const domain of plan.domains) {
          const before = without.domains.find((d) => d.domain === domain.domain)!;
          // Merging changes which points go, never which chains.
          expect(domain.keep.map((c) => c.id)).toEqual(before.keep.map((c) => c.id));
          const selected = new Set(before.keep.flatMap((c) => c.keptBy.map((k) => `${c.id}/${k.pointId}`)));
          for (const m of domain.merges) for (const id of m.dropped) expect(selected.has(`${m.chain}/${id}`)).toBe(false);
        }
      }),
    );
  });

  it('every kept point restores to the same content after the merges (model of the images)', () => {
    fc.assert(
      fc.property(mergeableHistories, rawPolicyArbitrary, fc.integer({ min: 1, max: 1_000_000 }), (histories, raw, seed) => {
        const plan = planPrune(histories, parsePolicy(raw), NOW, { force: true, mergePoints: true });
        for (const domain of plan.domains) {
          for (const decision of domain.keep) {
            const chain = chainOf(histories, domain.domain, decision.id);
            // Each point writes a few blocks of 8, some overwriting earlier ones.
            const images: Image[] = chain.points.map((p, i) => ({
              id: p.id,
              own: new Map([0, 1, 2].map((k) => [(seed * (i + 3) + k * 5) % 8, `${p.id}#${k}`] as const)),
            }));
            const merges = domain.merges.filter((m) => m.chain === decision.id);
            const after = applyMerges(images, merges);
            const dropped = new Set(merges.flatMap((m) => m.dropped));
            expect(after.map((x) => x.id)).toEqual(chain.points.map((p) => p.id).filter((id) => !dropped.has(id)));
            for (const [j, image] of after.entries()) {
              const i = images.findIndex((x) => x.id === image.id);
              expect(view(after, j)).toEqual(view(images, i));
            }
          }
        }
      }),
    );
  });
});

describe('planPrune with mergePoints: examples', () => {
  const hours = (n: number) => Array.from({ length: n }, (_, i) => new Date(NOW.getTime() - (n - i) * 3_600_000));
  const pushChain = (id: string, n: number, extra: Partial<RetentionChain> = {}): RetentionChain => ({
    id,
    domain: 'vm1',
    periodStart: undefined,
    state: 'complete',
    protected: false,
    mergeable: true,
    points: hours(n).map((time, i) => ({ id: `vmkeep.0a0b0c0d.${i}`, time, protected: false })),
    ...extra,
  });

  it('keep-last 2 over a five-point push chain merges the full and the next two into point 3, which becomes the full', () => {
    const plan = planPrune([{ domain: 'vm1', chains: [pushChain('c1', 5)], lastBackupFailed: false }], parsePolicy({ keepLast: 2 }), NOW, {
      mergePoints: true,
    });
    expect(plan.domains[0]!.merges).toEqual([
      {
        chain: 'c1',
        dropped: ['vmkeep.0a0b0c0d.0', 'vmkeep.0a0b0c0d.1', 'vmkeep.0a0b0c0d.2'],
        into: 'vmkeep.0a0b0c0d.3',
        newParent: undefined,
        reasons: ['not selected by any rule: merged into vmkeep.0a0b0c0d.3, which becomes the full'],
      },
    ]);
    expect(plan.totals).toMatchObject({ keptPoints: 2, removedPoints: 3, mergedPoints: 3 });
  });

  it('a protected full splits the run: the middle points merge into the next kept point and rest on the full', () => {
    const c = pushChain('c1', 4);
    const chain = { ...c, points: c.points.map((p, i) => (i === 0 ? { ...p, protected: true } : p)) };
    const plan = planPrune([{ domain: 'vm1', chains: [chain], lastBackupFailed: false }], parsePolicy({ keepLast: 1 }), NOW, { mergePoints: true });
    expect(plan.domains[0]!.merges).toMatchObject([
      { dropped: ['vmkeep.0a0b0c0d.1', 'vmkeep.0a0b0c0d.2'], into: 'vmkeep.0a0b0c0d.3', newParent: 'vmkeep.0a0b0c0d.0' },
    ]);
  });

  it('nothing merges without mergePoints, in a virtnbdbackup chain, in progress, verify failed, or after a failed backup', () => {
    const policy = parsePolicy({ keepLast: 1 });
    const one = (c: RetentionChain, failed = false) =>
      planPrune([{ domain: 'vm1', chains: [c], lastBackupFailed: failed }], policy, NOW, { mergePoints: true }).domains[0]!.merges;
    expect(planPrune([{ domain: 'vm1', chains: [pushChain('c1', 3)], lastBackupFailed: false }], policy, NOW).domains[0]!.merges).toEqual([]);
    expect(one(pushChain('c1', 3, { mergeable: false }))).toEqual([]);
    expect(one(pushChain('c1', 3, { state: 'in-progress' }))).toEqual([]);
    expect(one(pushChain('c1', 3), true)).toEqual([]);
    expect(one(pushChain('c1', 3, { verifyFailedAt: NOW }))).toEqual([]);
    expect(one(pushChain('c1', 3))).toHaveLength(1);
  });
});

describe('simulate with mergePoints: properties', { timeout: 60_000 }, () => {
  it("the newest backup always survives; every surviving point is selected by a rule, is its chain's newest or (virtnbdbackup) its full; counts add up", () => {
    fc.assert(
      fc.property(rawPolicyArbitrary, fc.constantFrom('12h', '1d', '3d'), fc.constantFrom('push' as const, 'virtnbdbackup' as const), (raw, every, engine) => {
        const policy = parsePolicy(raw);
        fc.pre(hasPointRules(policy));
        const result = simulate({
          every: parseDuration(every),
          over: parseDuration('1m'),
          groupBy: 'month',
          policy,
          start: new Date('2026-05-03T01:00:00'),
          mergePoints: true,
          engine,
        });
        expect(result.surviving.at(-1)!.time).toBe(result.end);
        expect(result.removedPoints + result.surviving.length).toBe(result.backups);
        expect(result.mergedPoints).toBeLessThanOrEqual(result.removedPoints);
        expect(result.merges.flatMap((m) => m.dropped)).toHaveLength(result.mergedPoints);
        const newestOfChain = new Map(result.surviving.map((s) => [s.chain, s.point]));
        const firstOfChain = new Map([...result.surviving].reverse().map((s) => [s.chain, s.point]));
        for (const s of result.surviving) {
          const selected = s.reasons.some((r) => !r.startsWith('kept with its chain'));
          const full = engine === 'virtnbdbackup' && firstOfChain.get(s.chain) === s.point && s.point === 'virtnbdbackup.0';
          expect(selected || full || newestOfChain.get(s.chain) === s.point, `${s.chain}/${s.point}: ${s.reasons.join('; ')}`).toBe(true);
        }
        // A virtnbdbackup chain's full is never merged; a push chain's may be.
        if (engine === 'virtnbdbackup') expect(result.merges.filter((m) => m.newParent === undefined)).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });
});
