import { describe, expect, it } from 'vitest';
import { parseCheckpointXml } from '../../../src/virsh/parse-checkpoint-xml.js';
import { parseDomainXml } from '../../../src/virsh/parse-domain-xml.js';
import { jobIsActive, parseDomState, parseJobInfo, parseNameList } from '../../../src/virsh/parse-lists.js';
import { parseBackupSupported } from '../../../src/virsh/client.js';
import { fixture } from '../../helpers/fixtures.js';

describe('parseDomainXml on captured dumpxml', () => {
  it('reads a running domain with two disks, one path containing a space, and their aliases', () => {
    const d = parseDomainXml(fixture('virsh/dumpxml-running-2-checkpoints.xml'));
    expect(d.name).toBe('vmkeep-scratch-fixtures-run');
    expect(d.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(d.disks.map((x) => x.target)).toEqual(['vda', 'vdb']);
    const vdb = d.disks[1]!;
    expect(vdb.path).toBe('/var/tmp/vmkeep-scratch-fixtures/run data disk.qcow2');
    expect(vdb.format).toBe('qcow2');
    expect(vdb.sourceType).toBe('file');
    expect(vdb.alias).toBe('virtio-disk1');
    expect(d.disks[0]!.alias).toBe('virtio-disk0');
  });

  it('reads a shut-off domain (no aliases) with the same disks', () => {
    const d = parseDomainXml(fixture('virsh/dumpxml-shutoff-2-checkpoints.xml'));
    expect(d.disks.map((x) => [x.target, x.path, x.alias])).toEqual([
      ['vda', '/var/tmp/vmkeep-scratch-fixtures/run-vda.qcow2', undefined],
      ['vdb', '/var/tmp/vmkeep-scratch-fixtures/run data disk.qcow2', undefined],
    ]);
  });

  it('reads every device kind of the devices domain', () => {
    const d = parseDomainXml(fixture('virsh/dumpxml-devices-shutoff.xml'));
    const byTarget = Object.fromEntries(d.disks.map((x) => [x.target, x]));
    expect(byTarget['vdb']!.format).toBe('raw');
    expect(byTarget['vdc']!.readonly).toBe(true);
    expect(byTarget['vdd']!.shareable).toBe(true);
    expect(byTarget['hdc']!.device).toBe('cdrom');
    expect(byTarget['hdd']!.path).toBeUndefined();
    expect(byTarget['fda']!.device).toBe('floppy');
  });

  it('reads network and block sources of the remote domain', () => {
    const d = parseDomainXml(fixture('virsh/dumpxml-remote-shutoff.xml'));
    const network = d.disks.filter((x) => x.sourceType === 'network');
    expect(network.length).toBeGreaterThan(0);
    expect(network.every((x) => x.path === undefined && x.protocol !== undefined)).toBe(true);
    expect(d.disks.some((x) => x.sourceType === 'block' && x.path?.startsWith('/dev/'))).toBe(true);
  });

  it('rejects a document that is not a domain', () => {
    expect(() => parseDomainXml(fixture('virsh/checkpoint-dumpxml-virtnbdbackup.0.xml'))).toThrow(/not a libvirt domain/);
  });
});

describe('parseCheckpointXml on captured checkpoint-dumpxml', () => {
  it('reads name, parent, creation time and per-disk sizes', () => {
    const c = parseCheckpointXml(fixture('virsh/checkpoint-dumpxml-virtnbdbackup.1--size--no-domain.xml'));
    expect(c.name).toBe('virtnbdbackup.1');
    expect(c.parent).toBe('virtnbdbackup.0');
    expect(c.creationTime?.toISOString()).toBe(new Date(1795312777 * 1000).toISOString());
    expect(c.disks).toEqual([
      { name: 'vda', checkpoint: 'bitmap', bitmap: 'virtnbdbackup.1', size: 3145728 },
      { name: 'vdb', checkpoint: 'bitmap', bitmap: 'virtnbdbackup.1', size: 0 },
    ]);
  });

  it('reads the first checkpoint (no parent) with the embedded domain, sizes absent without --size', () => {
    const c = parseCheckpointXml(fixture('virsh/checkpoint-dumpxml-virtnbdbackup.0.xml'));
    expect(c.name).toBe('virtnbdbackup.0');
    expect(c.parent).toBeUndefined();
    expect(c.disks.map((d) => d.size)).toEqual([undefined, undefined]);
  });

  it('reports the changed bytes since virtnbdbackup.0 as written in the capture (5 MiB on vda, 1 MiB on vdb)', () => {
    const c = parseCheckpointXml(fixture('virsh/checkpoint-dumpxml-virtnbdbackup.0--size.xml'));
    expect(Object.fromEntries(c.disks.map((d) => [d.name, d.size]))).toEqual({ vda: 5242880, vdb: 1048576 });
  });
});

describe('line-oriented virsh outputs', () => {
  it('lists domain names without blank lines', () => {
    const names = parseNameList(fixture('virsh/list--all--name.txt'));
    expect(names).toContain('vmkeep-scratch-fixtures-run');
    expect(names).toContain('vmkeep-scratch-fixtures-off');
    expect(names.every((n) => n.length > 0 && n === n.trim())).toBe(true);
  });

  it('lists checkpoints parents first', () => {
    expect(parseNameList(fixture('virsh/checkpoint-list--name--topological.txt'))).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
  });

  it('reads domain states', () => {
    expect(parseDomState(fixture('virsh/domstate-running.txt'))).toBe('running');
    expect(parseDomState(fixture('virsh/domstate-paused.txt'))).toBe('paused');
    expect(parseDomState(fixture('virsh/domstate-shutoff.txt'))).toBe('shut off');
  });

  it('tells an active job from none', () => {
    expect(jobIsActive(parseJobInfo(fixture('virsh/domjobinfo-no-job.txt')))).toBe(false);
    expect(jobIsActive(parseJobInfo(fixture('virsh/domjobinfo-active-pull-backup.txt')))).toBe(true);
    expect(jobIsActive(parseJobInfo(fixture('virsh/domjobinfo--completed-after-virtnbdbackup.txt')))).toBe(false);
  });
});

describe('list --all --uuid --name', () => {
  it('pairs every name with its UUID, so later calls never mistake a name for an id', async () => {
    const { parseUuidNameList } = await import('../../../src/virsh/parse-lists.js');
    const entries = parseUuidNameList(fixture('virsh/list--all--uuid--name.txt'));
    expect(entries).toContainEqual({ uuid: '00000000-0000-4000-8000-00000000f001', name: 'vmkeep-scratch-fixtures-run' });
    expect(entries.length).toBe(parseNameList(fixture('virsh/list--all--uuid--name.txt')).length);
  });
});

describe('parseBackupSupported on captured domcapabilities', () => {
  it('reads <backup supported=yes> as push-mode backup available, and its absence as not', () => {
    const xml = fixture('engine/virsh-domcapabilities.xml');
    expect(parseBackupSupported(xml)).toBe(true);
    // The same capture without the feature line: what a libvirt without backup-begin prints.
    expect(parseBackupSupported(xml.replace(/^\s*<backup supported='yes'\/>\n/m, ''))).toBe(false);
  });
});
