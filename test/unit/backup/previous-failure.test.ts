/** "the previous run failed: …" and the space check: pure, on in-memory chains. */
import { describe, expect, it } from 'vitest';
import { isClearlyShort } from '../../../src/backup/estimate-space.js';
import { previousRunFailure } from '../../../src/backup/plan-backup.js';
import type { ChainView } from '../../../src/repository/chains.js';
import { chain, cps } from './builders.js';

function withEvents(c: ChainView, events: Array<{ time: string; kind: 'failed' | 'interrupted' | 'repaired'; message: string }>): ChainView {
  return { ...c, manifest: { ...c.manifest!, events } };
}
const T = (h: number) => new Date(Date.UTC(2026, 2, 10, h)).toISOString();

describe('previousRunFailure', () => {
  const base = chain('vmsnap-backup-monthly-2026-03', cps(0, 1), { times: [new Date(T(1)), new Date(T(2))] });

  it('names the failure newer than every recorded point, without its level prefix', () => {
    const c = withEvents(base, [{ time: T(3), kind: 'failed', message: 'full backup: no space left in /b/vm1/x: …' }]);
    expect(previousRunFailure([c])).toBe(`the previous run failed: no space left in /b/vm1/x: … (full backup at ${T(3)})`);
  });

  it("says nothing once a later run recorded a point (a tie counts as the point's)", () => {
    expect(previousRunFailure([withEvents(base, [{ time: T(1), kind: 'failed', message: 'inc backup: x' }])])).toBeUndefined();
    expect(previousRunFailure([withEvents(base, [{ time: T(2), kind: 'failed', message: 'inc backup: x' }])])).toBeUndefined();
  });

  it('an interruption is told as one; repairs are not failures', () => {
    expect(previousRunFailure([withEvents(base, [{ time: T(4), kind: 'interrupted', message: 'inc backup: stopped by SIGINT/SIGTERM' }])])).toBe(
      `the previous run was interrupted: stopped by SIGINT/SIGTERM (inc backup at ${new Date(T(4)).toISOString()})`,
    );
    expect(previousRunFailure([withEvents(base, [{ time: T(4), kind: 'repaired', message: 'x' }])])).toBeUndefined();
  });

  it('a failure recorded before a chain existed (a refused plan) is told as recorded', () => {
    const c = withEvents(base, [{ time: T(5), kind: 'failed', message: 'backup: not enough space in /b/vm1 …' }]);
    expect(previousRunFailure([c])).toBe(`the previous run failed: backup: not enough space in /b/vm1 … (at ${T(5)})`);
  });
});

describe('isClearlyShort', () => {
  it('is short only below 90% of the estimate', () => {
    expect(isClearlyShort({ neededBytes: 100, freeBytes: 89, basis: '' })).toBe(true);
    expect(isClearlyShort({ neededBytes: 100, freeBytes: 90, basis: '' })).toBe(false);
    expect(isClearlyShort({ neededBytes: 0, freeBytes: 0, basis: '' })).toBe(false);
  });
});
