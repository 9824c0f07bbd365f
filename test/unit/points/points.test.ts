import { describe, expect, it } from 'vitest';
import { VmkeepError } from '../../../src/errors.js';
import { findRestorePoint, listRestorePoints, nearestPoints, parsePointSelector, type PointSelector } from '../../../src/points/points.js';
import { twoChains } from './builders.js';

const points = listRestorePoints(twoChains());

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VmkeepError);
    expect((e as VmkeepError).code).toBe('usage');
    return (e as VmkeepError).message;
  }
  throw new Error('expected a usage error');
}

const find = (s: PointSelector) => findRestorePoint(points, s, 'web');

describe('listRestorePoints', () => {
  it('gives every point an id <chain>/<checkpoint>, chains in order, points oldest first', () => {
    expect(points.map((p) => p.id)).toEqual([
      'vmsnap-backup-monthly-2026-10/virtnbdbackup.0',
      'vmsnap-backup-monthly-2026-10/virtnbdbackup.1',
      'vmsnap-backup-monthly-2026-10/virtnbdbackup.2',
      'vmsnap-backup-monthly-2026-11/virtnbdbackup.0',
      'vmsnap-backup-monthly-2026-11/virtnbdbackup.1',
    ]);
    expect(points[2]).toMatchObject({ level: 'inc', label: 'pre-upgrade', index: 2, state: 'complete', legacy: false });
  });
});

describe('findRestorePoint', () => {
  it('latest is the newest point over all chains', () => {
    expect(find({ kind: 'latest' }).id).toBe('vmsnap-backup-monthly-2026-11/virtnbdbackup.1');
  });

  it('takes a full id, and a bare checkpoint name only when one chain has it', () => {
    expect(find({ kind: 'at', value: 'vmsnap-backup-monthly-2026-10/virtnbdbackup.1' }).index).toBe(1);
    expect(find({ kind: 'at', value: 'virtnbdbackup.2' }).id).toBe('vmsnap-backup-monthly-2026-10/virtnbdbackup.2');
    const msg = usageMessage(() => find({ kind: 'at', value: 'virtnbdbackup.1' }));
    expect(msg).toContain('is in 2 chains');
    expect(msg).toContain('vmsnap-backup-monthly-2026-10/virtnbdbackup.1');
    expect(msg).toContain('vmsnap-backup-monthly-2026-11/virtnbdbackup.1');
  });

  it('an unknown point is a usage error (exit 64) naming the nearest valid ids', () => {
    const msg = usageMessage(() => find({ kind: 'at', value: 'vmsnap-backup-monthly-2026-11/virtnbdbackup.7' }));
    expect(msg).toMatch(/^no restore point "vmsnap-backup-monthly-2026-11\/virtnbdbackup.7" for domain web; nearest: /);
    // Same chain, one character away, first.
    expect(msg.split('nearest: ')[1]!.split(', ')[0]).toMatch(/^vmsnap-backup-monthly-2026-11\/virtnbdbackup\.[01]$/);
    expect(nearestPoints(points, 'virtnbdbackup.9', 2).map((p) => p.checkpoint)).toEqual(['virtnbdbackup.1', 'virtnbdbackup.0']);
  });

  it('--at-time picks the newest point at or before the time, across chains', () => {
    const at = (iso: string) => find(parsePointSelector(undefined, iso)).id;
    expect(at('2026-10-02T01:00:00Z')).toBe('vmsnap-backup-monthly-2026-10/virtnbdbackup.1'); // exactly its time
    expect(at('2026-10-02T00:59:59Z')).toBe('vmsnap-backup-monthly-2026-10/virtnbdbackup.0');
    expect(at('2026-10-31T23:00:00Z')).toBe('vmsnap-backup-monthly-2026-10/virtnbdbackup.2');
    expect(at('2026-11-01T01:00:00Z')).toBe('vmsnap-backup-monthly-2026-11/virtnbdbackup.0');
    expect(at('2030-01-01T00:00:00Z')).toBe('vmsnap-backup-monthly-2026-11/virtnbdbackup.1');
    expect(usageMessage(() => at('2026-09-30T00:00:00Z'))).toContain('the oldest is vmsnap-backup-monthly-2026-10/virtnbdbackup.0');
  });

  it('a domain without points is a usage error', () => {
    expect(() => findRestorePoint([], { kind: 'latest' }, 'web')).toThrow(/no restore points for domain web/);
  });
});

describe('parsePointSelector', () => {
  it('defaults to latest; refuses both options and a bad time', () => {
    expect(parsePointSelector(undefined, undefined)).toEqual({ kind: 'latest' });
    expect(parsePointSelector('latest', undefined)).toEqual({ kind: 'latest' });
    expect(parsePointSelector(' x/y ', undefined)).toEqual({ kind: 'at', value: 'x/y' });
    expect(() => parsePointSelector('a', '2026-01-01')).toThrow(/cannot be used together/);
    expect(() => parsePointSelector(undefined, 'yesterday')).toThrow(/ISO 8601/);
  });
});

describe('restore --at LABEL', () => {
  const mk = (chain: string, checkpoint: string, time: string, label?: string) => ({
    id: `${chain}/${checkpoint}`,
    domain: 'd',
    chain,
    checkpoint,
    index: 0,
    time,
    level: 'full' as const,
    label,
    dataBytes: 1,
    state: 'complete' as const,
    protected: false,
    legacy: false,
  });
  const points = [
    mk('a', 'virtnbdbackup.0', '2026-11-01T00:00:00Z', 'before-upgrade'),
    mk('a', 'virtnbdbackup.1', '2026-11-02T00:00:00Z', 'nightly'),
    mk('b', 'virtnbdbackup.0', '2026-11-03T00:00:00Z', 'nightly'),
  ];

  it('a unique label names its point', () => {
    expect(findRestorePoint(points, { kind: 'at', value: 'before-upgrade' }, 'd').id).toBe('a/virtnbdbackup.0');
  });

  it('an ambiguous label is a usage error listing the candidates, newest first', () => {
    expect(() => findRestorePoint(points, { kind: 'at', value: 'nightly' }, 'd')).toThrow(
      'label "nightly" is on 2 restore points of d; name one: b/virtnbdbackup.0 (2026-11-03T00:00:00Z), a/virtnbdbackup.1 (2026-11-02T00:00:00Z)',
    );
  });
});
