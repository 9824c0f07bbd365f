import { describe, expect, it } from 'vitest';
import { checkPointName, nameTakenBy } from '../../../src/backup/point-name.js';
import type { ChainView } from '../../../src/repository/chains.js';
import { findRestorePoint } from '../../../src/points/points.js';

const chain = (folder: string, names: Array<string | undefined>) =>
  ({
    folder,
    points: names.map((name, i) => ({
      checkpoint: `virtnbdbackup.${i}`,
      time: `2026-11-0${i + 1}T00:00:00Z`,
      level: i === 0 ? 'full' : 'inc',
      label: undefined,
      name,
      dataBytes: 1,
      protected: false,
    })),
  }) as unknown as ChainView;

describe('backup --name', () => {
  it('a name already on a point of the domain is taken; others are free', () => {
    const chains = [chain('a', [undefined, 'release-1']), chain('b', ['release-2'])];
    expect(nameTakenBy(chains, 'release-1')).toBe('a/virtnbdbackup.1');
    expect(nameTakenBy(chains, 'release-2')).toBe('b/virtnbdbackup.0');
    expect(nameTakenBy(chains, 'release-3')).toBeUndefined();
  });

  it('names cannot look like point ids or latest', () => {
    expect(checkPointName('v1.2@prod')).toBe('v1.2@prod');
    for (const bad of ['', 'a/b', 'latest', ' x', '-x']) expect(() => checkPointName(bad)).toThrow(/bad restore point name/);
  });

  it('restore --at NAME finds the named point before labels and checkpoint names', () => {
    const mk = (chain: string, checkpoint: string, name?: string, label?: string) => ({
      id: `${chain}/${checkpoint}`,
      domain: 'd',
      chain,
      checkpoint,
      index: 0,
      time: '2026-11-01T00:00:00Z',
      level: 'full' as const,
      label,
      name,
      dataBytes: 1,
      state: 'complete' as const,
      protected: false,
      legacy: false,
    });
    const points = [mk('a', 'virtnbdbackup.0', undefined, 'x'), mk('b', 'virtnbdbackup.0', 'x')];
    expect(findRestorePoint(points, { kind: 'at', value: 'x' }, 'd').id).toBe('b/virtnbdbackup.0');
  });
});
