/**
 * A qcow2 header reader for images no running QEMU holds: the virtual size, the backing file
 * name and the persistent dirty bitmaps (name, flags, granularity), read from the header and the
 * bitmap directory (QEMU's docs/interop/qcow2.txt) without starting a `qemu-img info` process,
 * which costs ~15 ms of CPU and a fork of vmkeep's process per disk.
 *
 * It reads only the common case and says "unsupported" for everything else, so the caller asks
 * qemu-img instead of guessing: version 2, any incompatible feature bit (dirty, corrupt, external
 * data file, compression type, extended L2, unknown), encryption, internal snapshots, an unknown
 * auto-clear bit or header extension, a bitmaps extension QEMU would ignore (its auto-clear bit
 * unset) or refuse, a directory entry outside QEMU's limits, a file cut short, a name that is
 * not UTF-8, anything that is not a regular file. The checks follow QEMU's own when it opens an
 * image: where QEMU refuses an image, the reader refuses it too, and qemu-img gives the error.
 */
import { open } from 'node:fs/promises';
import type { DiskBitmap } from './types.js';

/** Bytes of the image: `read` returns fewer than asked for only at the end of the file. */
export interface ByteSource {
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** What the header says, in qemu-img info's terms. */
export interface Qcow2Header {
  virtualSize: number;
  clusterSize: number;
  backingFilename: string | undefined;
  bitmaps: Qcow2Bitmap[];
}

/** One bitmap directory entry. */
export interface Qcow2Bitmap {
  name: string;
  granularity: number;
  /** Not saved cleanly (qemu-img's "in-use"): on an image no QEMU holds, the bitmap is inconsistent. */
  inUse: boolean;
  /** Records every write (qemu-img's "auto"). */
  auto: boolean;
}

export type Qcow2Reading = { ok: true; header: Qcow2Header } | { ok: false; reason: string };

const MAGIC = 0x514649fb; // "QFI\xfb"
const V3_HEADER_LENGTH = 104;
/** QEMU opens clusters of 512 bytes to 2 MiB. */
const MIN_CLUSTER_BITS = 9;
const MAX_CLUSTER_BITS = 21;
const EXT_END = 0x00000000;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_FEATURE_TABLE = 0x6803f857;
const EXT_BITMAPS = 0x23852875;
const AUTOCLEAR_BITMAPS = 1n;
/** QEMU's limits on bitmaps (block/qcow2.h, block/qcow2-bitmap.c). */
const MAX_BITMAPS = 65535;
const MAX_BITMAP_DIRECTORY_SIZE = 1024 * MAX_BITMAPS;
const MAX_BITMAP_TABLE_SIZE = 0x8000000;
const MAX_BITMAP_PHYS_SIZE = 0x20000000;
const MIN_GRANULARITY_BITS = 9;
const MAX_GRANULARITY_BITS = 31;
const MAX_NAME_SIZE = 1023;
const MAX_BACKING_NAME = 1023;
const FLAG_IN_USE = 1;
const FLAG_AUTO = 2;
const KNOWN_FLAGS = FLAG_IN_USE | FLAG_AUTO | 4;
const DIRTY_TRACKING = 1;
/** The first read: the header and its extensions fit in it for clusters up to 4 KiB, and in practice for all. */
const FIRST_READ = 4096;

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Unsupported extends Error {}
const refuse = (reason: string): never => {
  throw new Unsupported(reason);
};

/** Read an image's qcow2 header and bitmap directory; `ok: false` says why qemu-img should be asked instead. */
export async function readQcow2Header(source: ByteSource): Promise<Qcow2Reading> {
  try {
    return { ok: true, header: await parse(source) };
  } catch (e) {
    if (e instanceof Unsupported) return { ok: false, reason: e.message };
    throw e;
  }
}

/** An image file as a ByteSource, with its st_blocks (qemu-img's actual-size is st_blocks × 512). */
export async function readQcow2File(path: string): Promise<{ reading: Qcow2Reading; allocatedBytes: number }> {
  const handle = await open(path, 'r');
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return { reading: { ok: false, reason: 'not a regular file' }, allocatedBytes: 0 };
    const source: ByteSource = {
      async read(offset, length) {
        const buffer = new Uint8Array(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await handle.read(buffer, got, length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return buffer.subarray(0, got);
      },
    };
    return { reading: await readQcow2Header(source), allocatedBytes: stat.blocks * 512 };
  } finally {
    await handle.close();
  }
}

async function readExactly(source: ByteSource, offset: number, length: number, what: string): Promise<DataView> {
  const bytes = await source.read(offset, length);
  if (bytes.length < length) refuse(`the file ends inside its ${what}`);
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A u64 that must fit a JavaScript number exactly. */
function u64(view: DataView, at: number, what: string): number {
  const v = view.getBigUint64(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) refuse(`${what} ${v} is too large`);
  return Number(v);
}

async function parse(source: ByteSource): Promise<Qcow2Header> {
  const first = await source.read(0, FIRST_READ);
  if (first.length < 8) refuse('shorter than a qcow2 header');
  let head = new DataView(first.buffer, first.byteOffset, first.byteLength);
  if (head.getUint32(0) !== MAGIC) refuse('not a qcow2 image');
  const version = head.getUint32(4);
  if (version !== 3) refuse(`qcow2 version ${version}`);
  if (first.length < V3_HEADER_LENGTH) refuse('the file ends inside its header');
  const clusterBits = head.getUint32(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) refuse(`cluster_bits ${clusterBits}`);
  const clusterSize = 2 ** clusterBits;
  const headerLength = head.getUint32(100);
  if (headerLength < V3_HEADER_LENGTH || headerLength % 8 !== 0 || headerLength > clusterSize) refuse(`header_length ${headerLength}`);
  const incompatible = head.getBigUint64(72);
  if (incompatible !== 0n) refuse(`incompatible features 0x${incompatible.toString(16)}`);
  const autoclear = head.getBigUint64(88);
  if ((autoclear & ~AUTOCLEAR_BITMAPS) !== 0n) refuse(`auto-clear features 0x${autoclear.toString(16)}`);
  const cryptMethod = head.getUint32(32);
  if (cryptMethod !== 0) refuse(`encrypted (crypt_method ${cryptMethod})`);
  const refcountOrder = head.getUint32(96);
  if (refcountOrder > 6) refuse(`refcount_order ${refcountOrder}`);
  if (head.getUint32(60) !== 0) refuse('internal snapshots');
  const virtualSize = u64(head, 24, 'virtual size');
  const backingOffset = u64(head, 8, 'backing_file_offset');
  const backingSize = head.getUint32(16);
  if (backingOffset !== 0 && (backingSize > MAX_BACKING_NAME || backingOffset > clusterSize || backingSize > clusterSize - backingOffset)) {
    refuse('backing file name outside the first cluster');
  }

  // The header extensions run from the header's end to the end marker, within the first cluster
  // (before the backing file name, when there is one).
  const extensionsEnd = backingOffset !== 0 ? backingOffset : clusterSize;
  // Read the rest of the first cluster only when the extensions run past the first read.
  let wholeCluster = first.length < FIRST_READ; // a file that short was read to its end
  const have = async (end: number) => {
    if (end <= head.byteLength || wholeCluster) return;
    wholeCluster = true;
    const whole = await source.read(0, extensionsEnd);
    head = new DataView(whole.buffer, whole.byteOffset, whole.byteLength);
  };
  let bitmapsExtension: { count: number; directorySize: number; directoryOffset: number } | undefined;
  for (let at = headerLength; ;) {
    if (at + 8 > extensionsEnd) refuse('header extensions without an end marker');
    await have(at + 8);
    if (at + 8 > head.byteLength) refuse('the file ends inside its header extensions');
    const type = head.getUint32(at);
    const length = head.getUint32(at + 4);
    at += 8;
    if (type === EXT_END) break;
    if (length > extensionsEnd - at) refuse('a header extension runs past the first cluster');
    await have(at + length);
    if (at + length > head.byteLength) refuse('the file ends inside its header extensions');
    if (type === EXT_BITMAPS) {
      if (bitmapsExtension !== undefined) refuse('two bitmaps extensions');
      if (length !== 24) refuse(`bitmaps extension of ${length} bytes`);
      if (head.getUint32(at + 4) !== 0) refuse('bitmaps extension with its reserved field set');
      bitmapsExtension = {
        count: head.getUint32(at),
        directorySize: u64(head, at + 8, 'bitmap directory size'),
        directoryOffset: u64(head, at + 16, 'bitmap directory offset'),
      };
    } else if (type !== EXT_BACKING_FORMAT && type !== EXT_FEATURE_TABLE) {
      refuse(`header extension 0x${type.toString(16).padStart(8, '0')}`);
    }
    at += Math.ceil(length / 8) * 8;
  }

  let backingFilename: string | undefined;
  if (backingOffset !== 0) {
    const name = await source.read(backingOffset, backingSize);
    if (name.length < backingSize) refuse('the file ends inside its backing file name');
    backingFilename = decodeName(name, 'backing file name');
  }

  const bitmaps = await readBitmaps(source, bitmapsExtension, (autoclear & AUTOCLEAR_BITMAPS) !== 0n, clusterSize);
  return { virtualSize, clusterSize, backingFilename, bitmaps };
}

async function readBitmaps(
  source: ByteSource,
  extension: { count: number; directorySize: number; directoryOffset: number } | undefined,
  consistent: boolean,
  clusterSize: number,
): Promise<Qcow2Bitmap[]> {
  if (extension === undefined) {
    if (consistent) refuse('bitmaps auto-clear bit set without a bitmaps extension');
    return [];
  }
  // QEMU ignores the whole extension then (with a warning): leave that to qemu-img.
  if (!consistent) refuse('bitmaps extension with its auto-clear bit unset');
  const { count, directorySize, directoryOffset } = extension;
  if (count === 0 || count > MAX_BITMAPS) refuse(`${count} bitmaps`);
  if (directorySize === 0 || directorySize > MAX_BITMAP_DIRECTORY_SIZE) refuse(`bitmap directory of ${directorySize} bytes`);
  if (directoryOffset === 0 || directoryOffset % clusterSize !== 0) refuse('bitmap directory not on a cluster boundary');
  const dir = await readExactly(source, directoryOffset, directorySize, 'bitmap directory');
  const bitmaps: Qcow2Bitmap[] = [];
  const names = new Set<string>();
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 24 > directorySize) refuse('bitmap directory shorter than its entries');
    const tableOffset = u64(dir, at, 'bitmap table offset');
    const tableSize = dir.getUint32(at + 8);
    const flags = dir.getUint32(at + 12);
    const type = dir.getUint8(at + 16);
    const granularityBits = dir.getUint8(at + 17);
    const nameSize = dir.getUint16(at + 18);
    const extraSize = dir.getUint32(at + 20);
    if (
      type !== DIRTY_TRACKING ||
      (flags & ~KNOWN_FLAGS) !== 0 ||
      granularityBits < MIN_GRANULARITY_BITS ||
      granularityBits > MAX_GRANULARITY_BITS ||
      nameSize === 0 ||
      nameSize > MAX_NAME_SIZE ||
      extraSize !== 0 ||
      tableSize > MAX_BITMAP_TABLE_SIZE ||
      tableSize * clusterSize > MAX_BITMAP_PHYS_SIZE ||
      tableOffset === 0 ||
      tableOffset % clusterSize !== 0
    ) {
      refuse(`bitmap directory entry ${i + 1} outside QEMU's constraints`);
    }
    const entryEnd = at + 24 + nameSize;
    if (entryEnd > directorySize) refuse('bitmap directory shorter than its entries');
    const name = decodeName(new Uint8Array(dir.buffer, dir.byteOffset + at + 24, nameSize), 'bitmap name');
    if (names.has(name)) refuse(`two bitmaps named ${name}`);
    names.add(name);
    bitmaps.push({ name, granularity: 2 ** granularityBits, inUse: (flags & FLAG_IN_USE) !== 0, auto: (flags & FLAG_AUTO) !== 0 });
    at = Math.ceil(entryEnd / 8) * 8;
  }
  if (at !== directorySize) refuse('bitmap directory size does not match its entries');
  return bitmaps;
}

function decodeName(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return refuse(`${what} is not UTF-8`);
  }
}

/** A reading's bitmaps as vmkeep's disk bitmaps (the same fields as parseImageInfo gives). */
export function toDiskBitmaps(bitmaps: readonly Qcow2Bitmap[]): DiskBitmap[] {
  return bitmaps.map((b) => ({ name: b.name, count: undefined, recording: undefined, persistent: true, inconsistent: b.inUse }));
}
