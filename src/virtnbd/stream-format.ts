/**
 * virtnbdbackup's data-file format ("sparse stream", stream version 2), parsed and checked in
 * one streaming pass. docs/VIRTNBDBACKUP.md describes the format byte by byte; in short:
 *
 *   meta 0000000000000000 <len:16 hex>\r\n <len bytes of JSON> \r\n
 *   data <start:16 hex> <length:16 hex>\r\n <payload> \r\n     (payload: raw bytes, or LZ4 frames)
 *   zero <start> <length>\r\n                                    (full/copy only; no payload)
 *   ...
 *   stop 0000000000000000 0000000000000000\r\n
 *   [compressed only: <JSON list of stored payload sizes> \r\n comp 0000000000000000 <len>\r\n]
 *
 * `parseSparseStream` is pure (it reads from any chunk sequence); `inspectDataFile` and
 * `readStreamMeta` feed it from a file. Neither ever holds more than a chunk plus one LZ4 block.
 */
import { createHash } from 'node:crypto';
import { ByteSource, isShortRead } from './byte-source.js';
import { Lz4Decoder, readLz4Frame, type Lz4CheckLevel } from './lz4-frame.js';
import { readFileChunks } from './read-stream-file.js';
import { messageOf } from '../errors.js';

/** Every frame header is `kind start length\r\n` with 16 lowercase hex digits each: 40 bytes. */
const FRAME_HEADER_LENGTH = 40;
/** The terminator after the meta JSON, after each data payload and after the trailer JSON. */
export const TERM = Uint8Array.of(0x0d, 0x0a);
/** Larger meta JSON is treated as corruption rather than read into memory. */
const MAX_META_LENGTH = 1 << 20;
/** Same for the compression trailer (about 10 bytes per data frame; this allows millions). */
const MAX_TRAILER_LENGTH = 64 << 20;

/** The five frame kinds (`types.py:SparseStreamTypes`). */
export type FrameKind = 'meta' | 'data' | 'zero' | 'stop' | 'comp';
/** All frame kinds, in the order a stream uses them. */
const FRAME_KINDS: readonly FrameKind[] = ['meta', 'data', 'zero', 'stop', 'comp'];

/** One parsed frame header. */
export interface FrameHeader {
  kind: FrameKind;
  /** Disk offset for data/zero frames; 0 for the others. */
  start: number;
  /** Bytes of disk for data/zero frames, of JSON for meta/comp, 0 for stop. */
  length: number;
}

/** The JSON meta header of a data file, typed. */
export interface StreamMeta {
  /** Disk size in bytes at backup time. */
  virtualSize: number;
  /** Bytes in data frames (uncompressed), i.e. the sum of every data frame's length. */
  dataSize: number;
  /** `datetime.now().isoformat()` on the backup host: local time, no zone. */
  date: string;
  /** Target dev of the disk (vda, sdb...). */
  diskName: string;
  /** Image format of the disk (qcow2, raw). */
  diskFormat: string;
  /**
   * Checkpoint created by this backup (virtnbdbackup.N). For `copy` it is "virtnbdbackup.0" even
   * though no checkpoint exists; for `diff` it is the name the next inc would get.
   */
  checkpointName: string;
  /** Checkpoint this inc/diff is relative to; '' for full/copy (older versions wrote false). */
  parentCheckpoint: string;
  /** True for inc and diff. */
  incremental: boolean;
  /** Whether data payloads are LZ4 frames (the writer's truthiness test, see compressionLevel). */
  compressed: boolean;
  /** `--compress N` stores N in "compressed"; null when it holds a boolean. */
  compressionLevel: number | null;
  compressionMethod: string;
  streamVersion: number;
  /** The JSON as found, including keys this type does not name. */
  raw: Readonly<Record<string, unknown>>;
}

/** A data or zero frame, as reported to `onFrame`. */
export interface StreamExtentFrame {
  kind: 'data' | 'zero';
  start: number;
  length: number;
  /** Offset of the frame header in the file. */
  fileOffset: number;
  /** Payload bytes in the file (0 for zero frames; the LZ4 size for compressed data). */
  storedLength: number;
  /** Sizes of the LZ4 frames in a compressed payload (several when the read was chunked). */
  lz4FrameSizes?: readonly number[];
}

/** One entry of the compression trailer: a stored size, or {total: [chunk sizes]}. */
export type TrailerEntry = number | { total: number; chunks: readonly number[] };

/** The result of checking one data file. `problems` is empty when the file is sound. */
export interface SparseStreamReport {
  meta: StreamMeta | null;
  /** Frames seen, by kind. */
  frames: Record<FrameKind, number>;
  /** Sum of data frame lengths (disk bytes, uncompressed). */
  dataBytes: number;
  /** Sum of zero frame lengths. */
  zeroBytes: number;
  /** Payload bytes actually stored for data frames (smaller than dataBytes when compressed). */
  storedDataBytes: number;
  stopFrameSeen: boolean;
  /** Compression trailer, when the stream is compressed and the trailer parsed. */
  trailer: TrailerEntry[] | null;
  /** LZ4 checking that was done, when compressed. */
  lz4: { level: Lz4CheckLevel; frames: number; blocks: number; decodedBytes: number } | null;
  /** Highest disk offset reached by a data or zero frame. */
  extentEnd: number;
  /** Bytes of input read. */
  bytesRead: number;
  /** The parse reached the end of the input without losing its place. */
  complete: boolean;
  /** One line each: what is wrong, with the file offset where it was found. */
  problems: string[];
}

/** Options for parseSparseStream. */
export interface ParseStreamOptions {
  /** How deep to check LZ4 payloads of compressed streams (default 'decompress'). */
  lz4?: Lz4CheckLevel;
  /** Called for each data and zero frame, in order. */
  onFrame?: (frame: StreamExtentFrame) => void;
  /** Keep reading to the end even after a fatal problem (e.g. to finish a hash of the file). */
  readToEnd?: boolean;
  /** Stop listing problems after this many (default 100); the last line says how many more. */
  maxProblems?: number;
  signal?: AbortSignal;
}

const KIND_BYTES: ReadonlyMap<string, FrameKind> = new Map(FRAME_KINDS.map((k) => [k, k]));
const HEX16 = /^[0-9a-f]{16}$/;

/** Build a frame header exactly as virtnbdbackup writes it (`b"%s %016x %016x\r\n"`). */
export function formatFrameHeader(kind: FrameKind, start: number, length: number): string {
  return `${kind} ${start.toString(16).padStart(16, '0')} ${length.toString(16).padStart(16, '0')}\r\n`;
}

/** Parse one 40-byte frame header; a string is the reason it is not a valid header. */
export function parseFrameHeader(bytes: Uint8Array): FrameHeader | string {
  if (bytes.length !== FRAME_HEADER_LENGTH) return `header is ${bytes.length} bytes, not ${FRAME_HEADER_LENGTH}`;
  const text = latin1(bytes);
  const kind = KIND_BYTES.get(text.slice(0, 4));
  if (kind === undefined) return `unknown frame kind ${JSON.stringify(text.slice(0, 4))}`;
  if (text[4] !== ' ' || text[21] !== ' ' || text[38] !== '\r' || text[39] !== '\n') {
    return `malformed header ${JSON.stringify(text)}`;
  }
  const startHex = text.slice(5, 21);
  const lengthHex = text.slice(22, 38);
  if (!HEX16.test(startHex) || !HEX16.test(lengthHex)) return `malformed header ${JSON.stringify(text)}`;
  const start = Number.parseInt(startHex, 16);
  const length = Number.parseInt(lengthHex, 16);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length)) return `offset or length beyond 2^53 in ${JSON.stringify(text)}`;
  return { kind, start, length };
}

/** Validate and type a meta header JSON value. */
function parseStreamMeta(value: unknown): { meta: StreamMeta | null; problems: string[] } {
  const problems: string[] = [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { meta: null, problems: ['meta header is not a JSON object'] };
  }
  const raw = value as Record<string, unknown>;
  const int = (key: string): number => {
    const v = raw[key];
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
    problems.push(`meta header: ${key} is ${describe(v)}, expected a non-negative integer`);
    return 0;
  };
  const str = (key: string, fallback?: string): string => {
    const v = raw[key];
    if (typeof v === 'string') return v;
    if (v === undefined && fallback !== undefined) return fallback;
    problems.push(`meta header: ${key} is ${describe(v)}, expected a string`);
    return '';
  };
  const virtualSize = int('virtualSize');
  const dataSize = int('dataSize');
  const date = str('date');
  const diskName = str('diskName');
  const diskFormat = str('diskFormat');
  const checkpointName = str('checkpointName');
  let parentCheckpoint = '';
  const parent = raw.parentCheckpoint;
  if (typeof parent === 'string') parentCheckpoint = parent;
  else if (parent !== false) problems.push(`meta header: parentCheckpoint is ${describe(parent)}, expected a string`);
  let incremental = false;
  if (typeof raw.incremental === 'boolean') incremental = raw.incremental;
  else problems.push(`meta header: incremental is ${describe(raw.incremental)}, expected a boolean`);
  const versionValue = raw.streamVersion ?? raw['stream-version'];
  let streamVersion = 0;
  if (versionValue === 1 || versionValue === 2) streamVersion = versionValue;
  else problems.push(`meta header: streamVersion is ${describe(versionValue)}, expected 1 or 2`);
  const c = raw.compressed;
  let compressed = false;
  let compressionLevel: number | null = null;
  if (typeof c === 'boolean') compressed = c;
  else if (typeof c === 'number' && Number.isInteger(c)) {
    compressionLevel = c;
    compressed = c !== 0;
    // The writer tests `if args.compress` (0 is falsy) but virtnbdrestore tests
    // `meta["compressed"] is not False` (0 is not False): such a file does not restore.
    if (c === 0) problems.push('meta header: compressed is 0: payloads are not compressed, but virtnbdrestore will treat the file as compressed and fail');
  } else if (c !== undefined) problems.push(`meta header: compressed is ${describe(c)}, expected a boolean or a level`);
  if (compressed && streamVersion === 1) problems.push('meta header: compressed stream with streamVersion 1');
  const compressionMethod = str('compressionMethod', 'lz4');
  if (compressed && compressionMethod !== 'lz4') problems.push(`meta header: unknown compressionMethod ${JSON.stringify(compressionMethod)}`);
  const meta: StreamMeta = {
    virtualSize,
    dataSize,
    date,
    diskName,
    diskFormat,
    checkpointName,
    parentCheckpoint,
    incremental,
    compressed,
    compressionLevel,
    compressionMethod,
    streamVersion,
    raw: Object.freeze({ ...raw }),
  };
  return { meta, problems };
}

/** Parse the compression trailer JSON; a string is the reason it is not one. */
function parseCompressionTrailer(value: unknown): TrailerEntry[] | string {
  if (!Array.isArray(value)) return 'compression trailer is not a JSON list';
  const entries: TrailerEntry[] = [];
  for (const [i, item] of (value as unknown[]).entries()) {
    if (typeof item === 'number' && Number.isSafeInteger(item) && item >= 0) {
      entries.push(item);
      continue;
    }
    if (typeof item === 'object' && item !== null && !Array.isArray(item)) {
      const keys = Object.keys(item);
      const chunks = keys.length === 1 ? (item as Record<string, unknown>)[keys[0]!] : undefined;
      const total = keys.length === 1 ? Number(keys[0]) : Number.NaN;
      if (Number.isSafeInteger(total) && Array.isArray(chunks) && chunks.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
        entries.push({ total, chunks: chunks as number[] });
        continue;
      }
    }
    return `compression trailer entry ${i} is ${describe(item)}, expected a size or {"total": [sizes]}`;
  }
  return entries;
}

/** Check one data file's bytes, streaming. Pure: no I/O besides pulling from `chunks`. */
// eslint-disable-next-line max-lines-per-function -- follows virtnbdbackup's stream format frame by frame; split, the format's order would be lost
export async function parseSparseStream(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ParseStreamOptions = {},
): Promise<SparseStreamReport> {
  const level = options.lz4 ?? 'decompress';
  const maxProblems = options.maxProblems ?? 100;
  const src = new ByteSource(chunks);
  const report: SparseStreamReport = {
    meta: null,
    frames: { meta: 0, data: 0, zero: 0, stop: 0, comp: 0 },
    dataBytes: 0,
    zeroBytes: 0,
    storedDataBytes: 0,
    stopFrameSeen: false,
    trailer: null,
    lz4: null,
    extentEnd: 0,
    bytesRead: 0,
    complete: false,
    problems: [],
  };
  let dropped = 0;
  const problem = (line: string): void => {
    if (report.problems.length < maxProblems) report.problems.push(line);
    else dropped += 1;
  };

  try {
    const head = await readMetaFrame(src);
    head.problems.forEach(problem);
    report.meta = head.meta;
    if (head.meta !== null) report.frames.meta = 1;
    let fatal = head.fatal;
    const meta = head.meta;
    const compressed = meta?.compressed ?? false;
    const storedSizes: number[][] = [];
    const decoder = new Lz4Decoder();
    if (compressed) report.lz4 = { level, frames: 0, blocks: 0, decodedBytes: 0 };

    while (!fatal) {
      options.signal?.throwIfAborted();
      const at = src.position;
      const headerBytes = await src.read(FRAME_HEADER_LENGTH);
      if (isShortRead(headerBytes)) {
        if (headerBytes.bytes.length === 0) problem(`missing stop frame: the stream ends at offset ${at}`);
        else problem(`truncated frame header at offset ${at} (${headerBytes.bytes.length} of ${FRAME_HEADER_LENGTH} bytes)`);
        break;
      }
      const header = parseFrameHeader(headerBytes);
      if (typeof header === 'string') {
        problem(`bad frame header at offset ${at}: ${header}`);
        fatal = true;
        break;
      }
      if (header.kind === 'meta' || header.kind === 'comp') {
        problem(`unexpected ${header.kind} frame at offset ${at}`);
        fatal = true;
        break;
      }
      if (header.kind === 'stop') {
        report.frames.stop += 1;
        report.stopFrameSeen = true;
        if (header.start !== 0 || header.length !== 0)
          problem(`stop frame at offset ${at} has start ${header.start} and length ${header.length}, expected 0 and 0`);
        break;
      }
      checkExtent(header, at, meta, report, problem);
      if (header.kind === 'zero') {
        report.frames.zero += 1;
        report.zeroBytes += header.length;
        options.onFrame?.({ kind: 'zero', start: header.start, length: header.length, fileOffset: at, storedLength: 0 });
        continue;
      }

      report.frames.data += 1;
      report.dataBytes += header.length;
      const payloadAt = src.position;
      let lz4FrameSizes: number[] | undefined;
      if (compressed) {
        const walked = await walkLz4Payload(src, header, at, level, decoder, report, problem);
        lz4FrameSizes = walked.sizes;
        storedSizes.push(walked.sizes);
        if (walked.fatal) {
          fatal = true;
          break;
        }
      } else {
        const got = await src.skip(header.length);
        if (got < header.length) {
          problem(`truncated data frame at offset ${at}: payload has ${got} of ${header.length} bytes`);
          break;
        }
      }
      const storedLength = src.position - payloadAt;
      report.storedDataBytes += storedLength;
      const termAt = src.position;
      const term = await src.read(TERM.length);
      if (isShortRead(term)) {
        problem(`truncated data frame at offset ${at}: no \\r\\n after the payload (stream ends at offset ${termAt})`);
        break;
      }
      if (term[0] !== 0x0d || term[1] !== 0x0a) {
        problem(`data frame at offset ${at}: payload not followed by \\r\\n (found ${hexBytes(term)} at offset ${termAt})`);
        fatal = true;
        break;
      }
      options.onFrame?.({
        kind: 'data',
        start: header.start,
        length: header.length,
        fileOffset: at,
        storedLength,
        ...(lz4FrameSizes ? { lz4FrameSizes } : {}),
      });
    }

    if (report.stopFrameSeen && !fatal) {
      if (compressed) {
        const trailer = await readTrailer(src, problem);
        if (trailer !== null) {
          report.trailer = trailer;
          compareTrailer(trailer, storedSizes, problem);
        }
      } else {
        const stopEnd = src.position;
        const trailing = await src.drain();
        if (trailing > 0) problem(`${trailing} bytes of trailing garbage after the stop frame (offset ${stopEnd})`);
      }
      if (meta) {
        if (report.dataBytes !== meta.dataSize) {
          problem(`data frames hold ${report.dataBytes} bytes but the meta header says dataSize ${meta.dataSize}`);
        }
        if (!meta.incremental && report.extentEnd !== meta.virtualSize) {
          problem(`frames cover the disk up to ${report.extentEnd}, not to its virtual size ${meta.virtualSize}`);
        }
      }
    }
    report.complete = report.stopFrameSeen && !fatal && (await src.atEnd());
  } finally {
    if (options.readToEnd) await src.drain();
    report.bytesRead = src.position;
    await src.close();
  }
  if (dropped > 0) report.problems.push(`... and ${dropped} more problems`);
  return report;
}

/** Options for checking a data file on disk. */
export interface InspectDataFileOptions extends ParseStreamOptions {
  /** Bytes per read (default 1 MiB). */
  chunkSize?: number;
  /** Also compute the file's sha256 in the same pass (reads to the end even after a fatal problem). */
  sha256?: boolean;
}

/** Check a data file on disk in one bounded-memory pass. */
export async function inspectDataFile(path: string, options: InspectDataFileOptions = {}): Promise<SparseStreamReport & { sha256?: string }> {
  const hash = options.sha256 ? createHash('sha256') : null;
  const chunks = readFileChunks(path, { chunkSize: options.chunkSize, signal: options.signal });
  const tapped = hash ? tap(chunks, (c) => hash.update(c)) : chunks;
  const report = await parseSparseStream(tapped, { ...options, readToEnd: options.readToEnd || hash !== null });
  return hash ? { ...report, sha256: hash.digest('hex') } : report;
}

/**
 * Is this data file a sparse stream (it starts with a meta frame)? virtnbdbackup writes a raw
 * disk (`--raw`) as a plain raw image instead, `<disk>.copy.data`, which only a full holds.
 */
export async function isSparseStreamFile(path: string): Promise<boolean> {
  const src = new ByteSource(readFileChunks(path, { chunkSize: 4096 }));
  try {
    const head = await src.read(FRAME_HEADER_LENGTH);
    return !isShortRead(head) && typeof parseFrameHeader(head) !== 'string' && latin1(head).startsWith('meta ');
  } finally {
    await src.close();
  }
}

/** Read only the meta header of a data file (a few hundred bytes), e.g. to list a folder. */
export async function readStreamMeta(path: string): Promise<{ meta: StreamMeta | null; problems: string[] }> {
  const src = new ByteSource(readFileChunks(path, { chunkSize: 4096 }));
  try {
    const head = await readMetaFrame(src);
    return { meta: head.meta, problems: head.problems };
  } finally {
    await src.close();
  }
}

// ---------------------------------------------------------------------------------------------

async function readMetaFrame(src: ByteSource): Promise<{ meta: StreamMeta | null; problems: string[]; fatal: boolean }> {
  const problems: string[] = [];
  const stop = (line: string) => ({ meta: null, problems: [...problems, line], fatal: true });
  const headerBytes = await src.read(FRAME_HEADER_LENGTH);
  if (isShortRead(headerBytes)) {
    return stop(
      headerBytes.bytes.length === 0 ? 'empty file: no meta header' : `truncated meta header (${headerBytes.bytes.length} of ${FRAME_HEADER_LENGTH} bytes)`,
    );
  }
  const header = parseFrameHeader(headerBytes);
  if (typeof header === 'string') return stop(`bad meta header at offset 0: ${header} (not a virtnbdbackup stream?)`);
  if (header.kind !== 'meta') return stop(`first frame is ${header.kind}, expected meta (not a virtnbdbackup stream?)`);
  if (header.start !== 0) problems.push(`meta frame has start ${header.start}, expected 0`);
  if (header.length > MAX_META_LENGTH) return stop(`meta header claims ${header.length} bytes of JSON, more than ${MAX_META_LENGTH}`);
  const json = await src.read(header.length);
  if (isShortRead(json)) return stop(`truncated meta header: ${json.bytes.length} of ${header.length} bytes of JSON`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (cause) {
    return stop(`meta header is not valid JSON: ${messageOf(cause)}`);
  }
  const parsed = parseStreamMeta(value);
  problems.push(...parsed.problems);
  const termAt = src.position;
  const term = await src.read(TERM.length);
  if (isShortRead(term)) return { meta: parsed.meta, problems: [...problems, `truncated after the meta header (offset ${termAt})`], fatal: true };
  if (term[0] !== 0x0d || term[1] !== 0x0a) {
    return { meta: parsed.meta, problems: [...problems, `meta header not followed by \\r\\n (found ${hexBytes(term)} at offset ${termAt})`], fatal: true };
  }
  return { meta: parsed.meta, problems, fatal: false };
}

function checkExtent(header: FrameHeader, at: number, meta: StreamMeta | null, report: SparseStreamReport, problem: (line: string) => void): void {
  const end = header.start + header.length;
  if (header.length === 0) problem(`${header.kind} frame at offset ${at} has length 0`);
  if (meta && end > meta.virtualSize) {
    problem(`${header.kind} frame at offset ${at} covers ${header.start}..${end}, beyond the virtual size ${meta.virtualSize}`);
  }
  if (header.start < report.extentEnd) {
    problem(
      `${header.kind} frame at offset ${at} starts at ${header.start}, before the previous frame's end ${report.extentEnd} (overlapping or out of order)`,
    );
  } else if (meta && !meta.incremental && header.start > report.extentEnd) {
    // Full and copy streams describe every extent of the disk, data or zero, in order.
    problem(`${header.kind} frame at offset ${at} starts at ${header.start}: the disk range ${report.extentEnd}..${header.start} is in no frame`);
  }
  report.extentEnd = Math.max(report.extentEnd, end);
}

async function walkLz4Payload(
  src: ByteSource,
  header: FrameHeader,
  at: number,
  level: Lz4CheckLevel,
  decoder: Lz4Decoder,
  report: SparseStreamReport,
  problem: (line: string) => void,
): Promise<{ sizes: number[]; fatal: boolean }> {
  const sizes: number[] = [];
  let content = 0;
  let contentKnown = true;
  for (;;) {
    // A payload is one or more LZ4 frames; the data frame's \r\n (0d 0a) cannot start one
    // (the magic starts with 04), so the next two bytes tell where the payload ends.
    const next = await src.peek(2);
    if (next.length === 2 && next[0] === 0x0d && next[1] === 0x0a) break;
    if (next.length === 0) {
      problem(`truncated data frame at offset ${at}: compressed payload ends at offset ${src.position}`);
      return { sizes, fatal: true };
    }
    const frame = await readLz4Frame(src, level, decoder);
    frame.problems.forEach(problem);
    sizes.push(frame.storedSize);
    if (report.lz4) {
      report.lz4.frames += 1;
      report.lz4.blocks += frame.blocks;
      report.lz4.decodedBytes += frame.decodedSize ?? 0;
    }
    if (frame.fatal) return { sizes, fatal: true };
    const size = frame.decodedSize ?? frame.declaredContentSize;
    if (size === null) contentKnown = false;
    else content += size;
  }
  if (sizes.length === 0) problem(`data frame at offset ${at}: compressed payload holds no lz4 frame`);
  else if (contentKnown && content !== header.length) {
    problem(`data frame at offset ${at}: lz4 content is ${content} bytes but the frame covers ${header.length}`);
  }
  return { sizes, fatal: false };
}

async function readTrailer(src: ByteSource, problem: (line: string) => void): Promise<TrailerEntry[] | null> {
  const startAt = src.position;
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const piece = await src.read(64 << 10);
    const bytes = isShortRead(piece) ? piece.bytes : piece;
    if (bytes.length > 0) {
      parts.push(bytes.slice());
      total += bytes.length;
    }
    if (total > MAX_TRAILER_LENGTH + TERM.length + FRAME_HEADER_LENGTH) {
      const rest = await src.drain();
      problem(`compression trailer after offset ${startAt} is larger than ${MAX_TRAILER_LENGTH} bytes (${total + rest} bytes follow the stop frame)`);
      return null;
    }
    if (isShortRead(piece)) break;
  }
  const tail = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    tail.set(p, at);
    at += p.length;
  }
  if (total === 0) {
    problem(`compressed stream has no compression trailer after the stop frame (offset ${startAt})`);
    return null;
  }
  if (total < TERM.length + FRAME_HEADER_LENGTH) {
    problem(`truncated compression trailer after the stop frame (offset ${startAt}, ${total} bytes)`);
    return null;
  }
  const comp = parseFrameHeader(tail.subarray(total - FRAME_HEADER_LENGTH));
  if (typeof comp === 'string' || comp.kind !== 'comp') {
    problem(
      `compressed stream does not end with a comp frame (offset ${startAt + total - FRAME_HEADER_LENGTH}): ${typeof comp === 'string' ? comp : `found ${comp.kind}`}`,
    );
    return null;
  }
  const expected = comp.length + TERM.length + FRAME_HEADER_LENGTH;
  if (total !== expected) {
    problem(
      `compression trailer: comp frame says ${comp.length} bytes of JSON but ${total - TERM.length - FRAME_HEADER_LENGTH} precede it (offset ${startAt})`,
    );
    return null;
  }
  const json = tail.subarray(0, comp.length);
  const term = tail.subarray(comp.length, comp.length + TERM.length);
  if (term[0] !== 0x0d || term[1] !== 0x0a) problem(`compression trailer JSON not followed by \\r\\n (offset ${startAt + comp.length})`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (cause) {
    problem(`compression trailer is not valid JSON: ${messageOf(cause)}`);
    return null;
  }
  const entries = parseCompressionTrailer(value);
  if (typeof entries === 'string') {
    problem(entries);
    return null;
  }
  return entries;
}

function compareTrailer(trailer: readonly TrailerEntry[], stored: readonly number[][], problem: (line: string) => void): void {
  if (trailer.length !== stored.length) {
    problem(`compression trailer lists ${trailer.length} payloads but the stream has ${stored.length} data frames`);
  }
  const n = Math.min(trailer.length, stored.length);
  for (let i = 0; i < n; i++) {
    const entry = trailer[i]!;
    const sizes = stored[i]!;
    const sum = sizes.reduce((a, b) => a + b, 0);
    if (typeof entry === 'number') {
      if (sizes.length !== 1 || entry !== sum) {
        problem(`compression trailer entry ${i} says ${entry} bytes, data frame ${i} holds lz4 frames of ${sizes.join('+')} bytes`);
      }
    } else if (entry.total !== sum || entry.chunks.length !== sizes.length || entry.chunks.some((c, j) => c !== sizes[j])) {
      problem(
        `compression trailer entry ${i} says ${entry.total} = ${entry.chunks.join('+')} bytes, data frame ${i} holds lz4 frames of ${sizes.join('+')} bytes`,
      );
    }
  }
}

async function* tap(chunks: AsyncIterable<Uint8Array>, fn: (chunk: Uint8Array) => void): AsyncGenerator<Uint8Array> {
  for await (const c of chunks) {
    fn(c);
    yield c;
  }
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  const text = JSON.stringify(v);
  return text === undefined ? String(v) : text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
