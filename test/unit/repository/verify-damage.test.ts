import { describe, expect, it } from 'vitest';
import { verifyFoundDamage } from '../../../src/repository/manifest.js';

describe('verifyFoundDamage: what prune and backup treat as a damaged chain', () => {
  const at = '2026-11-30T00:00:00.000Z';
  it('a failed verify that broke restore points is damage', () => {
    expect(verifyFoundDamage({ time: at, result: 'failed', deep: false, problems: ['vda.full.data has sha256 …'], brokenPoints: ['c/virtnbdbackup.0'] })).toBe(
      true,
    );
  });
  it('a failed verify that broke none (a leftover file beside the chain) is not', () => {
    expect(verifyFoundDamage({ time: at, result: 'failed', deep: false, problems: ['leftover .vmkeep-merge.vda.x.qcow2.partial'], brokenPoints: [] })).toBe(
      false,
    );
  });
  it('a failed record from before brokenPoints was kept counts as damage; ok and none are not', () => {
    expect(verifyFoundDamage({ time: at, result: 'failed', deep: false, problems: ['x'] })).toBe(true);
    expect(verifyFoundDamage({ time: at, result: 'ok', deep: true, problems: [] })).toBe(false);
    expect(verifyFoundDamage(undefined)).toBe(false);
  });
});
