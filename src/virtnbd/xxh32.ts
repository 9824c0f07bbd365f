/**
 * xxHash32, incremental. The LZ4 frame format checksums its header, its blocks and its content
 * with it, and virtnbdbackup's compressed streams turn every checksum on, so these let vmkeep
 * verify compressed data files without the lz4 library.
 */

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

function round(acc: number, lane: number): number {
  acc = (acc + Math.imul(lane, P2)) >>> 0;
  acc = rotl(acc, 13);
  return Math.imul(acc, P1) >>> 0;
}

function readU32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

/** Incremental xxHash32: update with pieces, then digest once. */
export class Xxh32 {
  private v1: number;
  private v2: number;
  private v3: number;
  private v4: number;
  private total = 0;
  private readonly memory = new Uint8Array(16);
  private memorySize = 0;
  private readonly seed: number;

  constructor(seed = 0) {
    this.seed = seed >>> 0;
    this.v1 = (this.seed + P1 + P2) >>> 0;
    this.v2 = (this.seed + P2) >>> 0;
    this.v3 = this.seed;
    this.v4 = (this.seed - P1) >>> 0;
  }

  update(input: Uint8Array): this {
    let p = 0;
    const len = input.length;
    this.total += len;
    if (this.memorySize + len < 16) {
      this.memory.set(input, this.memorySize);
      this.memorySize += len;
      return this;
    }
    if (this.memorySize > 0) {
      const fill = 16 - this.memorySize;
      this.memory.set(input.subarray(0, fill), this.memorySize);
      this.v1 = round(this.v1, readU32(this.memory, 0));
      this.v2 = round(this.v2, readU32(this.memory, 4));
      this.v3 = round(this.v3, readU32(this.memory, 8));
      this.v4 = round(this.v4, readU32(this.memory, 12));
      p = fill;
      this.memorySize = 0;
    }
    let v1 = this.v1;
    let v2 = this.v2;
    let v3 = this.v3;
    let v4 = this.v4;
    const limit = len - 16;
    while (p <= limit) {
      v1 = round(v1, readU32(input, p));
      v2 = round(v2, readU32(input, p + 4));
      v3 = round(v3, readU32(input, p + 8));
      v4 = round(v4, readU32(input, p + 12));
      p += 16;
    }
    this.v1 = v1;
    this.v2 = v2;
    this.v3 = v3;
    this.v4 = v4;
    if (p < len) {
      this.memory.set(input.subarray(p), 0);
      this.memorySize = len - p;
    }
    return this;
  }

  digest(): number {
    let h: number;
    if (this.total >= 16) {
      h = (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) >>> 0;
    } else {
      h = (this.seed + P5) >>> 0;
    }
    // The spec adds the length modulo 2^32.
    h = (h + (this.total % 0x100000000)) >>> 0;
    let p = 0;
    const m = this.memory;
    while (p + 4 <= this.memorySize) {
      h = (h + Math.imul(readU32(m, p), P3)) >>> 0;
      h = Math.imul(rotl(h, 17), P4) >>> 0;
      p += 4;
    }
    while (p < this.memorySize) {
      h = (h + Math.imul(m[p]!, P5)) >>> 0;
      h = Math.imul(rotl(h, 11), P1) >>> 0;
      p += 1;
    }
    h ^= h >>> 15;
    h = Math.imul(h, P2) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, P3) >>> 0;
    h ^= h >>> 16;
    return h >>> 0;
  }
}

/** xxHash32 of one buffer. */
export function hashXxh32(input: Uint8Array, seed = 0): number {
  return new Xxh32(seed).update(input).digest();
}
