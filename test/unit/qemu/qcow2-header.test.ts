/**
 * The qcow2 header reader against qemu-img on the same real images (fixtures/qcow2-header/,
 * made by its capture.sh with qemu-img and qemu-storage-daemon): every image the reader reads,
 * it reads as qemu-img info did; every image it does not understand, it leaves to qemu-img.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { parseImageInfo } from '../../../src/qemu/parse-qemu-img.js';
import { readQcow2File, readQcow2Header, type ByteSource } from '../../../src/qemu/qcow2-header.js';
import { QemuImgClient } from '../../../src/qemu/qemu-img.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { fixture, fixturesRoot } from '../../helpers/fixtures.js';

const image = (c: string) => gunzipSync(readFileSync(join(fixturesRoot, `qcow2-header/${c}.qcow2.gz`)));
const info = (c: string) => fixture(`qcow2-header/${c}.info.json`);
const blocks = (c: string) => Number(fixture(`qcow2-header/${c}.blocks`).trim());

/** The image's bytes, counting what the reader asks for. */
function bytesOf(buffer: Uint8Array): ByteSource & { asked: number } {
  const source = {
    asked: 0,
    read(offset: number, length: number) {
      source.asked += length;
      return Promise.resolve(buffer.subarray(offset, Math.min(buffer.length, offset + length)));
    },
  };
  return source;
}

interface QemuImgBitmap {
  name: string;
  granularity: number;
  flags: string[];
}
const qemuImgBitmaps = (c: string): QemuImgBitmap[] =>
  (JSON.parse(info(c)) as { 'format-specific': { data: { bitmaps?: QemuImgBitmap[] } } })['format-specific'].data.bitmaps ?? [];

const understood = ['no-bitmaps', 'three-bitmaps', 'in-use', 'backing-file', 'cluster-2m'];

describe('qcow2 header reader: agrees with qemu-img info on every image it reads', () => {
  it.each(understood)('%s', async (c) => {
    const reading = await readQcow2Header(bytesOf(image(c)));
    if (!reading.ok) throw new Error(`the reader left ${c} to qemu-img: ${reading.reason}`);
    const { header } = reading;
    const expected = parseImageInfo(info(c));
    const raw = JSON.parse(info(c)) as { 'cluster-size': number };
    expect(header.virtualSize).toBe(expected.virtualSize);
    expect(header.clusterSize).toBe(raw['cluster-size']);
    expect(header.backingFilename).toBe(expected.backingFilename);
    // Name, order, granularity and both flags, as qemu-img lists them.
    expect(
      header.bitmaps.map((b) => ({ name: b.name, granularity: b.granularity, flags: [...(b.inUse ? ['in-use'] : []), ...(b.auto ? ['auto'] : [])] })),
    ).toEqual(qemuImgBitmaps(c));
    // qemu-img's actual-size of a qcow2 file is its st_blocks × 512, which the file reader reports.
    expect(expected.actualSize).toBe(blocks(c) * 512);
  });

  it('sees the fixtures it was meant to: three bitmaps, one disabled, one at 128 KiB; two left in use; a backing file', async () => {
    const read = async (c: string) => {
      const r = await readQcow2Header(bytesOf(image(c)));
      return r.ok ? r.header : undefined;
    };
    expect((await read('three-bitmaps'))?.bitmaps.map((b) => [b.name, b.auto, b.granularity])).toEqual([
      ['virtnbdbackup.0', true, 65536],
      ['vmkeep.7f3a c', false, 65536],
      ['sauvegarde-été', true, 131072],
    ]);
    expect((await read('in-use'))?.bitmaps.map((b) => b.inUse)).toEqual([true, true]);
    expect((await read('backing-file'))?.backingFilename).toBe('base.qcow2');
    expect((await read('no-bitmaps'))?.bitmaps).toEqual([]);
  });

  it('reads a few kilobytes of a 64 KiB-cluster image, not its clusters', async () => {
    const source = bytesOf(image('three-bitmaps'));
    await readQcow2Header(source);
    expect(source.asked).toBeLessThanOrEqual(4096 + 4096);
  });
});

describe('qcow2 header reader: leaves to qemu-img what it does not understand', () => {
  it.each([
    ['version-2', /version 2/],
    ['external-data-file', /incompatible features 0x4/],
    ['zstd', /incompatible features 0x8/],
    ['luks', /encrypted/],
    ['raw', /not a qcow2 image/],
    ['truncated', /ends inside its bitmap directory/],
  ])('%s', async (c, reason) => {
    const reading = await readQcow2Header(bytesOf(image(c)));
    expect(reading.ok).toBe(false);
    if (!reading.ok) expect(reading.reason).toMatch(reason);
  });

  it('an image cut short anywhere in its header or extensions is never read as a smaller one', async () => {
    const whole = image('three-bitmaps');
    for (const length of [0, 7, 8, 103, 104, 200, 4095]) {
      const reading = await readQcow2Header(bytesOf(whole.subarray(0, length)));
      expect(reading.ok).toBe(false);
    }
  });
});

describe('QemuImgClient.infoAtRest on image files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmkeep-qcow2-header-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (c: string) => {
    const path = join(dir, `${c}.img`);
    writeFileSync(path, image(c));
    return path;
  };

  it('answers from the header, without qemu-img, what qemu-img info answered', async () => {
    const path = file('three-bitmaps');
    const runner = new FakeRunner();
    const got = await new QemuImgClient(runner, { readHeaders: true }).infoAtRest(path);
    const expected = parseImageInfo(info('three-bitmaps'));
    expect(runner.calls).toEqual([]);
    const stat = await readQcow2File(path);
    expect(got).toEqual({ ...expected, filename: path, actualSize: stat.allocatedBytes });
  });

  it.each(['version-2', 'truncated', 'raw'])('asks qemu-img about %s, and its answer or error stands', async (c) => {
    const path = file(c);
    const exit = Number(fixture(`qcow2-header/${c}.info.exit`).trim());
    const runner = new FakeRunner().expect({
      tool: 'qemu-img',
      argv: ['info', '--output=json', '--force-share', path],
      result: exit === 0 ? { stdout: info(c) } : { exitCode: exit, stderr: fixture(`qcow2-header/${c}.info.stderr`) },
    });
    const client = new QemuImgClient(runner, { readHeaders: true });
    if (exit === 0) expect(await client.infoAtRest(path)).toEqual(parseImageInfo(info(c)));
    else await expect(client.infoAtRest(path)).rejects.toThrow(/doesn't satisfy the constraints/);
    expect(runner.unmet()).toEqual([]);
  });

  it('asks qemu-img about a path it cannot open, and about everything when header reading is off', async () => {
    // The path capture.sh asked about (no file there either).
    const missing = '/var/tmp/vmkeep-scratch-qcow2-header/missing.qcow2';
    const present = file('no-bitmaps');
    const runner = new FakeRunner()
      .expect({
        tool: 'qemu-img',
        argv: ['info', '--output=json', '--force-share', missing],
        result: { exitCode: 1, stderr: fixture('qcow2-header/missing.info.stderr') },
      })
      .expect({ tool: 'qemu-img', argv: ['info', '--output=json', '--force-share', present], result: { stdout: info('no-bitmaps') } });
    await expect(new QemuImgClient(runner, { readHeaders: true }).infoAtRest(missing)).rejects.toThrow(/Could not open/);
    await new QemuImgClient(runner).infoAtRest(present);
    expect(runner.unmet()).toEqual([]);
  });
});
