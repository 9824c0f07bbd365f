/**
 * The digest a manifest records for a file, computed and checked in one place: backup, merge,
 * adopt, verify, restore and replicate all go through here, so a file recorded with chunk
 * digests is checked chunk by chunk wherever it is read (a copy restored from a repository too).
 */
import { CHUNK_SIZE, describeRange, differingRanges, digestChunks, digestFiles, type ChunkDigests, type DigestOptions } from '../util/chunk-digest.js';
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
    return chunksMismatch(recorded.chunks.sha256, now!);
  }
  if (recorded.sha256 === undefined) return undefined;
  options.signal?.throwIfAborted();
  // A whole-file digest of more than one chunk (older manifests) is one serial pass: it cannot be
  // split over cores.
  return wholeMismatch(recorded.sha256, await sha256File(path));
}

/**
 * checkFileDigest for many files at once (same order), in one pool of threads: a file recorded
 * with chunks, and a file recorded with one sha256 that is no longer than a chunk (its digest is
 * its one chunk's), go to the threads together; a longer file with one whole-file digest (older
 * manifests) is read alone afterwards. A file that cannot be read makes the whole call fail, as
 * checkFileDigest would for it: the caller checks the files one by one then, to say which.
 */
export async function checkFileDigests(
  files: ReadonlyArray<{ path: string; recorded: FileDigest; size: number }>,
  options: DigestOptions = {},
): Promise<Array<string | undefined>> {
  const pooled = files.map((f) =>
    f.recorded.chunks ? f.recorded.chunks.size : f.recorded.sha256 !== undefined && f.size <= CHUNK_SIZE ? CHUNK_SIZE : undefined,
  );
  const jobs = files.flatMap((f, i) => (pooled[i] === undefined ? [] : [{ path: f.path, chunkSize: pooled[i] }]));
  const digests = await digestFiles(jobs, options);
  let next = 0;
  const out: Array<string | undefined> = [];
  for (const [i, f] of files.entries()) {
    if (pooled[i] === undefined) {
      out.push(await checkFileDigest(f.path, f.recorded, options));
      continue;
    }
    const now = digests[next++]!;
    // A one-digest file that grew past a chunk since it was looked at: its whole-file digest.
    if (!f.recorded.chunks && now.chunks.length !== 1) {
      out.push(await checkFileDigest(f.path, f.recorded, options));
      continue;
    }
    out.push(f.recorded.chunks ? chunksMismatch(f.recorded.chunks.sha256, now) : wholeMismatch(f.recorded.sha256!, now.chunks[0]!));
  }
  return out;
}

function chunksMismatch(recorded: readonly string[], now: ChunkDigests): string | undefined {
  const ranges = differingRanges(recorded, now.chunks, now.size, now.chunkSize);
  if (ranges.length === 0) return undefined;
  const shown = ranges.slice(0, 5).map(describeRange).join(', ');
  const more = ranges.length > 5 ? ` and ${ranges.length - 5} more ranges` : '';
  return `differs from the backup in ${shown}${more}: their sha256 is not what the manifest recorded (it changed after the backup)`;
}

function wholeMismatch(recorded: string, digest: string): string | undefined {
  if (digest === recorded) return undefined;
  return `has sha256 ${digest.slice(0, 12)}…, the manifest recorded ${recorded.slice(0, 12)}… (it changed after the backup)`;
}
