/**
 * adjustDomainXml on domain XMLs virtnbdbackup 1.9.15 really saved: the two-disk domain with a
 * network interface from fixtures/restore, and the two-disk domain of fixtures/virtnbdbackup.
 * Results are read back with vmkeep's own domain XML parser and a plain one.
 */
import { readFileSync } from 'node:fs';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { adjustDomainXml } from '../../../src/points/domain-xml.js';
import { parseDomainXml } from '../../../src/virsh/parse-domain-xml.js';

const TWO_DISKS_NET = readFileSync('fixtures/restore/two-disk-chain/vmconfig.virtnbdbackup.1.xml', 'utf8');
const TWO_DISKS_PLAIN = readFileSync('fixtures/virtnbdbackup/chain-plain/vmconfig.virtnbdbackup.3.xml', 'utf8');

const images = new Map([
  ['vda', '/restore/web/vda.qcow2'],
  ['vdb', '/restore/web/data disk.qcow2'],
]);

describe('adjustDomainXml', () => {
  it('renames, drops the uuid and the MACs, and points both disks at the restored images', () => {
    const out = adjustDomainXml(TWO_DISKS_NET, { name: 'web-copy', images, checkpoint: 'virtnbdbackup.1' });
    const def = parseDomainXml(out.xml);
    expect(def.name).toBe('web-copy');
    expect(def.uuid).toBeUndefined();
    expect(def.disks.map((d) => [d.target, d.sourceType, d.path, d.format])).toEqual([
      ['vda', 'file', '/restore/web/vda.qcow2', 'qcow2'],
      ['vdb', 'file', '/restore/web/data disk.qcow2', 'qcow2'],
    ]);
    expect(out.removedMacs).toHaveLength(1);
    expect(out.removedMacs[0]).toMatch(/^52:54:00:/);
    expect(out.xml).not.toContain('<mac ');
    expect(out.xml).not.toContain('<uuid>');
    expect(out.xml).not.toContain('<backingStore');
    expect(out.xml).not.toMatch(/<domain [^>]*\bid=/);
    expect(out.xml).not.toContain('/var/tmp/vmkeep-scratch-restore/fx/img');
    expect(out.removedDisks).toEqual([]);
    // Everything else is kept, in order: the interface (without its MAC), the console, the memory.
    expect(out.xml).toContain('<interface type="user">');
    expect(out.xml).toContain('<memory unit="KiB">65536</memory>');
    expect(out.xml.indexOf('<emulator>')).toBeLessThan(out.xml.indexOf('<disk '));
  });

  it('removes a writable disk that was not restored, so the copy never writes to the original', () => {
    const out = adjustDomainXml(TWO_DISKS_NET, { name: 'web-copy', images: new Map([['vda', '/r/vda.qcow2']]) });
    expect(out.removedDisks).toEqual(['vdb']);
    expect(parseDomainXml(out.xml).disks.map((d) => d.target)).toEqual(['vda']);
    expect(out.notes).toContain('disks not restored removed: vdb');
  });

  it('adjusts every disk of a multi-disk domain at once (virtnbdrestore -c only adjusts the last)', () => {
    const out = adjustDomainXml(TWO_DISKS_PLAIN, {
      name: 'plain-copy',
      images: new Map([
        ['vda', '/r/vda.qcow2'],
        ['vdb', '/r/vdb.qcow2'],
      ]),
    });
    expect(parseDomainXml(out.xml).disks.map((d) => d.path)).toEqual(['/r/vda.qcow2', '/r/vdb.qcow2']);
    expect(out.removedMacs).toEqual([]);
  });

  it('escapes names and paths with XML metacharacters', () => {
    const out = adjustDomainXml(TWO_DISKS_NET, {
      name: `a&b <"c'>`,
      images: new Map([
        ['vda', `/r/x&y <1>.qcow2`],
        ['vdb', `/r/it's "q".qcow2`],
      ]),
    });
    const def = parseDomainXml(out.xml);
    expect(def.name).toBe(`a&b <"c'>`);
    expect(def.disks.map((d) => d.path)).toEqual([`/r/x&y <1>.qcow2`, `/r/it's "q".qcow2`]);
    // And a strict parser agrees the document is well formed.
    expect(() => new XMLParser().parse(out.xml, true)).not.toThrow();
  });

  it('refuses when the saved XML lacks a disk the restore made', () => {
    expect(() => adjustDomainXml(TWO_DISKS_NET, { name: 'x', images: new Map([['vdq', '/r/q.qcow2']]) })).toThrow(/has no disk vdq/);
  });

  it('gives every file a character device writes a new path in chardevDir, one per old path', () => {
    const xml = readFileSync('fixtures/virsh/dumpxml-chardev-files.xml', 'utf8');
    const out = adjustDomainXml(xml, { name: 'web-boot', images: new Map([['vda', '/boot/web/vda.qcow2']]), chardevDir: '/boot/web' });
    // serial0 and the console that mirrors it keep sharing one file; the pty's log and the channel move too.
    expect(out.chardevFiles).toEqual(['/boot/web/web-serial0.log', '/boot/web/web-serial1.log', '/boot/web/channel.log']);
    expect(out.xml.match(/<source path="\/boot\/web\/web-serial0.log"/g)).toHaveLength(2);
    expect(out.xml).toContain('<log file="/boot/web/web-serial1.log" append="on"');
    expect(out.xml).toContain('<source path="/boot/web/channel.log"');
    expect(out.xml).not.toContain('/var/log/libvirt');
    expect(out.xml).not.toContain('/var/lib/web');
    expect(out.notes).toContain('character device file /var/log/libvirt/qemu/web-serial0.log is /boot/web/web-serial0.log for the new domain');
  });

  it('leaves character devices alone without chardevDir (restore --to)', () => {
    const xml = readFileSync('fixtures/virsh/dumpxml-chardev-files.xml', 'utf8');
    const out = adjustDomainXml(xml, { name: 'web-copy', images: new Map([['vda', '/r/vda.qcow2']]) });
    expect(out.chardevFiles).toEqual([]);
    expect(out.xml).toContain('/var/log/libvirt/qemu/web-serial0.log');
  });
});
