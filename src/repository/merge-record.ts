/**
 * A point-level prune of a push chain (points merged into their child) as the manifest records
 * it. The prune writes a `merging` record before it renames the verified new images over the
 * child's, and the manifest without the dropped points after; readers that find the record in
 * between see the chain as the files on disk are (resolvePendingMerge).
 */
import { join } from 'node:path';
import type { ChainManifest } from './manifest.js';
import { pathExists } from '../util/path-exists.js';

export type MergingRecord = NonNullable<ChainManifest['merging']>;

/** The manifest after a merge (pure), and the files of the dropped points to delete. */
export function applyMerge(manifest: ChainManifest, record: MergingRecord, now: Date): { next: ChainManifest; remove: string[] } {
  const dropped = new Set(record.dropped);
  const newFiles = new Map(record.files.map((f) => [f.path, f]));
  const points = manifest.points
    .filter((p) => !dropped.has(p.checkpoint))
    .map((p) => {
      if (p.checkpoint !== record.into) return p;
      const { parent: _old, ...rest } = p;
      return {
        ...rest,
        ...(record.newParent ? { parent: record.newParent } : {}),
        level: record.newParent ? p.level : ('full' as const),
        files: p.files.map((f) => {
          const n = newFiles.get(f.path);
          if (!n) return f;
          // The merged image's own digest replaces the old one, whichever form either has.
          const { sha256: _s, chunks: _c, ...kept } = f;
          return { ...kept, size: n.size, ...(n.chunks ? { chunks: n.chunks } : { sha256: n.sha256 }) };
        }),
      };
    });
  const kept = new Set(points.flatMap((p) => p.files.map((f) => f.path)));
  const remove = manifest.points
    .filter((p) => dropped.has(p.checkpoint))
    .flatMap((p) => p.files.map((f) => f.path))
    .filter((f) => !kept.has(f));
  const time = now.toISOString();
  const { merging: _done, ...rest } = manifest;
  const message = `merged ${record.dropped.join(', ')} into ${record.into}${record.newParent ? `, which now rests on ${record.newParent}` : ', which is now the full'}`;
  return { next: { ...rest, points, updatedAt: time, events: [...manifest.events, { time, kind: 'merged', message }] }, remove };
}

/**
 * The manifest as a reader should see it while a merge is pending: once every new image has
 * been renamed into place (no temp file left), the chain is the merged one; before that, the old
 * one. Only a crash between the renames of a multi-disk merge leaves a mix that neither describes
 * (restore then refuses the child's points on a checksum until the next prune finishes it).
 */
export async function resolvePendingMerge(dir: string, manifest: ChainManifest): Promise<ChainManifest> {
  const record = manifest.merging;
  if (!record) return manifest;
  const present = await Promise.all(record.files.map((f) => pathExists(join(dir, f.temp))));
  if (present.some((p) => p)) return manifest;
  return applyMerge(manifest, record, new Date(manifest.updatedAt)).next;
}
