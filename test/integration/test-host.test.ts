/**
 * Proves the integration-test helpers against the real libvirtd: domains come up with the
 * disks asked for, guest writes land where they should, reference copies compare as they
 * should, odd names survive the round trip, and cleanup leaves nothing behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createExecaRunner } from '../../src/runner/runner.js';
import {
  TEST_ROOT,
  cleanupAll,
  createTestDomain,
  destroyDomain,
  domainState,
  hostDomainType,
  imagesIdentical,
  liveBitmaps,
  qmp,
  referenceCopy,
  removeLeftoverTestDomains,
  removeTestDomain,
  shutoffBitmaps,
  virsh,
  writeGuestData,
} from '../helpers/libvirt.js';

const MiB = 1024 * 1024;
const runner = createExecaRunner();

afterEach(cleanupAll);
afterAll(cleanupAll);

async function domainNames(): Promise<string[]> {
  return (await virsh(['list', '--all', '--name'])).split('\n').filter((l) => l.length > 0);
}

async function emptyImage(file: string, sizeMiB: number): Promise<void> {
  await runner.run('qemu-img', ['create', '-q', '-f', 'qcow2', file, `${sizeMiB}M`]);
}

describe('test host helpers', () => {
  it('picks the domain type from /dev/kvm and uses it', async () => {
    const type = hostDomainType();
    expect(fs.existsSync('/dev/kvm') ? ['kvm', 'qemu'] : ['qemu']).toContain(type);
    const dom = await createTestDomain();
    expect(await virsh(['dumpxml', dom.uuid, '--inactive'])).toMatch(new RegExp(`<domain type='${type}'`));
    expect(await domainState(dom)).toBe('shut off');
  });

  it('creates a running two-disk domain, writes guest data and compares reference copies', async () => {
    const dom = await createTestDomain({
      disks: [
        { target: 'vda', sizeMiB: 160 },
        { target: 'vdb', sizeMiB: 32, fileName: 'data disk.qcow2' },
      ],
      start: true,
    });
    expect(dom.name).toMatch(/^vmkeep-test-[0-9a-f]+$/);
    expect(await domainState(dom)).toBe('running');
    expect(dom.disks.map((d) => [d.target, d.alias])).toEqual([
      ['vda', 'virtio-disk0'],
      ['vdb', 'virtio-disk1'],
    ]);
    expect(dom.disks[1]!.path).toBe(path.join(dom.dir, 'data disk.qcow2'));
    expect(dom.dir.startsWith(`${TEST_ROOT}/`)).toBe(true);
    for (let d = dom.dir; d !== '/var/tmp'; d = path.dirname(d)) {
      expect((fs.statSync(d).mode & 0o777).toString(8), d).toBe('711');
    }

    // 100 MiB crosses the 64 MiB chunk size; the read-back inside proves every chunk landed.
    await writeGuestData(dom, 'vda', { pattern: 0x5a, offset: 1 * MiB, length: 100 * MiB });
    await writeGuestData(dom, 'vdb', { pattern: 0xa5, offset: 3 * MiB + 512, length: 2 * MiB });

    const refA = path.join(dom.dir, 'ref vda.qcow2');
    const refB = path.join(dom.dir, 'ref-vdb.raw');
    await referenceCopy(dom, 'vda', refA);
    await referenceCopy(dom, 'vdb', refB, 'raw');
    const emptyA = path.join(dom.dir, 'empty-a.qcow2');
    const emptyB = path.join(dom.dir, 'empty-b.qcow2');
    await emptyImage(emptyA, 160);
    await emptyImage(emptyB, 32);

    expect(await imagesIdentical(refA, emptyA)).toBe(false);
    expect(await imagesIdentical(refB, emptyB)).toBe(false);
    expect(await imagesIdentical(refA, refA)).toBe(true);
    expect(await imagesIdentical(refA, dom.disks[0]!.path)).toBe(true);
    expect(await imagesIdentical(refB, dom.disks[1]!.path)).toBe(true);
    // The disks were not mixed up: each reference differs from the other disk.
    expect(await imagesIdentical(refA, dom.disks[1]!.path)).toBe(false);

    // A later write shows up as a difference against the earlier reference.
    await writeGuestData(dom, 'vdb', { pattern: 0x01, offset: 0, length: 4096 });
    await referenceCopy(dom, 'vdb', path.join(dom.dir, 'ref2.qcow2'));
    expect(await imagesIdentical(refB, path.join(dom.dir, 'ref2.qcow2'))).toBe(false);
  });

  it('refuses writes that cannot land', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 8 }] });
    await expect(writeGuestData(dom, 'vda', { pattern: 1, offset: 0, length: 4096 })).rejects.toThrow(/not running/);
    await virsh(['start', dom.uuid]);
    await expect(writeGuestData(dom, 'vda', { pattern: 1, offset: 7 * MiB, length: 2 * MiB })).rejects.toThrow(/past the end/);
    await expect(writeGuestData(dom, 'vdz', { pattern: 1, offset: 0, length: 4096 })).rejects.toThrow(/no disk vdz/);
    await expect(writeGuestData(dom, 'vda', { pattern: 256, offset: 0, length: 4096 })).rejects.toThrow(/byte/);
  });

  it('shows checkpoint bitmaps live through QMP and in the image once shut off', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 32 }], start: true });
    await virsh(['checkpoint-create-as', dom.uuid, '--name', 'cp-one']);
    await writeGuestData(dom, 'vda', { pattern: 0x11, offset: 0, length: 3 * MiB });

    const nodes = await liveBitmaps(dom);
    // Only the qcow2 format node carries bitmaps; its protocol ("file") node has none.
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ driver: 'qcow2', file: dom.disks[0]!.path });
    expect(nodes[0]!.bitmaps).toEqual([{ name: 'cp-one', count: 3 * MiB, granularity: 65536, persistent: true, recording: true, busy: false }]);
    // While QEMU runs, the file does not have the bitmap yet.
    expect(await shutoffBitmaps(dom.disks[0]!.path)).toEqual([]);

    await expect(qmp(dom, 'no-such-command')).rejects.toThrow(/CommandNotFound/);
    expect(await qmp(dom, 'query-block-jobs')).toEqual([]);

    // virsh destroy ends QEMU with SIGTERM first: it still writes persistent bitmaps out.
    await destroyDomain(dom);
    await destroyDomain(dom); // a second destroy of a shut-off domain is a no-op
    expect(await shutoffBitmaps(dom.disks[0]!.path)).toEqual([{ name: 'cp-one', granularity: 65536, flags: ['auto'] }]);
  });

  it('handles a name full of shell metacharacters', async () => {
    const name = `vmkeep-test-a;b$(x) 'q' "dq" & \`bt\` <x> *`;
    const dom = await createTestDomain({ name, disks: [{ target: 'vda', sizeMiB: 8, fileName: 'disk $(x) ;.qcow2' }], start: true });
    expect(await domainNames()).toContain(name);
    expect((await virsh(['domname', dom.uuid])).trim()).toBe(name);
    expect(await domainState(name)).toBe('running'); // by name, too
    await writeGuestData(dom, 'vda', { pattern: 0x42, offset: 0, length: MiB });
    await removeTestDomain(dom);
    expect(await domainNames()).not.toContain(name);
    expect(fs.existsSync(dom.dir)).toBe(false);
  });

  it('rejects names libvirt would reject and names leftover cleanup would miss', async () => {
    await expect(createTestDomain({ name: 'vmkeep-test-a/b' })).rejects.toThrow(/'\/'/);
    await expect(createTestDomain({ name: 'my-vm' })).rejects.toThrow(/start with vmkeep-test-/);
  });

  it('removes leftovers: domains of dead or own processes and their directories', async () => {
    const a = await createTestDomain({ start: true });
    const b = await createTestDomain();
    const report = await removeLeftoverTestDomains();
    expect(report.removedDomains).toEqual(expect.arrayContaining([a.name, b.name]));
    const names = await domainNames();
    expect(names).not.toContain(a.name);
    expect(names).not.toContain(b.name);
    expect(fs.existsSync(a.dir)).toBe(false);
    // cleanupAll afterwards finds nothing left to do and does not fail.
    await cleanupAll();
  });
});
