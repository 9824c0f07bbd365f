import { describe, expect, it } from 'vitest';
import { parseImageCheck, parseImageInfo } from '../../../src/qemu/parse-qemu-img.js';
import { bitmapsForImage, parseNamedBlockNodes, qmpReturn } from '../../../src/qemu/parse-qmp.js';
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
    expect(parseImageInfo(fixture('qemu-img/info-2-bitmaps-path-with-space.json')).filename).toBe(
      '/var/tmp/vmkeep-scratch-fixtures/run data disk.qcow2',
    );
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
