/**
 * Merging incremental data files, on virtnbdbackup 1.9.15's own files (fixtures/virtnbdbackup):
 * replaying the full and the merged file gives the same disk as replaying the full and every
 * incremental, for plain and lz4-compressed chains; the merged file is a sound stream with the
 * last file's checkpoint and the first file's parent. The replay here is a small reader of its
 * own (frames written at their offsets, lz4 payloads decoded), virtnbdrestore's rule.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ByteSource } from '../../../src/virtnbd/byte-source.js';
import { Lz4Decoder, encodeStoredLz4Frame, readLz4Frame } from '../../../src/virtnbd/lz4-frame.js';
import { checkMergedStream, mergeIncrementalStreams, overlayExtents } from '../../../src/virtnbd/merge-streams.js';
import { inspectDataFile } from '../../../src/virtnbd/stream-format.js';

const FIXTURES = new URL('../../../fixtures/virtnbdbackup/', import.meta.url).pathname;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmkeep-merge-streams-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Replay data files onto a zeroed disk, each frame at its offset, later files over earlier ones. */
async function replay(files: readonly string[]): Promise<Buffer> {
  let disk: Buffer | undefined;
  for (const file of files) {
    const bytes = readFileSync(file);
    const frames: Array<{ start: number; length: number; fileOffset: number; storedLength: number }> = [];
    const report = await inspectDataFile(file, { onFrame: (f) => f.kind === 'data' && frames.push(f) });
    expect(report.problems, file).toEqual([]);
    disk ??= Buffer.alloc(report.meta!.virtualSize);
    for (const f of frames) {
      const payload = bytes.subarray(f.fileOffset + 40, f.fileOffset + 40 + f.storedLength);
      if (!report.meta!.compressed) {
        payload.copy(disk, f.start);
        continue;
      }
      const src = new ByteSource([payload]);
      let at = f.start;
      while (!(await src.atEnd())) {
        await readLz4Frame(src, 'decompress', new Lz4Decoder(), (b) => {
          disk!.set(b, at);
          at += b.length;
        });
      }
      expect(at - f.start, `${file} frame at ${f.start}`).toBe(f.length);
    }
  }
  return disk!;
}

describe('overlayExtents', () => {
  it('takes each range from the latest layer covering it and joins what one extent gives', () => {
    const a = { start: 0, length: 100 };
    const b = { start: 40, length: 20 };
    const c = { start: 90, length: 30 };
    const d = { start: 200, length: 10 };
    const pieces = overlayExtents([[a, d], [b], [c]]);
    expect(pieces.map((p) => [p.source, p.start, p.end])).toEqual([
      [a, 0, 40],
      [b, 40, 60],
      [a, 60, 90],
      [c, 90, 120],
      [d, 200, 210],
    ]);
  });
});

describe('encodeStoredLz4Frame', () => {
  it('writes a frame the lz4 reader checks and decodes to the same bytes', async () => {
    const data = Buffer.alloc((4 << 20) + 1000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const out: Buffer[] = [];
    const report = await readLz4Frame(new ByteSource([encodeStoredLz4Frame(data)]), 'decompress', new Lz4Decoder(), (b) => out.push(Buffer.from(b)));
    expect(report.problems).toEqual([]);
    expect(report.blocks).toBe(2);
    expect(Buffer.concat(out).equals(data)).toBe(true);
  });
});

describe('mergeIncrementalStreams on virtnbdbackup 1.9.15 chains', () => {
  for (const [chain, incs] of [
    ['chain-plain', [1, 2, 3]],
    ['chain-compressed', [1, 2]],
  ] as const) {
    for (const disk of ['vda', 'vdb']) {
      it(`${chain} ${disk}: full + merged incrementals replay to the same disk as the whole chain`, async () => {
        const base = join(FIXTURES, chain);
        const inputs = incs.map((n) => join(base, `${disk}.inc.virtnbdbackup.${n}.data`));
        const merged = join(dir, 'merged.data');
        const result = await mergeIncrementalStreams(inputs, merged);
        expect(await checkMergedStream(inputs, merged)).toEqual([]);
        const report = await inspectDataFile(merged);
        expect(report.problems).toEqual([]);
        expect(report.meta).toMatchObject({
          checkpointName: `virtnbdbackup.${incs.at(-1)}`,
          parentCheckpoint: 'virtnbdbackup.0',
          incremental: true,
          compressed: chain === 'chain-compressed',
          dataSize: result.dataSize,
        });
        const full = join(base, `${disk}.full.data`);
        const whole = await replay([full, ...inputs]);
        expect((await replay([full, merged])).equals(whole)).toBe(true);
      });
    }
  }

  it('the overwritten range of chain-plain vda (32M written in inc 1, again in inc 3) comes from the later file', async () => {
    const base = join(FIXTURES, 'chain-plain');
    const inputs = [1, 3].map((n) => join(base, `vda.inc.virtnbdbackup.${n}.data`));
    await expect(mergeIncrementalStreams(inputs, join(dir, 'm.data'))).rejects.toThrow(/rests on virtnbdbackup.2, not on virtnbdbackup.1/);
    const all = [1, 2, 3].map((n) => join(base, `vda.inc.virtnbdbackup.${n}.data`));
    await mergeIncrementalStreams(all, join(dir, 'm.data'));
    const disk = await replay([join(base, 'vda.full.data'), join(dir, 'm.data')]);
    expect(disk[32 << 20]).toBe(0x66);
    expect(disk[(1 << 20) + (64 << 10)]).toBe(0x44);
  });

  it('refuses a full, naming it', async () => {
    const base = join(FIXTURES, 'chain-plain');
    await expect(mergeIncrementalStreams([join(base, 'vda.full.data'), join(base, 'vda.inc.virtnbdbackup.1.data')], join(dir, 'm.data'))).rejects.toThrow(
      /vda\.full\.data is not an incremental data file/,
    );
  });
});
