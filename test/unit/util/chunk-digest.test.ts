import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chunkCount, describeRange, differingRanges, digestChunks, prestartDigestThreads, waitingDigestThreads } from '../../../src/util/chunk-digest.js';
import { checkFileDigest, checkFileDigests, computeFileDigests, sameDigest } from '../../../src/repository/file-digest.js';

const dir = mkdtempSync(join(tmpdir(), 'vmkeep-chunk-digest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('digestChunks', () => {
  it('hashes each fixed-size chunk of several files on worker threads, in order', async () => {
    const chunk = 64 * 1024;
    const a = randomBytes(5 * chunk + 123);
    const b = randomBytes(chunk);
    const c = Buffer.alloc(0);
    writeFileSync(join(dir, 'a'), a);
    writeFileSync(join(dir, 'b'), b);
    writeFileSync(join(dir, 'c'), c);
    for (const workers of [1, 2, 3]) {
      const [da, db, dc] = await digestChunks([join(dir, 'a'), join(dir, 'b'), join(dir, 'c')], { chunkSize: chunk, workers });
      expect(da!.chunks).toEqual([0, 1, 2, 3, 4, 5].map((i) => sha(a.subarray(i * chunk, (i + 1) * chunk))));
      expect(db!.chunks).toEqual([sha(b)]);
      expect(dc!.chunks).toEqual([sha(c)]);
    }
  });

  it('takes threads started ahead (a push full starts them while QEMU copies) before it starts new ones', async () => {
    const chunk = 64 * 1024;
    const a = randomBytes(4 * chunk);
    writeFileSync(join(dir, 'warm'), a);
    const want = [0, 1, 2, 3].map((i) => sha(a.subarray(i * chunk, (i + 1) * chunk)));
    prestartDigestThreads(2);
    prestartDigestThreads(2); // threads already waiting count: still two
    expect(waitingDigestThreads()).toBe(2);
    // Three threads: the two waiting ones and a new one; all four chunks right, in order.
    expect((await digestChunks([join(dir, 'warm')], { chunkSize: chunk, workers: 3 }))[0]!.chunks).toEqual(want);
    expect(waitingDigestThreads()).toBe(0);
    // A pool of one leaves the second waiting thread for the next run.
    prestartDigestThreads(2);
    expect((await digestChunks([join(dir, 'warm')], { chunkSize: chunk, workers: 1 }))[0]!.chunks).toEqual(want);
    expect(waitingDigestThreads()).toBe(1);
  });

  it('hashes small files that together fit in one chunk where it runs, each with its plain sha256', async () => {
    const chunk = 64 * 1024;
    const files = [randomBytes(chunk - 1000), randomBytes(700), Buffer.alloc(0)];
    files.forEach((f, i) => writeFileSync(join(dir, `small-${i}`), f));
    const digests = await digestChunks(
      files.map((_, i) => join(dir, `small-${i}`)),
      { chunkSize: chunk, workers: 2 },
    );
    expect(digests.map((d) => d.chunks)).toEqual(files.map((f) => [sha(f)]));
    expect(digests.map((d) => d.size)).toEqual(files.map((f) => f.length));
  });

  it('a file of one chunk keeps one plain sha256 in the manifest form; a larger one a chunk list', async () => {
    writeFileSync(join(dir, 'small'), 'hello');
    const [small] = await computeFileDigests([join(dir, 'small')]);
    expect(small).toEqual({ sha256: sha(Buffer.from('hello')) });
    const big = randomBytes(3 * 1000 + 1);
    writeFileSync(join(dir, 'big'), big);
    const [d] = await computeFileDigests([join(dir, 'big')], { chunkSize: 1000 });
    expect(d!.chunks!.size).toBe(1000);
    expect(d!.chunks!.sha256).toHaveLength(chunkCount(big.length, 1000));
    expect(sameDigest(d!, d!)).toBe(true);
    expect(sameDigest(d!, small!)).toBe(false);
  });
});

describe('checkFileDigest', () => {
  it('names the byte range of a changed chunk, and neighbouring chunks as one range', async () => {
    const chunk = 4096;
    const data = randomBytes(10 * chunk + 10);
    const path = join(dir, 'image');
    writeFileSync(path, data);
    const [recorded] = await computeFileDigests([path], { chunkSize: chunk });
    expect(await checkFileDigest(path, recorded!)).toBeUndefined();
    const damaged = Buffer.from(data);
    for (const at of [2 * chunk + 5, 3 * chunk, 10 * chunk + 1]) damaged.writeUInt8(damaged.readUInt8(at) ^ 0xff, at);
    writeFileSync(path, damaged);
    const message = await checkFileDigest(path, recorded!);
    expect(message).toContain(`bytes ${2 * chunk}–${4 * chunk - 1}`);
    expect(message).toContain(`bytes ${10 * chunk}–${10 * chunk + 9}`);
    expect(message).not.toContain(`bytes 0–`);
  });

  it('still checks a whole-file sha256 from an older manifest', async () => {
    const path = join(dir, 'old');
    const data = randomBytes(5000);
    writeFileSync(path, data);
    expect(await checkFileDigest(path, { sha256: sha(data) })).toBeUndefined();
    data.writeUInt8(data.readUInt8(10) ^ 1, 10);
    writeFileSync(path, data);
    expect(await checkFileDigest(path, { sha256: sha(Buffer.from('x')) })).toMatch(/^has sha256 [0-9a-f]{12}…, the manifest recorded/);
  });
});

describe('checkFileDigests', () => {
  it('checks many files in one pool, each against what its entry recorded, and answers in their order', async () => {
    const chunk = 4096;
    const names = ['plain-ok', 'plain-bad', 'chunks-ok', 'chunks-bad', 'empty'];
    const data = [randomBytes(3000), randomBytes(5000), randomBytes(3 * chunk + 7), randomBytes(4 * chunk), Buffer.alloc(0)];
    const paths = names.map((n) => join(dir, `many-${n}`));
    data.forEach((d, i) => writeFileSync(paths[i]!, d));
    const recorded = [
      { sha256: sha(data[0]!) },
      { sha256: sha(data[1]!) },
      ...(await computeFileDigests([paths[2]!, paths[3]!], { chunkSize: chunk })),
      { sha256: sha(data[4]!) },
    ];
    // The damage: one byte of the second plain file, one byte in the third chunk of the chunked one.
    data[1]!.writeUInt8(data[1]!.readUInt8(100) ^ 1, 100);
    data[3]!.writeUInt8(data[3]!.readUInt8(2 * chunk + 1) ^ 1, 2 * chunk + 1);
    writeFileSync(paths[1]!, data[1]!);
    writeFileSync(paths[3]!, data[3]!);
    const files = paths.map((path, i) => ({ path, recorded: recorded[i]!, size: data[i]!.length }));
    // Where the call runs, and on two threads: the same answers.
    for (const options of [{}, { workers: 2, inPlaceUpToBytes: 0 }]) {
      const answers = await checkFileDigests(files, options);
      expect(answers.map((a) => a !== undefined)).toEqual([false, true, false, true, false]);
      expect(answers[1]).toMatch(/^has sha256 [0-9a-f]{12}…, the manifest recorded /);
      expect(answers[3]).toContain(`bytes ${2 * chunk}–${3 * chunk - 1}`);
      // Each answer is the one checkFileDigest gives for that file alone.
      expect(answers).toEqual(await Promise.all(files.map((f) => checkFileDigest(f.path, f.recorded))));
    }
  });

  it('fails as a whole when a file cannot be read (the caller then checks the files one by one)', async () => {
    const path = join(dir, 'many-present');
    writeFileSync(path, 'x');
    await expect(
      checkFileDigests([
        { path, recorded: { sha256: sha(Buffer.from('x')) }, size: 1 },
        { path: join(dir, 'many-gone'), recorded: { sha256: sha(Buffer.from('y')) }, size: 1 },
      ]),
    ).rejects.toThrow(/ENOENT/);
  });
});

describe('differingRanges', () => {
  it('joins neighbours and ends the last range at the file size', () => {
    expect(differingRanges(['a', 'b', 'c', 'd'], ['a', 'x', 'y', 'd'], 35, 10)).toEqual([{ start: 10, end: 30 }]);
    expect(differingRanges(['a', 'b', 'c', 'd'], ['x', 'b', 'c', 'y'], 35, 10)).toEqual([
      { start: 0, end: 10 },
      { start: 30, end: 35 },
    ]);
    expect(describeRange({ start: 0, end: 1024 * 1024 })).toBe('bytes 0–1048575 (0 MiB–1 MiB)');
  });
});
