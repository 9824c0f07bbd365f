/**
 * A host clock that ran ahead and was put back dates points in the future. Each point carries its
 * place in the recording order (`sequence`); the planner must let that order, not the dates,
 * decide which points are newest.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePolicy, planPrune, type DomainHistory, type RetentionChain } from '../../../src/retention/index.js';
import { NOW, rawPolicyArbitrary } from './arbitraries.js';

const HOUR = 3_600_000;

interface Shape {
  /** Points per chain, recorded chain after chain. */
  sizes: number[];
  /** Hours between consecutive recordings. */
  gaps: number[];
  /** Per point: how many hours ahead the clock was when it was taken (0: right). */
  ahead: number[];
}

const shape: fc.Arbitrary<Shape> = fc.record({
  sizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 5 }),
  gaps: fc.array(fc.integer({ min: 1, max: 72 }), { minLength: 20, maxLength: 20 }),
  ahead: fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 24 * 60 })), { minLength: 20, maxLength: 20 }),
});

/** Chains recorded one after another; real time runs up to NOW, dates are real time plus the clock's lead. */
function buildHistory(s: Shape): { history: DomainHistory; order: string[] } {
  const total = s.sizes.reduce((a, b) => a + b, 0);
  let real = NOW.getTime() - s.gaps.slice(0, total).reduce((a, b) => a + b, 0) * HOUR;
  let seq = 0;
  const order: string[] = [];
  const chains: RetentionChain[] = s.sizes.map((size, c) => {
    const id = `chain-${c}`;
    const points = Array.from({ length: size }, (_, i) => {
      real += s.gaps[seq]! * HOUR;
      const time = new Date(real + s.ahead[seq]! * HOUR);
      seq += 1;
      order.push(`${id}/virtnbdbackup.${i}`);
      return { id: `virtnbdbackup.${i}`, time, sequence: seq, protected: false };
    });
    return { id, domain: 'web', periodStart: undefined, state: 'complete', protected: false, points };
  });
  return { history: { domain: 'web', chains, lastBackupFailed: false }, order };
}

describe('retention by recording order', { timeout: 30_000 }, () => {
  it('keep-last N keeps the N points recorded last: a later-recorded point is never dropped for an earlier-recorded one dated in the future', () => {
    fc.assert(
      fc.property(shape, fc.integer({ min: 1, max: 6 }), (s, n) => {
        const { history, order } = buildHistory(s);
        const plan = planPrune([history], parsePolicy({ keepLast: n }), NOW);
        const domain = plan.domains[0]!;
        const picked = [...domain.keep, ...domain.remove].flatMap((c) =>
          c.points.filter((p) => p.reasons.some((r) => r.startsWith('keep-last '))).map((p) => `${c.id}/${p.id}`),
        );
        expect(picked.sort()).toEqual(order.slice(-n).sort());
        // The chain of the point recorded last is kept, whatever the dates.
        const lastChain = order.at(-1)!.split('/')[0]!;
        expect(domain.keep.map((c) => c.id)).toContain(lastChain);
      }),
    );
  });

  it('whatever the policy, the chain of the point recorded last is never removed', () => {
    fc.assert(
      fc.property(shape, rawPolicyArbitrary, (s, raw) => {
        const { history, order } = buildHistory(s);
        const plan = planPrune([history], parsePolicy(raw), NOW);
        const lastChain = order.at(-1)!.split('/')[0]!;
        expect(plan.domains[0]!.remove.map((c) => c.id)).not.toContain(lastChain);
      }),
    );
  });

  it("the repro: two points made a month ahead, then one at the real time; keep-last 1 keeps today's chain", () => {
    const ahead = (h: number) => new Date(NOW.getTime() + 35 * 24 * HOUR + h * HOUR);
    const history: DomainHistory = {
      domain: 'web',
      lastBackupFailed: false,
      chains: [
        {
          id: 'vmsnap-backup-monthly-2026-11',
          domain: 'web',
          periodStart: undefined,
          state: 'complete',
          protected: false,
          points: [{ id: 'virtnbdbackup.0', time: new Date(NOW.getTime() - HOUR), sequence: 3, protected: false }],
        },
        {
          id: 'vmsnap-backup-monthly-2026-12',
          domain: 'web',
          periodStart: undefined,
          state: 'complete',
          protected: false,
          points: [
            { id: 'virtnbdbackup.0', time: ahead(0), sequence: 1, protected: false },
            { id: 'virtnbdbackup.1', time: ahead(1), sequence: 2, protected: false },
          ],
        },
      ],
    };
    const plan = planPrune([history], parsePolicy({ keepLast: 1 }), NOW);
    expect(plan.domains[0]!.keep.map((c) => c.id)).toEqual(['vmsnap-backup-monthly-2026-11']);
    expect(plan.domains[0]!.remove.map((c) => c.id)).toEqual(['vmsnap-backup-monthly-2026-12']);
  });
});
