import { describe, expect, it } from 'vitest';
import { missingDataBytes, parseImageCheck, parseImageInfo, parseMapExtents } from '../../../src/qemu/parse-qemu-img.js';
import { bitmapsForImage, parseNamedBlockNodes, parseQueryBlock, qmpReturn } from '../../../src/qemu/parse-qmp.js';
import { fixture } from '../../helpers/fixtures.js';

describe('QMP query-named-block-nodes (captured on a running domain with two checkpoints)', () => {
  const nodes = parseNamedBlockNodes(fixture('qmp/query-named-block-nodes-2-checkpoints.json'));

  it('finds both bitmaps on the qcow2 format node of each disk, not on the file node', () => {
    const vda = bitmapsForImage(nodes, '/var/tmp/vmkeep-scratch-fixtures/run-vda.qcow2');
    const vdb = bitmapsForImage(nodes, '/var/tmp/vmkeep-scratch-fixtures/run data disk.qcow2');
    expect(vda?.map((b) => b.name).sort()).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
    expect(vdb?.map((b) => b.name).sort()).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
    expect(vdb?.find((b) => b.name === 'virtnbdbackup.0')).toMatchObject({ count: 1048576, recording: true, persistent: true });
    expect(nodes.filter((n) => n.driver === 'file').every((n) => n.bitmaps.length === 0)).toBe(true);
  });

  it('answers undefined for an image QEMU does not have open', () => {
    expect(bitmapsForImage(nodes, '/nonexistent.qcow2')).toBeUndefined();
  });

  it('turns a QMP error reply (virsh exits 0) into an error', () => {
    expect(() => qmpReturn(fixture('qmp/error-unknown-command.json'))).toThrow(/QEMU monitor error CommandNotFound/);
  });
});

describe('qemu-img info/check (captured)', () => {
  it('reads two persistent bitmaps and sizes of a shut-off disk', () => {
    const info = parseImageInfo(fixture('qemu-img/info-2-bitmaps.json'));
    expect(info.format).toBe('qcow2');
    expect(info.virtualSize).toBe(67108864);
    expect(info.actualSize).toBeGreaterThan(0);
    expect(info.bitmaps.map((b) => b.name).sort()).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
    expect(info.bitmaps.every((b) => !b.inconsistent)).toBe(true);
  });

  it('reads a path with a space', () => {
    expect(parseImageInfo(fixture('qemu-img/info-2-bitmaps-path-with-space.json')).filename).toBe('/var/tmp/vmkeep-scratch-fixtures/run data disk.qcow2');
  });

  it('sees one bitmap after qemu-img bitmap --remove, none on a fresh image, none on raw', () => {
    expect(parseImageInfo(fixture('qemu-img/info-1-bitmap-after-remove.json')).bitmaps.map((b) => b.name)).toEqual(['virtnbdbackup.0']);
    expect(parseImageInfo(fixture('qemu-img/info-no-bitmaps.json')).bitmaps).toEqual([]);
    const raw = parseImageInfo(fixture('qemu-img/info-raw.json'));
    expect(raw.format).toBe('raw');
    expect(raw.bitmaps).toEqual([]);
  });

  it('shows no bitmaps in the file of a running domain that has two checkpoints: they live in QEMU', () => {
    // This is why status asks QEMU (query-named-block-nodes) for a running domain.
    const info = parseImageInfo(fixture('qemu-img/info-running-domain-disk.json'));
    expect(info.format).toBe('qcow2');
    expect(info.bitmaps).toEqual([]);
  });

  it('reads a clean check', () => {
    expect(parseImageCheck(fixture('qemu-img/check-good.json'))).toMatchObject({ ok: true, corruptions: 0 });
  });

  it('rejects non-JSON', () => {
    expect(() => parseImageInfo(fixture('qemu-img/info-running-domain-disk-without-force-share.stderr'))).toThrow(/not JSON/);
  });
});

describe('a finished boot image read from disk (captured: blockpull of an overlay, before and after QEMU flushed it)', () => {
  const point = parseMapExtents(fixture('qemu-img/map-point.json'));

  it('reads the point: 2 MiB of data at 1 MiB', () => {
    expect(point.filter((e) => e.data)).toEqual([{ start: 1048576, length: 2097152, present: true, data: true }]);
  });

  it('counts every byte of the point missing from the image QEMU has not flushed yet', () => {
    expect(missingDataBytes(point, parseMapExtents(fixture('qemu-img/map-after-blockpull-no-flush.json')))).toBe(2097152);
  });

  it('counts nothing missing once QEMU flushed it', () => {
    expect(missingDataBytes(point, parseMapExtents(fixture('qemu-img/map-after-blockpull-flush.json')))).toBe(0);
  });

  it('counts zero clusters as held and a partly allocated range by its missing part', () => {
    const source = [{ start: 0, length: 100, present: true, data: true }];
    expect(missingDataBytes(source, [{ start: 0, length: 100, present: true, data: false }])).toBe(0);
    expect(
      missingDataBytes(source, [
        { start: 0, length: 40, present: true, data: true },
        { start: 40, length: 60, present: false, data: false },
      ]),
    ).toBe(60);
  });
});

describe('QMP query-block (captured on a running domain whose vda is an overlay)', () => {
  it('gives the qdev path of the device and its top image', () => {
    expect(parseQueryBlock(fixture('qmp/query-block-overlay.json'))).toEqual([
      { qdev: '/machine/peripheral/virtio-disk0/virtio-backend', file: '/SCRATCH/top.qcow2' },
    ]);
  });

  it("HMP's qemu-io answers an unknown device with text, not a QMP error", () => {
    expect(qmpReturn(fixture('qmp/hmp-qemu-io-unknown-device.json'))).toMatch(/Device 'nosuch' not found/);
  });
});
