/**
 * Merge consecutive incremental data files of one disk into one: the union of their extents,
 * where a later file's data wins. Applying the result gives the disk the same content as applying
 * the inputs in order, which is how virtnbdrestore (and vmkeep's restore through it) replays a
 * chain: every data frame is written at its offset, later files over earlier ones. Incremental
 * files hold data frames only (virtnbdbackup writes zero frames in full and copy files only).
 *
 * The result takes the last input's meta header (its checkpoint, date and compression), with
 * `parentCheckpoint` from the first input and the new `dataSize`. Where a frame survives whole
 * and the compression matches, its stored payload is copied as it is (with its trailer entry);
 * bytes cut out of a frame are written raw, or, in a compressed file, as LZ4 frames of stored
 * blocks of at most 4 MiB each (smaller than any NBD request limit, so a one-frame entry).
 * Memory stays bounded by one decoded LZ4 frame of the input.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { ByteSource } from './byte-source.js';
import { Lz4Decoder, encodeStoredLz4Frame, readLz4Frame } from './lz4-frame.js';
import { readFileChunks } from './read-stream-file.js';
import { TERM, formatFrameHeader, inspectDataFile, type StreamMeta, type TrailerEntry } from './stream-format.js';
import { VmkeepError } from '../errors.js';

/** Bytes of a frame header: the payload of a data frame starts this far after its header. */
const HEADER = 40;
/** Largest data frame written for bytes cut out of a compressed frame. */
const CUT_FRAME = 4 << 20;

/** An extent of a layer: `length` bytes of disk from `start`. */
export interface Extent {
  start: number;
  length: number;
}

/** A part of one layer's extent that no later layer covers. */
export interface OverlayPiece<T extends Extent> {
  source: T;
  start: number;
  end: number;
}

/**
 * Lay `layers` (oldest first, each sorted and non-overlapping) over each other: the disk ranges
 * some layer covers, each taken from the latest layer that covers it, in disk order. Pure.
 */
export function overlayExtents<T extends Extent>(layers: readonly (readonly T[])[]): Array<OverlayPiece<T>> {
  const bounds = [...new Set(layers.flatMap((l) => l.flatMap((e) => [e.start, e.start + e.length])))].sort((a, b) => a - b);
  const at = layers.map(() => 0);
  const pieces: Array<OverlayPiece<T>> = [];
  for (let b = 0; b + 1 < bounds.length; b++) {
    const from = bounds[b]!;
    const to = bounds[b + 1]!;
    let found: T | undefined;
    for (let l = layers.length - 1; l >= 0 && found === undefined; l--) {
      const layer = layers[l]!;
      while (at[l]! < layer.length && layer[at[l]!]!.start + layer[at[l]!]!.length <= from) at[l]! += 1;
      const e = layer[at[l]!];
      // Every start and end is a bound: an extent covers [from, to) whole or not at all.
      if (e !== undefined && e.start <= from) found = e;
    }
    if (found === undefined) continue;
    const last = pieces.at(-1);
    if (last && last.source === found && last.end === from) last.end = to;
    else pieces.push({ source: found, start: from, end: to });
  }
  return pieces;
}

/** A data frame of an input file, with where its payload is. */
interface SourceFrame extends Extent {
  file: number;
  /** Offset of the frame header in its file. */
  fileOffset: number;
  storedLength: number;
  /** The frame's compression trailer entry (compressed inputs). */
  trailer: TrailerEntry | undefined;
}

interface InputFile {
  path: string;
  meta: StreamMeta;
  frames: SourceFrame[];
}

/** What mergeIncrementalStreams wrote. */
export interface MergedStream {
  dataSize: number;
  frames: number;
  compressed: boolean;
}

/**
 * Write `target`: the incremental data files `inputs` (oldest first, consecutive checkpoints of
 * one disk) merged into one. Every input is checked in full first (LZ4 payloads decoded); a file
 * with a problem, or inputs that are not one disk's consecutive incrementals, are refused naming
 * the file. The target is written and fsynced; the caller renames it into place.
 */
export async function mergeIncrementalStreams(inputs: readonly string[], target: string, signal?: AbortSignal): Promise<MergedStream> {
  if (inputs.length < 2) throw new VmkeepError('failure', 'a merge needs at least two data files');
  const files: InputFile[] = [];
  for (const [i, path] of inputs.entries()) files.push(await readInput(path, i, signal));
  const last = files.at(-1)!.meta;
  for (const [i, f] of files.entries()) {
    if (f.meta.diskName !== last.diskName || f.meta.virtualSize !== last.virtualSize) {
      throw new VmkeepError(
        'failure',
        `${f.path} is of disk ${f.meta.diskName} (${f.meta.virtualSize} bytes), ${inputs.at(-1)} of ${last.diskName} (${last.virtualSize} bytes)`,
      );
    }
    const before = files[i - 1];
    if (before && f.meta.parentCheckpoint !== before.meta.checkpointName) {
      throw new VmkeepError('failure', `${f.path} rests on ${f.meta.parentCheckpoint || '(none)'}, not on ${before.meta.checkpointName} of the file before it`);
    }
  }
  const pieces = overlayExtents(files.map((f) => f.frames));
  const dataSize = pieces.reduce((n, p) => n + (p.end - p.start), 0);
  const meta = { ...last.raw, dataSize, parentCheckpoint: files[0]!.meta.parentCheckpoint };
  const compressed = last.compressed;
  const handle = await open(target, 'w', 0o600);
  const trailer: TrailerEntry[] = [];
  let frames = 0;
  try {
    const json = Buffer.from(JSON.stringify(meta, null, 4), 'utf8');
    await handle.write(Buffer.from(formatFrameHeader('meta', 0, json.length), 'latin1'));
    await handle.write(json);
    await handle.write(TERM);
    for (const piece of pieces) {
      signal?.throwIfAborted();
      const frame = piece.source;
      const source = files[frame.file]!;
      const whole = piece.start === frame.start && piece.end === frame.start + frame.length;
      if (whole && source.meta.compressed === compressed) {
        // The frame survives whole: its payload (and trailer entry) as stored.
        await handle.write(Buffer.from(formatFrameHeader('data', frame.start, frame.length), 'latin1'));
        await copyRange(handle, source.path, frame.fileOffset + HEADER, frame.storedLength);
        await handle.write(TERM);
        if (compressed) trailer.push(frame.trailer!);
        frames += 1;
        continue;
      }
      const bytes = pieceBytes(source, frame, piece.start, piece.end);
      if (!compressed) {
        await handle.write(Buffer.from(formatFrameHeader('data', piece.start, piece.end - piece.start), 'latin1'));
        for await (const b of bytes) await handle.write(b);
        await handle.write(TERM);
        frames += 1;
        continue;
      }
      let offset = piece.start;
      for await (const group of regroup(bytes, CUT_FRAME)) {
        const payload = encodeStoredLz4Frame(group);
        await handle.write(Buffer.from(formatFrameHeader('data', offset, group.length), 'latin1'));
        await handle.write(payload);
        await handle.write(TERM);
        trailer.push(payload.length);
        offset += group.length;
        frames += 1;
      }
    }
    await handle.write(Buffer.from(formatFrameHeader('stop', 0, 0), 'latin1'));
    if (compressed) {
      const text = Buffer.from(formatTrailer(trailer), 'utf8');
      await handle.write(text);
      await handle.write(TERM);
      await handle.write(Buffer.from(formatFrameHeader('comp', 0, text.length), 'latin1'));
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { dataSize, frames, compressed };
}

/**
 * Check a merged file against its inputs: sound as a stream (every LZ4 payload decoded), its
 * meta header as planned, and its data frames covering exactly the disk ranges the inputs cover.
 * Returns the problems, one line each (none: it may replace the last input).
 */
export async function checkMergedStream(inputs: readonly string[], merged: string, signal?: AbortSignal): Promise<string[]> {
  const covered: Extent[][] = [];
  for (const path of inputs) {
    const frames: Extent[] = [];
    await inspectDataFile(path, {
      lz4: 'structure',
      onFrame: (f) => f.kind === 'data' && frames.push({ start: f.start, length: f.length }),
      ...(signal ? { signal } : {}),
    });
    covered.push(frames);
  }
  const got: Extent[] = [];
  const report = await inspectDataFile(merged, {
    lz4: 'decompress',
    onFrame: (f) => f.kind === 'data' && got.push({ start: f.start, length: f.length }),
    ...(signal ? { signal } : {}),
  });
  const problems = [...report.problems];
  if (!report.complete) problems.push(`${merged} does not read to its end`);
  const first = (await inspectDataFile(inputs[0]!, { lz4: 'structure' })).meta;
  const last = (await inspectDataFile(inputs.at(-1)!, { lz4: 'structure' })).meta;
  if (report.meta && first && last) {
    if (report.meta.checkpointName !== last.checkpointName || report.meta.parentCheckpoint !== first.parentCheckpoint || !report.meta.incremental) {
      problems.push(
        `the meta header says checkpoint ${report.meta.checkpointName} on ${report.meta.parentCheckpoint}, not ${last.checkpointName} on ${first.parentCheckpoint}`,
      );
    }
  }
  const want = joinExtents(covered.flat());
  const have = joinExtents(got);
  if (JSON.stringify(want) !== JSON.stringify(have)) problems.push(`its data frames do not cover the ranges its inputs cover`);
  return problems;
}

/** Sorted extents with touching and overlapping ones joined, as [start, end] pairs. */
function joinExtents(extents: readonly Extent[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const e of [...extents].sort((a, b) => a.start - b.start)) {
    const prev = out.at(-1);
    if (prev && e.start <= prev[1]) prev[1] = Math.max(prev[1], e.start + e.length);
    else out.push([e.start, e.start + e.length]);
  }
  return out;
}

async function readInput(path: string, file: number, signal: AbortSignal | undefined): Promise<InputFile> {
  const frames: SourceFrame[] = [];
  const report = await inspectDataFile(path, {
    lz4: 'decompress',
    onFrame: (f) => {
      if (f.kind === 'data')
        frames.push({ file, start: f.start, length: f.length, fileOffset: f.fileOffset, storedLength: f.storedLength, trailer: undefined });
    },
    ...(signal ? { signal } : {}),
  });
  if (report.problems.length > 0 || !report.complete || report.meta === null) {
    throw new VmkeepError('failure', `${path} is not a sound data file: ${report.problems[0] ?? 'it does not read to its end'}`);
  }
  if (!report.meta.incremental) throw new VmkeepError('failure', `${path} is not an incremental data file: only incrementals are merged`);
  if (report.frames.zero > 0) throw new VmkeepError('failure', `${path} has zero frames: not an incremental data file`);
  if (report.meta.compressed) frames.forEach((f, i) => (f.trailer = report.trailer![i]));
  return { path, meta: report.meta, frames };
}

async function copyRange(handle: FileHandle, path: string, start: number, length: number): Promise<void> {
  let got = 0;
  for await (const chunk of readFileChunks(path, { start, limit: length })) {
    await handle.write(chunk);
    got += chunk.length;
  }
  if (got !== length) throw new VmkeepError('failure', `${path} ended ${length - got} bytes early while it was merged`);
}

/** The disk bytes [from, to) of a data frame (`to` at most the frame's end), in order. */
async function* pieceBytes(file: InputFile, frame: SourceFrame, from: number, to: number): AsyncGenerator<Uint8Array> {
  const payload = frame.fileOffset + HEADER;
  if (!file.meta.compressed) {
    yield* readFileChunks(file.path, { start: payload + (from - frame.start), limit: to - from });
    return;
  }
  const src = new ByteSource(readFileChunks(file.path, { start: payload, limit: frame.storedLength }));
  const decoder = new Lz4Decoder();
  try {
    let pos = frame.start;
    while (pos < to) {
      const kept: Uint8Array[] = [];
      const report = await readLz4Frame(src, 'decompress', decoder, (bytes) => {
        const s = Math.max(from, pos);
        const e = Math.min(to, pos + bytes.length);
        if (e > s) kept.push(bytes.slice(s - pos, e - pos));
        pos += bytes.length;
      });
      if (report.problems.length > 0 || report.decodedSize === null) {
        throw new VmkeepError('failure', `${file.path}: ${report.problems[0] ?? 'an lz4 frame did not decode'}`);
      }
      yield* kept;
    }
  } finally {
    await src.close();
  }
}

/** Regroup a byte sequence into pieces of exactly `size` bytes (the last one shorter). */
async function* regroup(chunks: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let buffer = new Uint8Array(size);
  let filled = 0;
  for await (const chunk of chunks) {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(size - filled, chunk.length - at);
      buffer.set(chunk.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === size) {
        yield buffer;
        buffer = new Uint8Array(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buffer.subarray(0, filled);
}

/** The compression trailer as python's json.dumps writes it. */
function formatTrailer(entries: readonly TrailerEntry[]): string {
  return `[${entries.map((e) => (typeof e === 'number' ? String(e) : `{"${e.total}": [${e.chunks.join(', ')}]}`)).join(', ')}]`;
}
