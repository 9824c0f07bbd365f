/**
 * The digest a manifest records for a file, computed and checked in one place: backup, merge,
 * adopt, verify, restore and replicate all go through here, so a file recorded with chunk
 * digests is checked chunk by chunk wherever it is read (a copy restored from a repository too).
 */
import { describeRange, differingRanges, digestChunks, type ChunkDigests, type DigestOptions } from '../util/chunk-digest.js';
import { sha256File } from '../util/sha256.js';
import type { ManifestFile } from './manifest.js';

/** What a manifest records about a file's content: a whole-file sha256, or one per chunk. */
export type FileDigest = Pick<ManifestFile, 'sha256' | 'chunks'>;

/** The manifest form of computed chunk digests: a file of one chunk keeps one plain sha256. */
export function toFileDigest(d: ChunkDigests): FileDigest {
  return d.chunks.length === 1 ? { sha256: d.chunks[0]! } : { chunks: { size: d.chunkSize, sha256: d.chunks } };
}

/** Digests of each file (same order), on every core. */
export async function computeFileDigests(paths: readonly string[], options: DigestOptions = {}): Promise<FileDigest[]> {
  return (await digestChunks(paths, options)).map(toFileDigest);
}

/** Does a file have something recorded to check its content against? */
export function hasDigest(f: FileDigest): boolean {
  return f.sha256 !== undefined || f.chunks !== undefined;
}

/** The same content recorded twice (a chunk list and a plain digest of one chunk compare equal). */
export function sameDigest(a: FileDigest, b: FileDigest): boolean {
  const list = (d: FileDigest) => (d.chunks ? d.chunks.sha256 : [d.sha256]);
  const la = list(a);
  const lb = list(b);
  return la.length === lb.length && la.every((x, i) => x !== undefined && x === lb[i]) && (a.chunks?.size ?? 0) === (b.chunks?.size ?? 0);
}

/**
 * Check a file's content against its recorded digest. Returns undefined when it matches, or a
 * predicate for the file: "has sha256 …" (whole-file digests), "differs in bytes …" (chunks).
 */
export async function checkFileDigest(path: string, recorded: FileDigest, options: DigestOptions = {}): Promise<string | undefined> {
  if (recorded.chunks) {
    const chunkSize = recorded.chunks.size;
    const [now] = await digestChunks([path], { ...options, chunkSize });
    const ranges = differingRanges(recorded.chunks.sha256, now!.chunks, now!.size, chunkSize);
    if (ranges.length === 0) return undefined;
    const shown = ranges.slice(0, 5).map(describeRange).join(', ');
    const more = ranges.length > 5 ? ` and ${ranges.length - 5} more ranges` : '';
    return `differs from the backup in ${shown}${more}: their sha256 is not what the manifest recorded (it changed after the backup)`;
  }
  if (recorded.sha256 === undefined) return undefined;
  options.signal?.throwIfAborted();
  // A whole-file digest (older manifests) is one serial pass: it cannot be split over cores.
  const digest = await sha256File(path);
  if (digest === recorded.sha256) return undefined;
  return `has sha256 ${digest.slice(0, 12)}…, the manifest recorded ${recorded.sha256.slice(0, 12)}… (it changed after the backup)`;
}
