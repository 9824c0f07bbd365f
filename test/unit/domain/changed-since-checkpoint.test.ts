/**
 * "Changed since the newest checkpoint" from QEMU's block nodes against libvirt's own
 * `checkpoint-dumpxml --size`, both captured back to back from a real running domain after real
 * guest writes (fixtures/status-reads/capture.sh).
 */
import { describe, expect, it } from 'vitest';
import { sizesFromBlockNodes } from '../../../src/domain/changed-since-checkpoint.js';
import { parseNamedBlockNodes } from '../../../src/qemu/parse-qmp.js';
import { parseCheckpointXml } from '../../../src/virsh/parse-checkpoint-xml.js';
import { parseDomainXml } from '../../../src/virsh/parse-domain-xml.js';
import { fixture } from '../../helpers/fixtures.js';

const at = (c: string, file: string) => fixture(`status-reads/${c}.${file}`);

function read(c: string, checkpoint: string) {
  return {
    plain: parseCheckpointXml(at(c, `${checkpoint}.xml`)),
    libvirt: parseCheckpointXml(at(c, `${checkpoint}--size.xml`)),
    disks: parseDomainXml(at(c, 'dumpxml.xml')).disks,
    nodes: parseNamedBlockNodes(at(c, 'nodes.json')),
  };
}

describe('bytes changed since the newest checkpoint, from the block nodes', () => {
  it.each([
    // 1 byte, 70000 bytes across a 64 KiB granule boundary (vda: 3 granules), 3 MiB on vdb.
    ['one-checkpoint', 'virtnbdbackup.0', [196608, 3145728]],
    // A second checkpoint: 2 MiB and one rewritten byte on vda, nothing on vdb.
    ['two-checkpoints', 'virtnbdbackup.1', [2162688, 0]],
  ] as const)('%s: gives what checkpoint-dumpxml --size gives for %s', (c, checkpoint, sizes) => {
    const { plain, libvirt, disks, nodes } = read(c, checkpoint);
    expect(libvirt.disks.map((d) => d.size)).toEqual(sizes);
    expect(plain.disks.map((d) => d.size)).toEqual([undefined, undefined]);
    expect(sizesFromBlockNodes(plain, disks, nodes)).toEqual(libvirt);
  });

  it('leaves an image with a backing file to libvirt: it merges both layers, the top one alone is less', () => {
    const { plain, libvirt, disks, nodes } = read('overlay', 'virtnbdbackup.1');
    // The top layer's own bitmap has 64 KiB; libvirt adds the 2 MiB + 64 KiB of the layer below.
    const top = nodes.find((n) => n.file.endsWith('/vda.overlay.qcow2') && n.driver === 'qcow2')!;
    expect(top.bitmaps.find((b) => b.name === 'virtnbdbackup.1')?.count).toBe(65536);
    expect(top.backingFile).toMatch(/\/vda\.qcow2$/);
    expect(libvirt.disks[0]!.size).toBe(2228224);
    expect(sizesFromBlockNodes(plain, disks, nodes)).toBeUndefined();
  });

  it("leaves a disk whose image lacks the checkpoint's bitmap to libvirt", () => {
    // virtnbdbackup.1 against the block nodes from before it was made: no such bitmap yet.
    const { plain, disks } = read('two-checkpoints', 'virtnbdbackup.1');
    expect(sizesFromBlockNodes(plain, disks, parseNamedBlockNodes(at('one-checkpoint', 'nodes.json')))).toBeUndefined();
  });

  it('gives no size (as libvirt) for a checkpoint disk the domain no longer has', () => {
    const { plain, disks, nodes } = read('one-checkpoint', 'virtnbdbackup.0');
    const sized = sizesFromBlockNodes(
      plain,
      disks.filter((d) => d.target !== 'vdb'),
      nodes,
    );
    expect(sized?.disks.map((d) => [d.name, d.size])).toEqual([
      ['vda', 196608],
      ['vdb', undefined],
    ]);
  });

  it('the XML with --size differs from the one without only by the size attributes', () => {
    for (const [c, checkpoints] of [
      ['one-checkpoint', ['virtnbdbackup.0']],
      ['two-checkpoints', ['virtnbdbackup.0', 'virtnbdbackup.1']],
      ['overlay', ['virtnbdbackup.1']],
    ] as const) {
      for (const cp of checkpoints) expect(at(c, `${cp}--size.xml`).replace(/ size='\d+'/g, '')).toBe(at(c, `${cp}.xml`));
    }
  });
});

describe('the guest agent channel in a domain definition', () => {
  it('is seen in a running domain that has one (nothing answers behind it) and not in one without', () => {
    expect(parseDomainXml(at('one-checkpoint', 'dumpxml.xml')).guestAgentChannel).toBe(true);
    expect(parseDomainXml(fixture('virsh/dumpxml-running-2-checkpoints.xml')).guestAgentChannel).toBe(false);
  });
});
