/**
 * Read a file as a sequence of bounded chunks, for the stream parsers. Data files can be many
 * GiB; nothing here ever holds more than one chunk.
 */
import { open } from 'node:fs/promises';

/** Default chunk size: large enough for few syscalls, small enough to stay cache friendly. */
const DEFAULT_CHUNK_SIZE = 1 << 20;

/** Options for readFileChunks. */
export interface ReadChunksOptions {
  /** Bytes per read (default 1 MiB). */
  chunkSize?: number;
  /** Start at this byte of the file (default 0). */
  start?: number;
  /** Stop after this many bytes (default: the whole file). */
  limit?: number;
  /** Aborting ends the iteration with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Yield the file's bytes in order, one fresh buffer per chunk (callers may keep a chunk; the
 * next read never overwrites it).
 */
export async function* readFileChunks(path: string, options: ReadChunksOptions = {}): AsyncGenerator<Uint8Array> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  const start = options.start ?? 0;
  const end = start + (options.limit ?? Number.POSITIVE_INFINITY);
  const handle = await open(path, 'r');
  try {
    let position = start;
    while (position < end) {
      options.signal?.throwIfAborted();
      const want = Math.min(chunkSize, end - position);
      const buffer = new Uint8Array(want);
      const { bytesRead } = await handle.read(buffer, 0, want, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
