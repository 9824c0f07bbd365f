/**
 * The sparse-stream parser on real virtnbdbackup 1.9.15 data files
 * (fixtures/virtnbdbackup/README.md says how each was captured) and on damaged copies of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatFrameHeader,
  inspectDataFile,
  parseFrameHeader,
  parseSparseStream,
  readStreamMeta,
  type StreamExtentFrame,
} from '../../../src/virtnbd/stream-format.js';
import { readFileChunks } from '../../../src/virtnbd/read-stream-file.js';

const FIX = 'fixtures/virtnbdbackup';
const KiB = 1024;
const MiB = 1024 * KiB;
const DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/;

async function framesOf(path: string): Promise<StreamExtentFrame[]> {
  const frames: StreamExtentFrame[] = [];
  const report = await inspectDataFile(path, { onFrame: (f) => frames.push(f) });
  expect(report.problems).toEqual([]);
  return frames;
}

const extents = (frames: StreamExtentFrame[]) => frames.map((f) => [f.kind, f.start, f.length]);

describe('frame headers', () => {
  it('formats and parses the 40-byte header exactly as virtnbdbackup writes it', () => {
    const text = formatFrameHeader('data', 0x100000, 0x20000);
    expect(text).toBe('data 0000000000100000 0000000000020000\r\n');
    expect(parseFrameHeader(new TextEncoder().encode(text))).toEqual({ kind: 'data', start: 0x100000, length: 0x20000 });
  });

  it('rejects headers virtnbdbackup would not write', () => {
    const bad = (s: string) => parseFrameHeader(new TextEncoder().encode(s));
    expect(bad('data 0000000000100000 0000000000020000\n\n')).toMatch(/malformed/);
    expect(bad('DATA 0000000000100000 0000000000020000\r\n')).toMatch(/unknown frame kind/);
    expect(bad('data 00000000001000G0 0000000000020000\r\n')).toMatch(/malformed/);
    expect(bad('data 0000000000100000 0000000000020000')).toMatch(/not 40/);
  });
});

describe('chain-plain (uncompressed, two disks)', () => {
  it('vda.full.data: meta header, every extent of the disk, dataSize = data bytes', async () => {
    const path = `${FIX}/chain-plain/vda.full.data`;
    const report = await inspectDataFile(path);
    expect(report.problems).toEqual([]);
    expect(report.meta).toMatchObject({
      virtualSize: 64 * MiB,
      dataSize: 320 * KiB,
      diskName: 'vda',
      diskFormat: 'qcow2',
      checkpointName: 'virtnbdbackup.0',
      parentCheckpoint: '',
      incremental: false,
      compressed: false,
      compressionLevel: null,
      compressionMethod: 'lz4',
      streamVersion: 2,
    });
    expect(report.meta!.date).toMatch(DATE);
    expect(report.frames).toEqual({ meta: 1, data: 4, zero: 3, stop: 1, comp: 0 });
    expect(report.dataBytes).toBe(report.meta!.dataSize);
    expect(report.dataBytes + report.zeroBytes).toBe(64 * MiB);
    expect(report.stopFrameSeen).toBe(true);
    expect(report.complete).toBe(true);
    expect(report.trailer).toBeNull();
    // The writes the capture script made before the full (64 KiB aligned, so extents are exact).
    expect(extents(await framesOf(path))).toEqual([
      ['data', 0, 64 * KiB],
      ['zero', 64 * KiB, 1 * MiB - 64 * KiB],
      ['data', 1 * MiB, 128 * KiB],
      ['zero', 1 * MiB + 128 * KiB, 7 * MiB - 128 * KiB],
      ['data', 8 * MiB, 64 * KiB],
      ['zero', 8 * MiB + 64 * KiB, 56 * MiB - 128 * KiB],
      ['data', 64 * MiB - 64 * KiB, 64 * KiB],
    ]);
  });

  it('incs carry only dirty extents, no zero frames, and name their parent', async () => {
    const inc1 = await inspectDataFile(`${FIX}/chain-plain/vda.inc.virtnbdbackup.1.data`);
    expect(inc1.problems).toEqual([]);
    expect(inc1.meta).toMatchObject({ checkpointName: 'virtnbdbackup.1', parentCheckpoint: 'virtnbdbackup.0', incremental: true, dataSize: 128 * KiB });
    expect(inc1.dataBytes).toBe(inc1.meta!.dataSize);
    expect(inc1.frames).toEqual({ meta: 1, data: 2, zero: 0, stop: 1, comp: 0 });
    expect(extents(await framesOf(`${FIX}/chain-plain/vda.inc.virtnbdbackup.1.data`))).toEqual([
      ['data', 1 * MiB + 64 * KiB, 64 * KiB],
      ['data', 32 * MiB, 64 * KiB],
    ]);

    const inc3 = await inspectDataFile(`${FIX}/chain-plain/vda.inc.virtnbdbackup.3.data`);
    expect(inc3.problems).toEqual([]);
    expect(inc3.meta).toMatchObject({ checkpointName: 'virtnbdbackup.3', parentCheckpoint: 'virtnbdbackup.2', dataSize: 64 * KiB });
    expect(extents(await framesOf(`${FIX}/chain-plain/vda.inc.virtnbdbackup.3.data`))).toEqual([['data', 32 * MiB, 64 * KiB]]);
  });

  it('an empty inc is a meta header and a stop frame (dataSize 0)', async () => {
    for (const name of ['vda.inc.virtnbdbackup.2.data', 'vdb.inc.virtnbdbackup.1.data', 'vdb.inc.virtnbdbackup.2.data']) {
      const report = await inspectDataFile(`${FIX}/chain-plain/${name}`);
      expect(report.problems, name).toEqual([]);
      expect(report.meta!.dataSize).toBe(0);
      expect(report.frames).toEqual({ meta: 1, data: 0, zero: 0, stop: 1, comp: 0 });
      expect(report.stopFrameSeen).toBe(true);
    }
  });

  it('vdb (16 MiB) has its own chain with the same checkpoint names', async () => {
    const full = await inspectDataFile(`${FIX}/chain-plain/vdb.full.data`);
    expect(full.problems).toEqual([]);
    expect(full.meta).toMatchObject({ diskName: 'vdb', virtualSize: 16 * MiB, dataSize: 64 * KiB, checkpointName: 'virtnbdbackup.0' });
    const inc3 = await inspectDataFile(`${FIX}/chain-plain/vdb.inc.virtnbdbackup.3.data`);
    expect(inc3.meta).toMatchObject({ checkpointName: 'virtnbdbackup.3', parentCheckpoint: 'virtnbdbackup.2', dataSize: 64 * KiB });
  });

  it('gives the same answer whatever the chunking (7-byte chunks vs one buffer)', async () => {
    const path = `${FIX}/chain-plain/vda.full.data`;
    const small = await parseSparseStream(readFileChunks(path, { chunkSize: 7 }));
    const whole = await parseSparseStream([await readFile(path)]);
    expect(small).toEqual(whole);
    expect(small.problems).toEqual([]);
    expect(small.bytesRead).toBe((await readFile(path)).length);
  });

  it('readStreamMeta reads just the header', async () => {
    const { meta, problems } = await readStreamMeta(`${FIX}/chain-plain/vda.inc.virtnbdbackup.1.data`);
    expect(problems).toEqual([]);
    expect(meta).toMatchObject({ checkpointName: 'virtnbdbackup.1', dataSize: 128 * KiB });
  });
});

describe('chain-compressed (--compress, lz4)', () => {
  it('full: lz4 frames decode to exactly the frame lengths; the trailer matches them', async () => {
    const frames: StreamExtentFrame[] = [];
    const report = await inspectDataFile(`${FIX}/chain-compressed/vda.full.data`, { onFrame: (f) => frames.push(f) });
    expect(report.problems).toEqual([]);
    expect(report.meta).toMatchObject({
      checkpointName: 'virtnbdbackup.0',
      parentCheckpoint: '',
      incremental: false,
      compressed: true,
      compressionLevel: 2,
      compressionMethod: 'lz4',
      dataSize: 40 * MiB + 448 * KiB,
    });
    expect(report.dataBytes).toBe(report.meta!.dataSize);
    expect(report.lz4).toMatchObject({ level: 'decompress', decodedBytes: report.meta!.dataSize });
    expect(report.storedDataBytes).toBeLessThan(report.dataBytes / 100);
    expect(report.stopFrameSeen).toBe(true);
    expect(report.complete).toBe(true);
    // The 40 MiB extent was read in two NBD requests (32 MiB max): two lz4 frames, and a
    // {"total": [chunk, chunk]} trailer entry.
    const big = frames.find((f) => f.length === 40 * MiB)!;
    expect(big).toMatchObject({ kind: 'data', start: 16 * MiB });
    expect(big.lz4FrameSizes).toHaveLength(2);
    const index = frames.filter((f) => f.kind === 'data').indexOf(big);
    expect(report.trailer![index]).toEqual({ total: big.storedLength, chunks: big.lz4FrameSizes });
    // 128 KiB of random data does not compress: stored blocks, a little larger than the data.
    const random = frames.find((f) => f.start === 2 * MiB)!;
    expect(random.storedLength).toBeGreaterThan(128 * KiB);
  });

  it("'structure' checks the same frames without decoding", async () => {
    const report = await inspectDataFile(`${FIX}/chain-compressed/vda.full.data`, { lz4: 'structure' });
    expect(report.problems).toEqual([]);
    expect(report.lz4).toMatchObject({ level: 'structure', decodedBytes: 0 });
    expect(report.lz4!.blocks).toBeGreaterThan(600); // 64 KiB blocks
  });

  it('an empty compressed inc still ends with an (empty) trailer', async () => {
    const report = await inspectDataFile(`${FIX}/chain-compressed/vda.inc.virtnbdbackup.1.data`);
    expect(report.problems).toEqual([]);
    expect(report.meta).toMatchObject({ dataSize: 0, compressed: true, parentCheckpoint: 'virtnbdbackup.0' });
    expect(report.trailer).toEqual([]);
  });

  it('inc: two data frames, two trailer entries', async () => {
    const report = await inspectDataFile(`${FIX}/chain-compressed/vda.inc.virtnbdbackup.2.data`);
    expect(report.problems).toEqual([]);
    expect(report.meta).toMatchObject({ checkpointName: 'virtnbdbackup.2', parentCheckpoint: 'virtnbdbackup.1', dataSize: 128 * KiB });
    expect(report.trailer).toHaveLength(2);
    expect(report.lz4!.decodedBytes).toBe(128 * KiB);
  });
});

describe('interrupted runs', () => {
  it('SIGINT: the .partial has the meta header and the first data frame header only', async () => {
    const report = await inspectDataFile(`${FIX}/interrupted-inc/vda.inc.virtnbdbackup.4.data.partial`);
    expect(report.meta).toMatchObject({ checkpointName: 'virtnbdbackup.4', parentCheckpoint: 'virtnbdbackup.3', dataSize: 40 * MiB });
    expect(report.stopFrameSeen).toBe(false);
    expect(report.complete).toBe(false);
    expect(report.problems).toEqual([expect.stringMatching(/^truncated data frame at offset \d+: payload has 0 of 41943040 bytes$/)]);
  });

  it('SIGKILL: the .partial is empty (Python never flushed its buffer)', async () => {
    const report = await inspectDataFile(`${FIX}/killed-inc-compressed/vda.inc.virtnbdbackup.3.data.partial`);
    expect(report.meta).toBeNull();
    expect(report.problems).toEqual(['empty file: no meta header']);
  });
});

describe('damaged copies', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vmkeep-virtnbd-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Copy a fixture into the temp dir, let `damage` change the copy, return the copy's path. */
  async function damaged(fixture: string, name: string, damage: (path: string, bytes: Buffer) => Promise<void>): Promise<string> {
    const path = join(dir, name);
    await copyFile(`${FIX}/${fixture}`, path);
    await damage(path, await readFile(path));
    return path;
  }
  async function flip(path: string, offset: number, value: number): Promise<void> {
    const bytes = await readFile(path);
    bytes[offset] = value;
    await writeFile(path, bytes);
  }
  /** Offset of the first frame header after the meta frame. */
  function firstFrameOffset(bytes: Buffer): number {
    return 40 + Number.parseInt(bytes.subarray(22, 38).toString('latin1'), 16) + 2;
  }

  it('(a) a flipped byte in a frame header: kind, length or start', async () => {
    const kind = await damaged('chain-plain/vda.inc.virtnbdbackup.1.data', 'a1.data', async (p, b) => flip(p, firstFrameOffset(b), 0x44 /* 'D' */));
    expect((await inspectDataFile(kind)).problems).toEqual([expect.stringMatching(/^bad frame header at offset \d+: unknown frame kind "Data"$/)]);

    // Length 0x10000 -> 0x11000: the payload boundary moves, so no \r\n where one must be.
    const length = await damaged('chain-plain/vda.inc.virtnbdbackup.1.data', 'a2.data', async (p, b) => flip(p, firstFrameOffset(b) + 22 + 12, 0x31));
    expect((await inspectDataFile(length)).problems).toEqual([expect.stringMatching(/payload not followed by \\r\\n/)]);

    // Start of the second data frame of the full (1 MiB) -> 0x1100000 (17 MiB): a gap before it
    // and an overlap after it, since full streams describe every extent in order.
    const start = await damaged('chain-plain/vda.full.data', 'a3.data', async (p, b) => {
      const second = b.indexOf('data 0000000000100000', 0, 'latin1');
      await flip(p, second + 5 + 9, 0x31);
    });
    const problems = (await inspectDataFile(start)).problems;
    expect(problems).toContainEqual(expect.stringMatching(/the disk range 1048576\.\.17825792 is in no frame/));
    expect(problems).toContainEqual(expect.stringMatching(/before the previous frame's end .* \(overlapping or out of order\)/));

    // A flipped digit in the meta JSON's dataSize: the JSON still parses, the sums disagree.
    const meta = await damaged('chain-plain/vda.inc.virtnbdbackup.3.data', 'a4.data', async (p, b) => {
      const at = b.indexOf('"dataSize": 65536', 0, 'latin1') + '"dataSize": '.length;
      await flip(p, at, 0x37); // 65536 -> 75536
    });
    expect((await inspectDataFile(meta)).problems).toEqual(['data frames hold 65536 bytes but the meta header says dataSize 75536']);
  });

  it('(b) truncated: mid-payload, and exactly at the stop frame', async () => {
    const mid = await damaged('chain-plain/vda.full.data', 'b1.data', async (p, b) => truncate(p, b.length - 100_000));
    const midReport = await inspectDataFile(mid);
    expect(midReport.problems).toEqual([expect.stringMatching(/^truncated data frame at offset \d+: payload has \d+ of 65536 bytes$/)]);
    expect(midReport.stopFrameSeen).toBe(false);

    const atStop = await damaged('chain-plain/vda.full.data', 'b2.data', async (p, b) => truncate(p, b.length - 40));
    expect((await inspectDataFile(atStop)).problems).toEqual([expect.stringMatching(/^missing stop frame: the stream ends at offset \d+$/)]);

    const compressed = await damaged('chain-compressed/vda.inc.virtnbdbackup.2.data', 'b3.data', async (p, b) => truncate(p, b.length - 10));
    expect((await inspectDataFile(compressed)).problems).toEqual([expect.stringMatching(/^compressed stream does not end with a comp frame/)]);
  });

  it('(c) garbage appended after the stream', async () => {
    const plain = await damaged('chain-plain/vda.inc.virtnbdbackup.3.data', 'c1.data', async (p) => appendFile(p, 'garbage\n'));
    expect((await inspectDataFile(plain)).problems).toEqual([expect.stringMatching(/^8 bytes of trailing garbage after the stop frame \(offset \d+\)$/)]);

    const compressed = await damaged('chain-compressed/vda.inc.virtnbdbackup.2.data', 'c2.data', async (p) => appendFile(p, 'garbage\n'));
    expect((await inspectDataFile(compressed)).problems).toEqual([expect.stringMatching(/does not end with a comp frame/)]);
  });

  it('(d) a flipped payload byte passes the structural check of an uncompressed file: only a stored sha256 catches it', async () => {
    const original = `${FIX}/chain-plain/vda.inc.virtnbdbackup.1.data`;
    const copy = await damaged('chain-plain/vda.inc.virtnbdbackup.1.data', 'd1.data', async (p, b) => flip(p, firstFrameOffset(b) + 40, 0xbb));
    const before = await inspectDataFile(original, { sha256: true });
    const after = await inspectDataFile(copy, { sha256: true });
    // Structurally identical: same frames, same sizes, no problem reported.
    expect(after.problems).toEqual([]);
    expect({ ...after, sha256: undefined }).toEqual({ ...before, sha256: undefined });
    // virtnbdrestore 1.9.15 restores it silently (runs/18-restore-flipped: exit 0, image differs).
    expect(after.sha256).not.toBe(before.sha256);
  });

  it('(d) ...but in a compressed file the lz4 block checksum catches it, even without decoding', async () => {
    const copy = await damaged('chain-compressed/vda.inc.virtnbdbackup.2.data', 'd2.data', async (p, b) => {
      // Inside the first lz4 frame's first block: header is 40 + 7 + 8 (content size) + 4 (block size).
      await flip(p, firstFrameOffset(b) + 40 + 7 + 8 + 4 + 100, b[firstFrameOffset(b) + 40 + 7 + 8 + 4 + 100]! ^ 0xff);
    });
    for (const lz4 of ['structure', 'decompress'] as const) {
      expect((await inspectDataFile(copy, { lz4 })).problems).toEqual([
        expect.stringMatching(/^lz4 frame at offset \d+: block at offset \d+ checksum mismatch$/),
      ]);
    }
  });

  it('a trailer that disagrees with the payloads', async () => {
    const copy = await damaged('chain-compressed/vda.inc.virtnbdbackup.2.data', 'e1.data', async (p, b) => {
      const at = b.lastIndexOf('[65567, 298]', undefined, 'latin1');
      await flip(p, at + 1, 0x37); // 65567 -> 75567, same JSON length
    });
    expect((await inspectDataFile(copy)).problems).toEqual(['compression trailer entry 0 says 75567 bytes, data frame 0 holds lz4 frames of 65567 bytes']);
  });

  it('a file that is not a stream at all', async () => {
    const path = join(dir, 'not-a-stream.data');
    await writeFile(path, Buffer.alloc(4096, 0));
    const report = await inspectDataFile(path);
    expect(report.meta).toBeNull();
    expect(report.problems).toEqual([expect.stringMatching(/^bad meta header at offset 0: unknown frame kind/)]);
  });
});
