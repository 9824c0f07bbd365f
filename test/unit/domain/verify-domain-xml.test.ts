/**
 * The verify domain's definition, made from a real domain XML (fixtures/boot-verify, captured by
 * its capture.sh) that has every device a verify domain must not keep, and the `--check` parser.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDomainXml } from '../../../src/virsh/parse-domain-xml.js';
import { buildVerifyDomainXml, type VerifyDomainSpec } from '../../../src/domain/verify-domain-xml.js';
import { isOwnerGone, readVerifyOwner, verifyDomainName, verifyLeftoverWarning } from '../../../src/domain/verify-domains.js';
import { DEFAULT_CONSOLE_PATTERN, parseBootCheck, splitWords } from '../../../src/domain/boot-checks.js';
import { parseXml } from '../../../src/util/xml.js';

const FIXTURES = join(import.meta.dirname, '../../../fixtures');
const saved = readFileSync(join(FIXTURES, 'boot-verify/dumpxml-passthrough.xml'), 'utf8');
const chardevs = readFileSync(join(FIXTURES, 'virsh/dumpxml-chardev-files.xml'), 'utf8');

const spec: VerifyDomainSpec = {
  name: 'vmkeep-verify-acc-db-2026-12-06T02:00',
  uuid: '3b1f2a44-5c6d-4e7f-8a9b-0c1d2e3f4a5b',
  images: new Map([['vda', { path: '/srv/backup/.vmkeep-boot-verify/run-1-x/vda.qcow2', format: 'qcow2' as const }]]),
  serialLog: '/srv/backup/.vmkeep-boot-verify/run-1-x/serial.log',
  domainType: 'qemu',
  maxMemoryKiB: 1024 * 1024,
  maxVcpus: 2,
  owner: { scratch: '/srv/backup/.vmkeep-boot-verify/run-1-x', pid: 4242, host: 'hv1', source: 'acc-db', point: '2026-12-06T02:00' },
};

const devicesOf = (xml: string) => (parseXml(xml) as { domain: { devices: Record<string, unknown> } }).domain.devices;

describe('buildVerifyDomainXml', () => {
  const out = buildVerifyDomainXml(saved, spec);
  const doc = parseXml(out.xml) as { domain: Record<string, unknown> };
  const devices = devicesOf(out.xml);

  it('has a new name and UUID, and vmkeep verify metadata instead of the original (tags)', () => {
    expect(doc.domain['name']).toBe(spec.name);
    expect(doc.domain['uuid']).toBe(spec.uuid);
    expect(out.xml).not.toContain('fbbd4f13-cbc6-4792-a0fe-4cda80f07707');
    expect(out.xml).not.toContain('xmlns/tags');
    expect(readVerifyOwner(out.xml)).toEqual({ scratch: spec.owner.scratch, pid: 4242, host: 'hv1', source: 'acc-db', point: '2026-12-06T02:00' });
  });

  it('keeps no network interface, host device, shared filesystem or USB redirection', () => {
    for (const tag of ['interface', 'hostdev', 'filesystem', 'redirdev']) {
      expect(saved).toContain(`<${tag} `);
      expect(devices[tag], tag).toBeUndefined();
    }
    expect(out.xml).not.toContain('52:54:00:12:34:56');
    expect(out.xml).not.toContain('br0');
  });

  it('boots the point image only: the writable disk not in the point goes, the CD loses its medium', () => {
    const def = parseDomainXml(out.xml);
    expect(def.disks.map((d) => [d.target, d.path ?? null])).toEqual([
      ['vda', '/srv/backup/.vmkeep-boot-verify/run-1-x/vda.qcow2'],
      ['sda', null],
    ]);
    expect(out.xml).not.toContain('/var/lib/libvirt/images/acc-db.qcow2');
    expect(out.xml).not.toContain('/dev/vg0/acc-db-data');
    expect(out.xml).not.toContain('debian.iso');
    expect(out.xml).toMatch(/<driver name="qemu" type="qcow2"|<driver name='qemu' type='qcow2'/);
  });

  it('listens on 127.0.0.1 only, on a port libvirt picks; serial console to a file', () => {
    expect(out.xml).not.toContain('0.0.0.0');
    expect(out.xml).not.toContain('5901');
    const g = devices['graphics'] as Record<string, unknown>;
    expect(g['@listen']).toBe('127.0.0.1');
    expect(g['@autoport']).toBe('yes');
    expect((g['listen'] as Record<string, unknown>)['@address']).toBe('127.0.0.1');
    const serial = devices['serial'] as Record<string, unknown>;
    expect(serial['@type']).toBe('file');
    expect((serial['source'] as Record<string, unknown>)['@path']).toBe(spec.serialLog);
    expect(devices['console']).toBeUndefined();
  });

  it('keeps the agent channel (without the original socket path) and says so', () => {
    expect(out.agentChannel).toBe(true);
    const channel = devices['channel'] as Record<string, unknown>;
    expect((channel['target'] as Record<string, unknown>)['@name']).toBe('org.qemu.guest_agent.0');
    expect(out.xml).not.toContain('/var/lib/libvirt/qemu/channel/target/acc-db');
  });

  it('caps memory and vCPUs, drops host pinning and the host CPU model under qemu', () => {
    expect(out.memoryKiB).toBe(1024 * 1024);
    expect(out.vcpus).toBe(2);
    expect(doc.domain['memory']).toEqual({ '#text': '1048576', '@unit': 'KiB' });
    expect(doc.domain['vcpu']).toEqual({ '#text': '2', '@placement': 'static' });
    expect(doc.domain['cputune']).toBeUndefined();
    expect(doc.domain['cpu']).toBeUndefined();
    expect(doc.domain['@type']).toBe('qemu');
    expect(doc.domain['on_crash']).toBe('destroy');
  });

  it('keeps a smaller original memory as it is, and the host CPU model under kvm', () => {
    const big = buildVerifyDomainXml(saved, { ...spec, maxMemoryKiB: 64 * 1024 * 1024, maxVcpus: 16, domainType: 'kvm' });
    expect(big.memoryKiB).toBe(8388608);
    expect(big.vcpus).toBe(4);
    expect(big.xml).toContain('host-passthrough');
    expect((parseXml(big.xml) as { domain: Record<string, unknown> }).domain['@type']).toBe('kvm');
  });

  it('drops file-backed channels and every original serial/console (their files are the original domain’s)', () => {
    const other = buildVerifyDomainXml(chardevs, { ...spec, images: new Map([['vda', { path: '/x/vda.raw', format: 'raw' as const }]]) });
    expect(other.agentChannel).toBe(false);
    expect(other.xml).not.toContain('/var/log/libvirt/qemu/web-serial');
    expect(other.xml).not.toContain('/var/lib/web/channel.log');
    expect(other.xml.match(/<serial /g)).toHaveLength(1);
    expect(parseDomainXml(other.xml).disks[0]).toMatchObject({ path: '/x/vda.raw', format: 'raw' });
  });

  it('refuses a point image for a disk the saved XML does not have', () => {
    expect(() => buildVerifyDomainXml(saved, { ...spec, images: new Map([['vdz', { path: '/x.qcow2', format: 'qcow2' as const }]]) })).toThrow(/no disk vdz/);
  });
});

describe('verifyDomainName', () => {
  it('is vmkeep-verify-<domain>-<point>, with characters a file name takes', () => {
    expect(verifyDomainName('acc-db', '2026-12/virtnbdbackup.2')).toBe('vmkeep-verify-acc-db-2026-12_virtnbdbackup.2');
    expect(verifyDomainName('a b$(x)', 'p').startsWith('vmkeep-verify-a_b_x_-p')).toBe(true);
  });
});

describe('parseBootCheck', () => {
  it('reads agent, console:REGEX, console and exec:CMD ARGS', () => {
    expect(parseBootCheck('agent')).toEqual({ kind: 'agent' });
    expect(parseBootCheck('console:READY$')).toEqual({ kind: 'console', pattern: 'READY$' });
    expect(parseBootCheck('console')).toEqual({ kind: 'console', pattern: DEFAULT_CONSOLE_PATTERN });
    expect(parseBootCheck(`exec:/bin/sh -c 'tail -n 3 /data/journal.log'`)).toEqual({ kind: 'exec', argv: ['/bin/sh', '-c', 'tail -n 3 /data/journal.log'] });
    expect(parseBootCheck('exec:/usr/bin/pg_isready')).toEqual({ kind: 'exec', argv: ['/usr/bin/pg_isready'] });
  });

  it('refuses an unknown kind, an unreadable argv, an empty exec and a bad regex, as usage errors', () => {
    expect(() => parseBootCheck('ping')).toThrow(/unknown kind "ping"/);
    expect(() => parseBootCheck(`exec:/bin/sh -c 'echo`)).toThrow(/quote is not closed/);
    expect(() => parseBootCheck('exec:')).toThrow(/needs a program/);
    expect(() => parseBootCheck('console:(')).toThrow(/not a regular expression/);
    try {
      parseBootCheck('ping');
    } catch (e) {
      expect((e as { code?: string }).code).toBe('usage');
    }
  });

  it('splits words without expanding anything', () => {
    expect(splitWords(`a "b c" 'd $(e)' f\\ g "h\\"i"`)).toEqual(['a', 'b c', 'd $(e)', 'f g', 'h"i']);
    expect(splitWords('"open')).toBeUndefined();
    expect(splitWords('trailing\\')).toBeUndefined();
  });
});

describe('leftover verify domains', () => {
  // A pid that was a real process a moment ago and is gone now.
  const deadPid = spawnSync('true').pid;
  const owner = { scratch: '/srv/backup/.vmkeep-boot-verify/run-1-x', pid: deadPid, source: 'acc-db', point: 'c1/virtnbdbackup.2' };

  it('a run of this host that is gone owns nothing; a live one (this run) does', async () => {
    expect(await isOwnerGone({ ...owner, host: hostname() })).toBe(true);
    expect(await isOwnerGone(owner)).toBe(true);
    expect(await isOwnerGone({ ...owner, host: hostname(), pid: process.pid })).toBe(false);
  });

  it("another host's pid means nothing here: its domain is left alone", async () => {
    expect(await isOwnerGone({ ...owner, host: `not-${hostname()}` })).toBe(false);
  });

  it('status says which domain, which point, which run, and what removes it', () => {
    expect(verifyLeftoverWarning({ name: 'vmkeep-verify-acc-db-x', owner })).toBe(
      `verify domain vmkeep-verify-acc-db-x (booting point c1/virtnbdbackup.2 of acc-db) was left by an interrupted verify --boot (pid ${deadPid}, no longer running): the next backup, verify or scrub on this host removes it and its scratch folder /srv/backup/.vmkeep-boot-verify/run-1-x`,
    );
  });
});
