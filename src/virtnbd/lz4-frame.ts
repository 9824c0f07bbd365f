/**
 * Walk (and optionally decode) one LZ4 frame from a ByteSource, in bounded memory.
 *
 * virtnbdbackup's compressed data files hold, inside each data frame's payload, one LZ4 frame
 * per NBD read (python-lz4 `lz4.frame.compress(..., content_checksum=True, block_checksum=True)`,
 * default 64 KiB blocks, content size stored). The frame format (lz4 "Frame format" spec 1.6):
 *
 *   magic 04 22 4D 18 | FLG | BD | [content size u64le] | [dict id u32le] | HC
 *   blocks: size u32le (high bit = stored uncompressed; 0 = end mark) | data | [xxh32 of data]
 *   [xxh32 of the decoded content]
 *
 * 'structure' checks the header, every block size and every block checksum (xxh32 over the
 * stored bytes, so it catches a flipped payload byte without decompressing). 'decompress' also
 * decodes every block, checks the decoded size against the declared content size and verifies
 * the content checksum. No lz4 package is needed: the block decoder is below.
 */
import { ByteSource, isShortRead } from './byte-source.js';
import { Xxh32, hashXxh32 } from './xxh32.js';

/** How deep to check compressed payloads. */
export type Lz4CheckLevel = 'structure' | 'decompress';

/** What one LZ4 frame turned out to be. */
export interface Lz4FrameReport {
  /** Offset of the frame's magic in the input. */
  offset: number;
  /** Bytes the frame occupies in the input. */
  storedSize: number;
  /** Content size from the frame header, when present. */
  declaredContentSize: number | null;
  /** Bytes the frame decoded to ('decompress' only, and only if decoding succeeded). */
  decodedSize: number | null;
  blocks: number;
  /** One line per problem; empty when the frame is sound. */
  problems: string[];
  /** The frame could not be walked to its end: the caller has lost its place in the input. */
  fatal: boolean;
}

const BLOCK_MAX: Readonly<Record<number, number>> = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 };
const WINDOW = 64 << 10;

function u32le(b: Uint8Array, i = 0): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

function u64le(b: Uint8Array, i = 0): number {
  // Exact below 2^53, which covers every disk size vmkeep will meet.
  return u32le(b, i) + u32le(b, i + 4) * 0x100000000;
}

/** Reusable decode buffer: the last 64 KiB of output (the match window) plus one block. */
export class Lz4Decoder {
  private buffer = new Uint8Array(WINDOW + (64 << 10));

  /** A buffer with room for the window plus a block of `blockMax` bytes. */
  bufferFor(blockMax: number): Uint8Array {
    if (this.buffer.length < WINDOW + blockMax) this.buffer = new Uint8Array(WINDOW + blockMax);
    return this.buffer;
  }
}

/**
 * Decode one LZ4 block from `src` into `dst` at `dstStart`, never writing at or past `dstLimit`
 * and never reading a match from before `windowStart`. Returns the end offset of the output, or
 * a one-line reason if the block is malformed.
 */
export function decodeLz4Block(src: Uint8Array, dst: Uint8Array, dstStart: number, dstLimit: number, windowStart: number): number | string {
  let s = 0;
  let d = dstStart;
  const end = src.length;
  while (s < end) {
    const token = src[s++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (s >= end) return 'literal length runs past the block';
        b = src[s++]!;
        literals += b;
      } while (b === 255);
    }
    if (s + literals > end) return 'literals run past the block';
    if (d + literals > dstLimit) return 'output exceeds the block size limit';
    dst.set(src.subarray(s, s + literals), d);
    s += literals;
    d += literals;
    if (s >= end) break; // the last sequence carries literals only
    if (s + 2 > end) return 'match offset runs past the block';
    const offset = src[s]! | (src[s + 1]! << 8);
    s += 2;
    if (offset === 0) return 'match offset 0';
    if (d - offset < windowStart) return 'match offset reaches before the window';
    let matchLength = token & 15;
    if (matchLength === 15) {
      let b: number;
      do {
        if (s >= end) return 'match length runs past the block';
        b = src[s++]!;
        matchLength += b;
      } while (b === 255);
    }
    matchLength += 4;
    if (d + matchLength > dstLimit) return 'output exceeds the block size limit';
    const from = d - offset;
    if (offset >= matchLength) {
      dst.copyWithin(d, from, from + matchLength);
      d += matchLength;
    } else {
      // Overlapping match (a run): copy the period, doubling each time; same bytes as a
      // byte-by-byte copy because the source repeats with that period.
      let left = matchLength;
      while (left > 0) {
        const n = Math.min(left, d - from);
        dst.copyWithin(d, from, from + n);
        d += n;
        left -= n;
      }
    }
  }
  return d;
}

/**
 * Read one LZ4 frame starting at the source's position. With 'decompress', `onContent` gets the
 * decoded bytes block by block (a view into the decoder's buffer: copy what is kept).
 */
// eslint-disable-next-line max-lines-per-function -- follows the LZ4 frame format field by field; split, the format's order would be lost
export async function readLz4Frame(
  src: ByteSource,
  level: Lz4CheckLevel,
  decoder: Lz4Decoder = new Lz4Decoder(),
  onContent?: (bytes: Uint8Array) => void,
): Promise<Lz4FrameReport> {
  const offset = src.position;
  const report: Lz4FrameReport = {
    offset,
    storedSize: 0,
    declaredContentSize: null,
    decodedSize: null,
    blocks: 0,
    problems: [],
    fatal: false,
  };
  const fail = (message: string): Lz4FrameReport => {
    report.problems.push(message);
    report.fatal = true;
    report.storedSize = src.position - offset;
    return report;
  };

  const head = await src.read(6);
  if (isShortRead(head)) return fail(`lz4 frame at offset ${offset}: truncated header`);
  if (u32le(head) !== 0x184d2204) {
    return fail(`lz4 frame at offset ${offset}: bad magic ${hex(head.subarray(0, 4))}`);
  }
  const flg = head[4]!;
  const bd = head[5]!;
  if (flg >>> 6 !== 1) return fail(`lz4 frame at offset ${offset}: unsupported version ${flg >>> 6}`);
  const blockMaxId = (bd >>> 4) & 7;
  const blockMax = BLOCK_MAX[blockMaxId];
  if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0 || blockMax === undefined) {
    return fail(`lz4 frame at offset ${offset}: reserved descriptor bits set (FLG ${flg}, BD ${bd})`);
  }
  const independent = (flg & 0x20) !== 0;
  const hasBlockChecksum = (flg & 0x10) !== 0;
  const hasContentSize = (flg & 0x08) !== 0;
  const hasContentChecksum = (flg & 0x04) !== 0;
  const hasDictId = (flg & 0x01) !== 0;

  const extra = await src.read((hasContentSize ? 8 : 0) + (hasDictId ? 4 : 0) + 1);
  if (isShortRead(extra)) return fail(`lz4 frame at offset ${offset}: truncated header`);
  const descriptor = new Uint8Array(2 + extra.length - 1);
  descriptor.set(head.subarray(4, 6), 0);
  descriptor.set(extra.subarray(0, extra.length - 1), 2);
  const headerChecksum = extra[extra.length - 1]!;
  if (((hashXxh32(descriptor) >>> 8) & 0xff) !== headerChecksum) {
    report.problems.push(`lz4 frame at offset ${offset}: header checksum mismatch`);
  }
  if (hasContentSize) {
    report.declaredContentSize = u64le(extra, 0);
  }
  let decoding = level === 'decompress';
  if (hasDictId) {
    report.problems.push(`lz4 frame at offset ${offset}: uses a preset dictionary (not written by virtnbdbackup)`);
    decoding = false;
  }

  const buffer = decoding ? decoder.bufferFor(blockMax) : new Uint8Array(0);
  const content = decoding && hasContentChecksum ? new Xxh32() : null;
  let history = 0; // valid bytes of window at the start of `buffer`
  let decoded = 0;

  for (;;) {
    const sizeAt = src.position;
    const sizeBytes = await src.read(4);
    if (isShortRead(sizeBytes)) return fail(`lz4 frame at offset ${offset}: truncated at offset ${sizeAt} (no end mark)`);
    const word = u32le(sizeBytes);
    if (word === 0) break; // end mark
    const stored = (word & 0x80000000) !== 0;
    const size = word & 0x7fffffff;
    if (size > blockMax) {
      return fail(`lz4 frame at offset ${offset}: block at offset ${sizeAt} claims ${size} bytes, more than its ${blockMax} maximum`);
    }
    const data = await src.read(size);
    if (isShortRead(data)) return fail(`lz4 frame at offset ${offset}: block at offset ${sizeAt} truncated (${data.bytes.length} of ${size} bytes)`);
    if (hasBlockChecksum) {
      const sum = await src.read(4);
      if (isShortRead(sum)) return fail(`lz4 frame at offset ${offset}: block checksum at offset ${src.position} truncated`);
      if (u32le(sum) !== hashXxh32(data)) {
        report.problems.push(`lz4 frame at offset ${offset}: block at offset ${sizeAt} checksum mismatch`);
        decoding = false; // its contents are wrong; decoding it proves nothing more
      }
    }
    report.blocks += 1;
    if (!decoding) continue;
    // Linked blocks may refer to the previous 64 KiB of output; independent ones may not.
    const windowStart = independent ? history : 0;
    let end: number;
    if (stored) {
      buffer.set(data, history);
      end = history + size;
    } else {
      const result = decodeLz4Block(data, buffer, history, history + blockMax, windowStart);
      if (typeof result === 'string') {
        report.problems.push(`lz4 frame at offset ${offset}: block at offset ${sizeAt} does not decode: ${result}`);
        decoding = false;
        continue;
      }
      end = result;
    }
    content?.update(buffer.subarray(history, end));
    onContent?.(buffer.subarray(history, end));
    decoded += end - history;
    const keep = Math.min(WINDOW, end);
    buffer.copyWithin(0, end - keep, end);
    history = keep;
  }

  if (hasContentChecksum) {
    const at = src.position;
    const sum = await src.read(4);
    if (isShortRead(sum)) return fail(`lz4 frame at offset ${offset}: content checksum at offset ${at} truncated`);
    if (decoding && content && u32le(sum) !== content.digest()) {
      report.problems.push(`lz4 frame at offset ${offset}: content checksum mismatch`);
    }
  }
  if (decoding) {
    report.decodedSize = decoded;
    if (report.declaredContentSize !== null && decoded !== report.declaredContentSize) {
      report.problems.push(`lz4 frame at offset ${offset}: decodes to ${decoded} bytes, header says ${report.declaredContentSize}`);
    }
  }
  report.storedSize = src.position - offset;
  return report;
}

/** Largest block of a frame written by encodeStoredLz4Frame (block maximum id 7). */
const STORED_BLOCK = 4 << 20;

/**
 * `data` as one LZ4 frame of stored (uncompressed) blocks, with the flags virtnbdbackup's frames
 * carry (block and content checksums, content size): any LZ4 decoder, python-lz4's included,
 * reads it. Used where a compressed stream gets bytes that were cut out of other frames: they
 * cost their size plus a few bytes per 4 MiB, and no compressor is needed.
 */
export function encodeStoredLz4Frame(data: Uint8Array): Uint8Array {
  const blocks = Math.ceil(data.length / STORED_BLOCK);
  const out = new Uint8Array(4 + 2 + 8 + 1 + blocks * 8 + data.length + 4 + 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x184d2204, true);
  // FLG: version 01, independent blocks, block checksums, content size, content checksum.
  out[4] = 0x40 | 0x20 | 0x10 | 0x08 | 0x04;
  out[5] = 7 << 4;
  view.setUint32(6, data.length % 0x100000000, true);
  view.setUint32(10, Math.floor(data.length / 0x100000000), true);
  out[14] = (hashXxh32(out.subarray(4, 14)) >>> 8) & 0xff;
  let at = 15;
  for (let from = 0; from < data.length; from += STORED_BLOCK) {
    const block = data.subarray(from, Math.min(data.length, from + STORED_BLOCK));
    view.setUint32(at, (block.length | 0x80000000) >>> 0, true);
    out.set(block, at + 4);
    view.setUint32(at + 4 + block.length, hashXxh32(block), true);
    at += 8 + block.length;
  }
  view.setUint32(at, 0, true);
  view.setUint32(at + 4, hashXxh32(data), true);
  return out;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}
