/**
 * The checksum step of a backup run: the digest of every file the engine wrote, for the
 * manifest, and each of them on disk before the manifest names it.
 *
 * A stream file virtnbdbackup wrote was hashed while it was written (FollowingHasher); every other
 * file (a push point's qcow2 images, a raw copy) is hashed here, per 64 MiB chunk on every core,
 * right after the job while its pages are still in the cache. The files are flushed (fdatasync)
 * at the same time, and each folder once after them: a point is recorded only when its data and
 * the names that reach it would survive a power cut.
 */
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import type { AppContext } from '../app/context.js';
import { computeFileDigests, toFileDigest, type FileDigest } from '../repository/file-digest.js';
import type { FollowingHasher } from '../util/follow-hash.js';
import type { PhaseTimer } from '../util/phase-timer.js';

/** Digests of `rels` (relative to `chainDir`, same order), each file and folder flushed to disk. */
export async function checksumFiles(
  ctx: AppContext,
  domain: string,
  chainDir: string,
  rels: readonly string[],
  hasher: FollowingHasher,
  phases: PhaseTimer,
): Promise<FileDigest[]> {
  const paths = rels.map((r) => join(chainDir, r));
  const followed = await Promise.all(paths.map((p) => hasher.digest(p)));
  const rest = paths.filter((_, i) => followed[i] === undefined);
  const workers = availableParallelism();
  ctx.log.debug(`${domain}: checksums of ${rest.length} of ${paths.length} files on ${workers} threads (the others were hashed while written)`);
  const t0 = Date.now();
  // The files' flush runs beside the hashing; the fsync phase is only what it adds after the
  // checksums are done (the wait for it, then the folders'), so the two never count one second twice.
  const flushed = Promise.all(paths.map(flushFile));
  flushed.catch(() => undefined);
  const computed = await phases.time('checksums', () => computeFileDigests(rest, { workers, signal: ctx.signal }));
  await phases.time('fsync', async () => {
    await flushed;
    // Each folder once, after every file in it: the new names are durable with the data.
    await Promise.all([...new Set(paths.map((p) => dirname(p)))].map(flushFolder));
  });
  ctx.log.debug(`${domain}: checksums and flush took ${Date.now() - t0} ms`);
  let next = 0;
  return followed.map((f) => (f ? toFileDigest(f) : computed[next++]!));
}

async function flushFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

async function flushFolder(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
