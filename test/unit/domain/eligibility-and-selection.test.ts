import { describe, expect, it } from 'vitest';
import { diskEligibility, eligibleDisks } from '../../../src/domain/disk-eligibility.js';
import { selectDomains, splitDomainPatterns } from '../../../src/domain/select-domains.js';
import { parseDomainXml } from '../../../src/virsh/parse-domain-xml.js';
import { fixture } from '../../helpers/fixtures.js';

describe('disk eligibility on captured domains', () => {
  it('excludes cdrom, floppy, raw, readonly and shareable disks with their reasons', () => {
    const d = parseDomainXml(fixture('virsh/dumpxml-devices-shutoff.xml'));
    const verdicts = Object.fromEntries(d.disks.map((x) => [x.target, diskEligibility(x).excludedBy]));
    expect(verdicts).toMatchObject({
      vda: [],
      vdb: ['raw'],
      vdc: ['readonly'],
      vdd: ['shareable', 'raw'],
      hdc: ['cdrom', 'readonly', 'raw'],
      fda: ['floppy', 'raw'],
    });
    expect(verdicts['hdd']).toContain('no-source');
    expect(eligibleDisks(d.disks).map((x) => x.target)).toEqual(['vda']);
  });

  it('excludes network sources and luns', () => {
    const d = parseDomainXml(fixture('virsh/dumpxml-remote-shutoff.xml'));
    for (const disk of d.disks) {
      const e = diskEligibility(disk);
      if (disk.sourceType === 'network') expect(e.excludedBy).toContain('network');
      if (disk.device === 'lun') expect(e.excludedBy).toContain('lun');
      expect(e.reasons.length).toBe(e.excludedBy.length);
    }
    expect(d.disks.some((x) => x.sourceType === 'network')).toBe(true);
  });

  it('keeps both qcow2 disks of the two-disk domain', () => {
    const d = parseDomainXml(fixture('virsh/dumpxml-running-2-checkpoints.xml'));
    expect(eligibleDisks(d.disks).map((x) => x.target)).toEqual(['vda', 'vdb']);
  });
});

describe('--domains selection', () => {
  const existing = ['web-1', 'web-2', 'db-a', 'db-b', 'db-10', 'mail'];

  it('defaults to every domain', () => {
    expect(selectDomains(splitDomainPatterns(undefined), existing).selected).toEqual(existing);
  });

  it('refuses a --domains that holds no pattern instead of reading it as every domain', () => {
    for (const values of [[], [''], [','], [' , ', ''], ['\t']]) {
      expect(() => splitDomainPatterns(values), JSON.stringify(values)).toThrow(
        expect.objectContaining({ code: 'usage', message: expect.stringMatching(/^--domains is empty: /) }),
      );
    }
    expect(splitDomainPatterns(['', 'web-1,'])).toEqual(['web-1']);
  });

  it('takes comma lists, repeated values and globs, without duplicates, in libvirt order', () => {
    const s = selectDomains(splitDomainPatterns(['mail,web-*', 'db-?', 'web-1']), existing);
    expect(s.selected).toEqual(['web-1', 'web-2', 'db-a', 'db-b', 'mail']);
    expect(s.unknown).toEqual([]);
  });

  it('reports unknown literal names and empty globs, and keeps the rest', () => {
    const s = selectDomains(['web-1', 'nope', 'zz-*'], existing);
    expect(s.selected).toEqual(['web-1']);
    expect(s.unknown).toEqual(['nope']);
    expect(s.emptyPatterns).toEqual(['zz-*']);
  });

  it('treats shell metacharacters as part of a literal name', () => {
    const s = selectDomains(['x;touch /tmp/canary;#'], existing);
    expect(s.selected).toEqual([]);
    expect(s.unknown).toEqual(['x;touch /tmp/canary;#']);
  });

  it('matches a literal name with glob characters exactly when it exists', () => {
    expect(selectDomains(['db-?'], ['db-?', 'db-a']).selected).toEqual(['db-?']);
  });
});
