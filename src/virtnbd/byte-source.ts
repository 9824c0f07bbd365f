/**
 * A pull reader over an async sequence of byte chunks, for parsers that need "the next N
 * bytes" without ever holding the whole input. No I/O of its own: the chunks come from a file
 * (read-stream-file.ts), a test buffer or anything else.
 *
 * Memory stays bounded by the largest single `read` a parser asks for (a frame header, a meta
 * header, one lz4 block) plus one input chunk; payloads go through `skip`, chunk by chunk.
 */

/** Bytes at the end of the input were fewer than requested. */
export interface ShortRead {
  /** What could be read before the input ended. */
  bytes: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** Pull-style access to an async chunk sequence, with a running byte position. */
export class ByteSource {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private chunk: Uint8Array = EMPTY;
  private offset = 0;
  private done = false;
  private consumed = 0;

  constructor(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.iterator = Symbol.asyncIterator in chunks ? chunks[Symbol.asyncIterator]() : toAsyncIterator(chunks);
  }

  /** Bytes consumed so far (read or skipped): the offset of the next byte in the input. */
  get position(): number {
    return this.consumed;
  }

  /** Make sure the current chunk has unread bytes; false at the end of the input. */
  private async fill(): Promise<boolean> {
    while (this.offset >= this.chunk.length) {
      if (this.done) return false;
      const next = await this.iterator.next();
      if (next.done) {
        this.done = true;
        this.chunk = EMPTY;
        this.offset = 0;
        return false;
      }
      this.chunk = next.value;
      this.offset = 0;
    }
    return true;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    return !(await this.fill());
  }

  /**
   * Read exactly `n` bytes. Returns them, or a ShortRead with what was there if the input ended
   * first (the short bytes are consumed too).
   */
  async read(n: number): Promise<Uint8Array | ShortRead> {
    if (n === 0) return EMPTY;
    if (!(await this.fill())) return { bytes: EMPTY };
    // Fast path: the whole request sits in the current chunk.
    if (this.chunk.length - this.offset >= n) {
      const out = this.chunk.subarray(this.offset, this.offset + n);
      this.offset += n;
      this.consumed += n;
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (!(await this.fill())) {
        return { bytes: out.subarray(0, filled) };
      }
      const take = Math.min(n - filled, this.chunk.length - this.offset);
      out.set(this.chunk.subarray(this.offset, this.offset + take), filled);
      this.offset += take;
      this.consumed += take;
      filled += take;
    }
    return out;
  }

  /** Up to `n` upcoming bytes, without consuming them (fewer only at the end of the input). */
  async peek(n: number): Promise<Uint8Array> {
    if (!(await this.fill())) return EMPTY;
    if (this.chunk.length - this.offset >= n) return this.chunk.subarray(this.offset, this.offset + n);
    // Rare: the peek straddles chunks. Merge what is left with following chunks into one.
    const parts: Uint8Array[] = [this.chunk.subarray(this.offset)];
    let have = parts[0]!.length;
    while (have < n && !this.done) {
      const next = await this.iterator.next();
      if (next.done) {
        this.done = true;
        break;
      }
      parts.push(next.value);
      have += next.value.length;
    }
    this.chunk = concat(parts, have);
    this.offset = 0;
    return this.chunk.subarray(0, Math.min(n, this.chunk.length));
  }

  /**
   * Consume `n` bytes without keeping them, handing each piece to `sink` if given (hashing,
   * decoding). Returns how many bytes were there (fewer than `n` only at the end of the input).
   */
  async skip(n: number, sink?: (piece: Uint8Array) => void): Promise<number> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) break;
      const take = Math.min(left, this.chunk.length - this.offset);
      if (sink) sink(this.chunk.subarray(this.offset, this.offset + take));
      this.offset += take;
      this.consumed += take;
      left -= take;
    }
    return n - left;
  }

  /** Consume everything that is left; returns the byte count. */
  async drain(sink?: (piece: Uint8Array) => void): Promise<number> {
    let total = 0;
    while (await this.fill()) {
      const piece = this.chunk.subarray(this.offset);
      if (sink) sink(piece);
      this.offset = this.chunk.length;
      this.consumed += piece.length;
      total += piece.length;
    }
    return total;
  }

  /** Stop pulling: lets a file-backed chunk generator close its file now, not at GC time. */
  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      this.chunk = EMPTY;
      this.offset = 0;
      await this.iterator.return?.();
    }
  }
}

/** Was this read cut short by the end of the input? */
export function isShortRead(value: Uint8Array | ShortRead): value is ShortRead {
  return !(value instanceof Uint8Array);
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function* toAsyncIteratorGen(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c;
}

function toAsyncIterator(chunks: Iterable<Uint8Array>): AsyncIterator<Uint8Array> {
  return toAsyncIteratorGen(chunks);
}
