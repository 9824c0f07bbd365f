import { describe, expect, it } from 'vitest';
import { applyMerge } from '../../../src/repository/merge-record.js';
import { parseManifest } from '../../../src/repository/manifest.js';

const hex = (c: string) => c.repeat(64);
const T = '2026-12-01T00:00:00.000Z';

function manifestJson(merging?: unknown): string {
  const point = (checkpoint: string, parent: string | undefined, file: Record<string, unknown>) => ({
    checkpoint,
    ...(parent ? { parent } : {}),
    time: T,
    level: parent ? 'inc' : 'full',
    protected: false,
    dataBytes: 1,
    durationMs: 1,
    files: [{ path: `vda.${checkpoint}.qcow2`, disk: 'vda', kind: 'data', ...file }],
  });
  return JSON.stringify({
    format: 'vmkeep-chain/1',
    domain: 'd',
    engine: 'push',
    toolVersions: {},
    createdAt: T,
    updatedAt: T,
    state: 'complete',
    disks: [{ target: 'vda' }],
    points: [
      point('vmkeep.aaaaaaaa.0', undefined, { size: 100, sha256: hex('a') }),
      point('vmkeep.aaaaaaaa.1', 'vmkeep.aaaaaaaa.0', { size: 10, sha256: hex('b') }),
    ],
    events: [],
    ...(merging ? { merging } : {}),
  });
}

describe('applyMerge and chunk digests', () => {
  it('the merged image carries its new chunk list, and no stale whole-file digest', () => {
    const record = {
      dropped: ['vmkeep.aaaaaaaa.0'],
      into: 'vmkeep.aaaaaaaa.1',
      files: [{ path: 'vda.vmkeep.aaaaaaaa.1.qcow2', temp: '.t', size: 150, chunks: { size: 64, sha256: [hex('c'), hex('d'), hex('e')] } }],
    };
    const manifest = parseManifest(manifestJson(record));
    const { next } = applyMerge(manifest, manifest.merging!, new Date(T));
    const file = next.points[0]!.files[0]!;
    expect(file).toMatchObject({ size: 150, chunks: { size: 64, sha256: [hex('c'), hex('d'), hex('e')] } });
    expect(file.sha256).toBeUndefined();
    // What was written reads back: the chunk count matches the size.
    expect(() => parseManifest(JSON.stringify(next))).not.toThrow();
  });

  it('a manifest whose chunk list does not cover the file is refused', () => {
    const bad = JSON.parse(manifestJson()) as { points: Array<{ files: Array<Record<string, unknown>> }> };
    bad.points[0]!.files[0] = { ...bad.points[0]!.files[0], sha256: undefined, chunks: { size: 64, sha256: [hex('c')] } };
    expect(() => parseManifest(JSON.stringify(bad))).toThrow(/chunk/);
  });
});
