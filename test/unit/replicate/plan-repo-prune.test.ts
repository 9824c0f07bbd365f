import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planRepoPrune, repoHistories } from '../../../src/replicate/plan-repo-prune.js';
import type { ExistingSnapshot } from '../../../src/replicate/plan-replicate.js';
import { parsePolicy } from '../../../src/retention/policy.js';

const MONTHS = ['2026-08', '2026-09', '2026-10', '2026-11'];

/** Snapshots of `counts[i]` points in the monthly chain of MONTHS[i], for host hv1, domain web. */
function snapshots(counts: readonly number[], domain = 'web'): ExistingSnapshot[] {
  return counts.flatMap((n, c) =>
    Array.from({ length: n }, (_, i) => ({
      id: `${domain}-${c}-${i}`,
      point: { host: 'hv1', domain, chain: `vmsnap-backup-monthly-${MONTHS[c]}`, checkpoint: `virtnbdbackup.${i}` },
      time: new Date(`${MONTHS[c]}-0${1 + i}T03:00:00Z`).toISOString(),
    })),
  );
}

const now = new Date('2026-11-20T00:00:00Z');

describe('planRepoPrune', () => {
  it('keep-last 1 forgets the older chains whole and keeps the newest', () => {
    const { forget } = planRepoPrune(snapshots([2, 3, 2]), parsePolicy({ keepLast: 1 }), now);
    expect(forget.map((f) => [f.chain, f.snapshots])).toEqual([
      ['vmsnap-backup-monthly-2026-08', ['web-0-0', 'web-0-1']],
      ['vmsnap-backup-monthly-2026-09', ['web-1-0', 'web-1-1', 'web-1-2']],
    ]);
    expect(forget.every((f) => f.domain === 'hv1/web')).toBe(true);
  });

  it('one history per host/domain', () => {
    expect(repoHistories([...snapshots([1], 'a'), ...snapshots([1, 1], 'b')]).map((h) => [h.domain, h.chains.length])).toEqual([
      ['hv1/a', 1],
      ['hv1/b', 2],
    ]);
  });

  it('properties: only whole chains are forgotten, and never the newest chain', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 6 }), (counts, keep) => {
        const snaps = snapshots(counts);
        const { forget } = planRepoPrune(snaps, parsePolicy({ keepLast: keep }), now);
        const newest = `vmsnap-backup-monthly-${MONTHS[counts.length - 1]}`;
        for (const f of forget) {
          expect(f.chain).not.toBe(newest);
          expect([...f.snapshots].sort()).toEqual(
            snaps
              .filter((s) => s.point.chain === f.chain)
              .map((s) => s.id)
              .sort(),
          );
        }
      }),
    );
  });
});
