/**
 * xxHash32 and the LZ4 frame walker/decoder. Reference values for xxh32 were checked against
 * the content checksum the `lz4` CLI (1.9.4) writes; the frames are real ones from
 * fixtures/virtnbdbackup/chain-compressed (python-lz4 4.0.2 as used by virtnbdbackup 1.9.15).
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { ByteSource } from '../../../src/virtnbd/byte-source.js';
import { decodeLz4Block, readLz4Frame } from '../../../src/virtnbd/lz4-frame.js';
import { Xxh32, hashXxh32 } from '../../../src/virtnbd/xxh32.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('xxh32', () => {
  it('matches the reference values', () => {
    expect(hashXxh32(enc(''))).toBe(0x02cc5d05);
    expect(hashXxh32(enc('a'))).toBe(0x550d7456);
    expect(hashXxh32(enc('abc'))).toBe(0x32d153ff);
    expect(hashXxh32(enc('Nobody inspects the spammish repetition'))).toBe(0xe2293b2f);
  });

  it('gives the same digest however the input is split', () => {
    const data = new Uint8Array(1000).map((_, i) => (i * 31 + 7) & 0xff);
    const whole = hashXxh32(data);
    for (const step of [1, 3, 15, 16, 17, 999]) {
      const h = new Xxh32();
      for (let i = 0; i < data.length; i += step) h.update(data.subarray(i, i + step));
      expect(h.digest(), `step ${step}`).toBe(whole);
    }
  });
});

describe('lz4 block decoder', () => {
  it('decodes literals and an overlapping match (a run)', () => {
    // token 0x1F: 1 literal 'x', match length 15+extra; offset 1 => a run of 'x'.
    const block = Uint8Array.of(0x1f, 0x78, 0x01, 0x00, 0x0a, 0x50, 0x78, 0x78, 0x78, 0x78, 0x78);
    const out = new Uint8Array(64);
    const end = decodeLz4Block(block, out, 0, 64, 0);
    expect(end).toBe(1 + 15 + 4 + 10 + 5);
    expect(Array.from(out.subarray(0, end as number)).every((b) => b === 0x78)).toBe(true);
  });

  it('refuses matches before the window and output past the limit', () => {
    expect(decodeLz4Block(Uint8Array.of(0x10, 0x78, 0x05, 0x00), new Uint8Array(64), 0, 64, 0)).toMatch(/before the window/);
    expect(decodeLz4Block(Uint8Array.of(0xf0, 0xff, 0x00), new Uint8Array(16), 0, 16, 0)).toMatch(/literals run past|limit/);
  });
});

describe('real lz4 frames from virtnbdbackup', () => {
  /** The first lz4 frame of a compressed data file (right after its first data frame header). */
  async function firstFrame(path: string): Promise<ByteSource> {
    const bytes = await readFile(path);
    const metaEnd = 40 + Number.parseInt(bytes.subarray(22, 38).toString('latin1'), 16) + 2;
    return new ByteSource([bytes.subarray(metaEnd + 40)]);
  }

  it('walks and decodes a 64 KiB frame of random data (stored blocks)', async () => {
    const src = await firstFrame('fixtures/virtnbdbackup/chain-compressed/vda.inc.virtnbdbackup.2.data');
    const frame = await readLz4Frame(src, 'decompress');
    expect(frame.problems).toEqual([]);
    expect(frame).toMatchObject({ declaredContentSize: 65536, decodedSize: 65536, blocks: 1, storedSize: 65567, fatal: false });
  });

  it('structure mode walks the same frame without decoding', async () => {
    const src = await firstFrame('fixtures/virtnbdbackup/chain-compressed/vda.inc.virtnbdbackup.2.data');
    const frame = await readLz4Frame(src, 'structure');
    expect(frame).toMatchObject({ declaredContentSize: 65536, decodedSize: null, storedSize: 65567, problems: [] });
  });
});
