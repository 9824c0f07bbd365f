/**
 * A boot proof's console screenshot shrunk for the HTML report: the PNG `virsh screenshot` wrote
 * (QEMU's, 720×400 for a text console), down to a few hundred bytes of grey PNG so that a fleet's
 * page can carry one per domain inline. `verify --boot` makes it beside the screenshot when it keeps
 * the evidence (the report then only reads it); the report makes it from the screenshot for
 * evidence kept before. Pure: bytes in, bytes out, no I/O.
 *
 * Decoding reads one row at a time (a filtered row needs only the row above) and adds each pixel's
 * grey into the thumbnail pixel it falls in, so a screen of any size costs one row of memory.
 * What no console screenshot is (interlaced, over 8192 pixels a side) is refused with a reason
 * rather than drawn wrong.
 */
import { deflateSync, inflateSync } from 'node:zlib';

export interface Thumbnail {
  png: Buffer;
  width: number;
  height: number;
}

/** The largest thumbnail: 160×120 px (a 720×400 console gives 160×89). */
export const THUMBNAIL_BOX = { width: 160, height: 120 } as const;
/**
 * A thumbnail's byte cap. A text console at 160 px in 4 greys is 200-900 bytes; a screen that
 * would not shrink under this (a photo) has no thumbnail rather than weigh on a fleet's page.
 */
export const MAX_THUMBNAIL_BYTES = 2048;
const MAX_SIDE = 8192;
/** Greys in the thumbnail: 2 bits a pixel. Text stays text; 16 greys cost twice the bytes for little more. */
const BITS = 2;

const SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
/** Samples per pixel by PNG colour type: grey, RGB, palette, grey+alpha, RGBA. */
const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Why a screenshot has no thumbnail. */
export class ThumbnailError extends Error {}

interface Header {
  width: number;
  height: number;
  depth: number;
  type: number;
}

/** Shrink a PNG screenshot into a grey thumbnail within `box`; throws ThumbnailError saying why it cannot. */
export function makeThumbnail(png: Uint8Array, box: { width: number; height: number } = THUMBNAIL_BOX): Thumbnail {
  const { header, palette, data } = readChunks(Buffer.from(png.buffer, png.byteOffset, png.byteLength));
  const scale = Math.min(1, box.width / header.width, box.height / header.height);
  const width = Math.max(1, Math.round(header.width * scale));
  const height = Math.max(1, Math.round(header.height * scale));
  const grey = shrinkGrey(header, palette, data, width, height);
  const out = encodeGreyPng(quantize(grey, BITS), width, height, BITS);
  if (out.length > MAX_THUMBNAIL_BYTES) throw new ThumbnailError(`the screen does not shrink under ${MAX_THUMBNAIL_BYTES} bytes`);
  return { png: out, width, height };
}

function readChunks(buf: Buffer): { header: Header; palette: Buffer | undefined; data: Buffer } {
  if (buf.length < 33 || !buf.subarray(0, 8).equals(SIGNATURE)) throw new ThumbnailError('not a PNG file');
  let header: Header | undefined;
  let palette: Buffer | undefined;
  const idat: Buffer[] = [];
  for (let at = 8; at + 12 <= buf.length;) {
    const length = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const body = buf.subarray(at + 8, at + 8 + length);
    if (body.length < length) throw new ThumbnailError('the PNG file is cut short');
    if (type === 'IHDR') {
      if (length < 13) throw new ThumbnailError('the PNG header is cut short');
      header = { width: body.readUInt32BE(0), height: body.readUInt32BE(4), depth: body[8]!, type: body[9]! };
      if (body[12] !== 0) throw new ThumbnailError('interlaced PNG');
    } else if (type === 'PLTE') palette = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    at += 12 + length;
  }
  if (!header) throw new ThumbnailError('the PNG file has no header');
  const { width, height, depth, type } = header;
  if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) throw new ThumbnailError(`a ${width}×${height} screen`);
  const channels = CHANNELS[type];
  const depthOk = type === 0 || type === 3 ? [1, 2, 4, 8].includes(depth) || (type === 0 && depth === 16) : depth === 8 || depth === 16;
  if (channels === undefined || !depthOk) throw new ThumbnailError(`PNG colour type ${type} at ${depth} bits`);
  if (type === 3 && !palette) throw new ThumbnailError('a palette PNG without its palette');
  const expected = (rowBytes(header) + 1) * height;
  let data: Buffer;
  try {
    // Never more than the header says: a screen cannot inflate into a bomb.
    data = inflateSync(Buffer.concat(idat), { maxOutputLength: expected });
  } catch {
    throw new ThumbnailError('the PNG image data cannot be read');
  }
  if (data.length < expected) throw new ThumbnailError('the PNG image data is cut short');
  return { header, palette, data };
}

const rowBytes = (h: Header) => Math.ceil((h.width * CHANNELS[h.type]! * h.depth) / 8);

/** Undo the rows' filters one by one and add each pixel's grey (0-255) into its thumbnail pixel; returns the mean grey of each. */
function shrinkGrey(h: Header, palette: Buffer | undefined, data: Buffer, width: number, height: number): Float64Array {
  const stride = rowBytes(h);
  const bpp = Math.max(1, (CHANNELS[h.type]! * h.depth) >> 3);
  const rows = [new Uint8Array(stride), new Uint8Array(stride)] as const;
  const greys = new Uint8Array(h.width);
  const sum = new Float64Array(width * height);
  const count = new Float64Array(width * height);
  const column = Int32Array.from({ length: h.width }, (_, x) => Math.min(width - 1, Math.floor((x * width) / h.width)));
  for (let y = 0; y < h.height; y++) {
    const row = rows[y & 1]!;
    unfilter(data, y * (stride + 1), row, rows[(y + 1) & 1]!, bpp);
    rowGreys(h, palette, row, greys);
    const base = Math.min(height - 1, Math.floor((y * height) / h.height)) * width;
    for (let x = 0; x < h.width; x++) {
      const i = base + column[x]!;
      sum[i]! += greys[x]!;
      count[i]! += 1;
    }
  }
  for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! / count[i]!;
  return sum;
}

function unfilter(data: Buffer, at: number, row: Uint8Array, prev: Uint8Array, bpp: number): void {
  const filter = data[at]!;
  const src = at + 1;
  const n = row.length;
  if (filter === 0) row.set(data.subarray(src, src + n));
  else if (filter === 1) for (let x = 0; x < n; x++) row[x] = data[src + x]! + (x >= bpp ? row[x - bpp]! : 0);
  else if (filter === 2) for (let x = 0; x < n; x++) row[x] = data[src + x]! + prev[x]!;
  else if (filter === 3) for (let x = 0; x < n; x++) row[x] = data[src + x]! + (((x >= bpp ? row[x - bpp]! : 0) + prev[x]!) >> 1);
  else if (filter === 4) {
    for (let x = 0; x < n; x++) {
      const a = x >= bpp ? row[x - bpp]! : 0;
      const b = prev[x]!;
      const c = x >= bpp ? prev[x - bpp]! : 0;
      const pa = Math.abs(b - c);
      const pb = Math.abs(a - c);
      const pc = Math.abs(a + b - 2 * c);
      row[x] = data[src + x]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
    }
  } else throw new ThumbnailError(`PNG row filter ${filter}`);
}

/** Each pixel's grey (Rec. 601 luma, 0-255) of an unfiltered row; alpha is ignored (a screen is opaque). */
function rowGreys(h: Header, palette: Buffer | undefined, row: Uint8Array, out: Uint8Array): void {
  const n = h.width;
  if (h.depth < 8) {
    const max = (1 << h.depth) - 1;
    for (let x = 0; x < n; x++) {
      const bit = x * h.depth;
      const v = (row[bit >> 3]! >> (8 - h.depth - (bit & 7))) & max;
      out[x] = h.type === 3 ? paletteGrey(palette!, v) : Math.round((v * 255) / max);
    }
    return;
  }
  const step = h.depth >> 3;
  const px = CHANNELS[h.type]! * step;
  if (h.type === 3) for (let x = 0; x < n; x++) out[x] = paletteGrey(palette!, row[x]!);
  else if (h.type === 0 || h.type === 4) for (let x = 0; x < n; x++) out[x] = row[x * px]!;
  else for (let x = 0, at = 0; x < n; x++, at += px) out[x] = (77 * row[at]! + 150 * row[at + step]! + 29 * row[at + 2 * step]!) >> 8;
}

function paletteGrey(palette: Buffer, i: number): number {
  if (3 * i + 2 >= palette.length) return 0;
  return (77 * palette[3 * i]! + 150 * palette[3 * i + 1]! + 29 * palette[3 * i + 2]!) >> 8;
}

/**
 * Greys to `bits`-bit levels, stretched so the darkest pixel is black and the brightest white: a
 * console's letters shrunk to a quarter are mid-grey, which the stretch keeps apart from the black.
 */
function quantize(grey: Float64Array, bits: number): Uint8Array {
  let lo = 255;
  let hi = 0;
  for (let i = 0; i < grey.length; i++) {
    if (grey[i]! < lo) lo = grey[i]!;
    if (grey[i]! > hi) hi = grey[i]!;
  }
  const top = (1 << bits) - 1;
  const span = hi - lo;
  const out = new Uint8Array(grey.length);
  for (let i = 0; i < grey.length; i++) out[i] = span < 1 ? (lo >= 128 ? top : 0) : Math.round(((grey[i]! - lo) / span) * top);
  return out;
}

/** A grey PNG (colour type 0) of `bits`-bit samples, rows unfiltered (filters seldom help below 8 bits). */
export function encodeGreyPng(levels: Uint8Array, width: number, height: number, bits: number): Buffer {
  const stride = Math.ceil((width * bits) / 8);
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * bits;
      raw[y * (stride + 1) + 1 + (bit >> 3)]! |= levels[y * width + x]! << (8 - bits - (bit & 7));
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bits;
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function chunk(type: string, body: Buffer): Buffer {
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), body]);
  let c = -1;
  for (const b of typed) c = CRC_TABLE[(c ^ b) & 255]! ^ (c >>> 8);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE((c ^ -1) >>> 0);
  return Buffer.concat([head, typed, tail]);
}

/** A thumbnail made before (the evidence's screenshot-thumbnail.png): its size, if it is a PNG no larger than a thumbnail may be. */
export function readThumbnail(png: Uint8Array): Thumbnail | undefined {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (buf.length < 33 || buf.length > MAX_THUMBNAIL_BYTES || !buf.subarray(0, 8).equals(SIGNATURE) || buf.toString('latin1', 12, 16) !== 'IHDR')
    return undefined;
  const width = buf.readUInt32BE(16);
  const height = buf.readUInt32BE(20);
  if (width < 1 || height < 1 || width > THUMBNAIL_BOX.width || height > THUMBNAIL_BOX.height) return undefined;
  return { png: buf, width, height };
}
