/**
 * sha256 per fixed-size chunk of a file, computed on every core.
 *
 * One sha256 over a whole image is one long serial pass: on a 2 GiB point it is most of what a
 * fast backup costs after its job. Digests of fixed-size chunks can be computed side by side in
 * worker threads (node:worker_threads), each reading its own byte range with positional reads,
 * right after the job while the pages are still in the cache; and when one differs later, it
 * says which byte range changed, not only which file.
 *
 * A file no longer than one chunk has a single chunk whose digest is the whole file's sha256, so
 * small files (and every file an older manifest recorded) keep one plain digest.
 */
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** The chunk size vmkeep records with: 64 MiB. */
export const CHUNK_SIZE = 64 * 1024 * 1024;

const READ_SIZE = 4 * 1024 * 1024;

/** A file's chunk digests, in order, and the size they cover. */
export interface ChunkDigests {
  size: number;
  chunkSize: number;
  /** sha256 (hex) of each chunk; at least one (an empty file has the digest of nothing). */
  chunks: string[];
}

export interface DigestOptions {
  chunkSize?: number;
  /** How many threads hash at once (default: every core). */
  workers?: number;
  /** Files that together hold no more bytes than this are hashed where the call runs, without threads (default: one chunk). */
  inPlaceUpToBytes?: number;
  signal?: AbortSignal;
}

/** Number of chunks of a file of `size` bytes: at least one. */
export function chunkCount(size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize));
}

/** The byte range [start, end) of chunk `i`. */
export function chunkRange(i: number, size: number, chunkSize: number): { start: number; end: number } {
  return { start: i * chunkSize, end: Math.min(size, (i + 1) * chunkSize) };
}

interface Task {
  file: number;
  chunk: number;
  path: string;
  offset: number;
  length: number;
}

// The worker runs as CommonJS from this text, so it works the same from the built files and
// from the test runner's TypeScript: no second file to locate at run time.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const buffer = Buffer.allocUnsafe(${READ_SIZE});
parentPort.on('message', (task) => {
  let fd;
  try {
    fd = openSync(task.path, 'r');
    const hash = createHash('sha256');
    let done = 0;
    while (done < task.length) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, task.length - done), task.offset + done);
      if (n === 0) throw new Error(task.path + ' ended at byte ' + (task.offset + done) + ' while it was being read');
      hash.update(buffer.subarray(0, n));
      done += n;
    }
    parentPort.postMessage({ id: task.id, sha256: hash.digest('hex') });
  } catch (e) {
    parentPort.postMessage({ id: task.id, error: String((e && e.message) || e) });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
});
`;

/**
 * Threads started ahead of the hashing (prestartDigestThreads) that the next pool takes. They are
 * unref'd while they wait: one never used (the run failed before its checksums) does not hold the
 * process open. One that ends while it waits leaves the list.
 */
const warmThreads: Worker[] = [];

/**
 * Start `count` checksum threads now, for a hashing run that will follow: a thread takes some
 * 15-35 ms to start, time the run then does not wait for (a push full starts them while QEMU
 * copies). Threads already waiting count towards `count`. Only a head start: it never throws; a
 * thread that cannot start here is started (or its failure reported) by the hashing run.
 */
export function prestartDigestThreads(count = availableParallelism()): void {
  while (warmThreads.length < count) {
    let w: Worker;
    try {
      w = new Worker(WORKER_SOURCE, { eval: true });
    } catch {
      return;
    }
    w.unref();
    const leave = () => {
      const i = warmThreads.indexOf(w);
      if (i >= 0) warmThreads.splice(i, 1);
    };
    w.once('exit', leave);
    w.once('error', leave);
    warmThreads.push(w);
  }
}

/** How many prestarted threads wait for a pool. */
export function waitingDigestThreads(): number {
  return warmThreads.length;
}

/** A thread for a pool: a waiting one if there is one (held open from now on), else a new one. */
function takeThread(): Worker {
  const w = warmThreads.shift();
  if (!w) return new Worker(WORKER_SOURCE, { eval: true });
  w.ref();
  return w;
}

/** Digests of every chunk of each file (same order as `paths`), hashed on up to `workers` threads. */
export function digestChunks(paths: readonly string[], options: DigestOptions = {}): Promise<ChunkDigests[]> {
  const chunkSize = options.chunkSize ?? CHUNK_SIZE;
  return digestFiles(
    paths.map((path) => ({ path, chunkSize })),
    options,
  );
}

/**
 * The same for files with a chunk size each (what each one's manifest entry recorded): one pool
 * of threads for them all, so a chain of small files is hashed on every core too, a file a thread.
 */
export async function digestFiles(files: ReadonlyArray<{ path: string; chunkSize: number }>, options: DigestOptions = {}): Promise<ChunkDigests[]> {
  const sizes = await Promise.all(files.map(async (f) => (await stat(f.path)).size));
  const tasks: Task[] = files.flatMap(({ path, chunkSize }, file) =>
    Array.from({ length: chunkCount(sizes[file]!, chunkSize) }, (_, chunk) => {
      const { start, end } = chunkRange(chunk, sizes[file]!, chunkSize);
      return { file, chunk, path, offset: start, length: end - start };
    }),
  );
  const results = files.map((f, i): ChunkDigests => ({ size: sizes[i]!, chunkSize: f.chunkSize, chunks: [] }));
  const workers = Math.min(options.workers ?? availableParallelism(), tasks.length);
  // Starting a thread costs more than hashing a single small chunk where it is; and when all the
  // files together are no more than one chunk (an incremental's overlay and its XML), the threads
  // could only split off the small files, each at the price of a thread's start (tens of ms).
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  if (tasks.length <= 1 || totalBytes <= (options.inPlaceUpToBytes ?? options.chunkSize ?? CHUNK_SIZE)) {
    for (const t of tasks) results[t.file]!.chunks[t.chunk] = await hashRange(t.path, t.offset, t.length, options.signal);
    return results;
  }
  const digests = await runPool(tasks, workers, options.signal);
  for (const [i, t] of tasks.entries()) results[t.file]!.chunks[t.chunk] = digests[i]!;
  return results;
}

async function hashRange(path: string, offset: number, length: number, signal: AbortSignal | undefined): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(Math.min(READ_SIZE, Math.max(1, length)));
    let done = 0;
    while (done < length) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, length - done), offset + done);
      if (bytesRead === 0) throw new Error(`${path} ended at byte ${offset + done} while it was being read`);
      hash.update(buffer.subarray(0, bytesRead));
      done += bytesRead;
    }
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

/** Hand the tasks to `count` threads, one at a time each, and collect the digests in task order. */
function runPool(tasks: readonly Task[], count: number, signal: AbortSignal | undefined): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const out: string[] = new Array<string>(tasks.length);
    const pool: Worker[] = [];
    let next = 0;
    let pending = tasks.length;
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      for (const w of pool) void w.terminate();
      if (error !== undefined) reject(error instanceof Error ? error : new Error(String(error)));
      else resolve(out);
    };
    const onAbort = () => finish(signal?.reason ?? new Error('aborted'));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const feed = (w: Worker) => {
      if (next >= tasks.length) return;
      const id = next++;
      const t = tasks[id]!;
      w.postMessage({ id, path: t.path, offset: t.offset, length: t.length });
    };
    for (let i = 0; i < count; i++) {
      const w = takeThread();
      pool.push(w);
      w.on('message', (m: { id: number; sha256?: string; error?: string }) => {
        if (m.error !== undefined || m.sha256 === undefined) return finish(new Error(m.error ?? 'a checksum thread gave no digest'));
        out[m.id] = m.sha256;
        if (--pending === 0) return finish();
        feed(w);
      });
      w.on('error', (e) => finish(e));
      w.on('exit', (code) => {
        if (!settled && code !== 0) finish(new Error(`a checksum thread stopped (exit ${code})`));
      });
      feed(w);
    }
  });
}

/** A byte range [start, end) of a file. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The byte ranges whose chunks differ between what was recorded and what is there now,
 * neighbouring chunks joined into one range. A chunk missing on either side counts as differing.
 */
export function differingRanges(recorded: readonly string[], actual: readonly string[], size: number, chunkSize: number): ByteRange[] {
  const ranges: ByteRange[] = [];
  const n = Math.max(recorded.length, actual.length);
  for (let i = 0; i < n; i++) {
    if (recorded[i] === actual[i]) continue;
    const start = i * chunkSize;
    const end = Math.min(size, start + chunkSize) > start ? Math.min(size, start + chunkSize) : start + chunkSize;
    const last = ranges.at(-1);
    if (last && last.end === start) last.end = end;
    else ranges.push({ start, end });
  }
  return ranges;
}

/** "bytes 67108864–134217727 (64 MiB–128 MiB)": an inclusive range, in bytes and in MiB. */
export function describeRange(r: ByteRange): string {
  const mib = (n: number) => `${Math.round((n / (1024 * 1024)) * 100) / 100} MiB`;
  return `bytes ${r.start}–${r.end - 1} (${mib(r.start)}–${mib(r.end)})`;
}
