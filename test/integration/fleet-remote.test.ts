/**
 * Several hypervisors from one place, through the built CLI: a real sshd on 127.0.0.1 (its own
 * keys, root by key only, a free port) and `--connect NAME=qemu+ssh://root@127.0.0.1:PORT/system`.
 * status, a full and an incremental backup over ssh, restores byte-identical to reference copies;
 * a second host on a closed port is one failed item naming it (exit 1) and the first is still
 * backed up, into OUTPUT/<host>/<domain>/.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, makeLockDir } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, imagesIdentical, referenceCopy, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { freePort, startTestSshd, type TestSshd } from '../helpers/sshd.js';
import { domainLockFile, lockHolder } from '../../src/util/lock.js';

let sshd: TestSshd;
let lockDir: string;
let dom: TestDomain;
let remote: string;
let down: string;

beforeAll(async () => {
  sshd = await startTestSshd();
  lockDir = makeLockDir();
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
  remote = `r1=${sshd.libvirtUri}`;
  // A port nothing listens on: ssh gets "connection refused".
  const closed = await freePort();
  down = `down=qemu+ssh://root@127.0.0.1:${closed}/system?keyfile=${sshd.clientKey}&no_verify=1`;
});

afterAll(async () => {
  await cleanupAll();
  await sshd?.stop();
  if (lockDir) fs.rmSync(lockDir, { recursive: true, force: true });
});

const env = () => ({ VMKEEP_LOCK_DIR: lockDir });

interface BackupDoc {
  hosts?: Array<{ host: string; ok: boolean; error?: string }>;
  results: Array<{ host?: string; domain: string; result: string; level?: string; chain?: string; checkpoint?: string; reason?: string }>;
}

describe('remote hypervisor over ssh', () => {
  it('status over qemu+ssh:// sees the domain and its disks', async () => {
    const r = await runVmkeep(['status', '--connect', remote, '--domains', dom.name, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const doc = parseJsonOutput<Record<string, { overallStatus: number; disks: Array<{ disk: string }> }>>(r);
    expect(doc[dom.name]!.overallStatus).toBe(0);
    expect(doc[dom.name]!.disks.map((d) => d.disk)).toEqual(['vda']);
  });

  it('full then incremental over ssh with a closed-port second host: exit 1 naming it, r1 backed up, restores byte-identical', async () => {
    const out = path.join(dom.dir, 'fleet-out');
    const refs: string[] = [];
    const ids: string[] = [];
    for (const [i, pattern] of [0x41, 0x42].entries()) {
      await writeGuestData(dom, 'vda', { pattern, offset: i * 4 * MiB, length: 2 * MiB });
      const ref = path.join(dom.dir, `remote-ref${i}.qcow2`);
      await referenceCopy(dom, 'vda', ref);
      refs.push(ref);
      const r = await runVmkeep(['backup', '--connect', remote, '--connect', down, '--domains', dom.name, '--output', out, '--json'], { env: env() });
      expect(r.code, r.stderr).toBe(1);
      const doc = parseJsonOutput<BackupDoc>(r);
      const mine = doc.results.find((x) => x.host === 'r1')!;
      expect(mine, JSON.stringify(doc)).toMatchObject({
        domain: `r1/${dom.name}`,
        result: 'done',
        level: i === 0 ? 'full' : 'inc',
        checkpoint: `virtnbdbackup.${i}`,
      });
      const failed = doc.results.filter((x) => x.result === 'failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]!.domain).toBe('down/*');
      expect(failed[0]!.reason).toContain('host down');
      expect(doc.hosts).toEqual([{ host: 'r1', uri: sshd.libvirtUri, ok: true }, expect.objectContaining({ host: 'down', ok: false })]);
      expect(r.stderr).toContain('down');
      ids.push(`${mine.chain}/${mine.checkpoint}`);
    }
    // Per-host layout with more than one host.
    expect(fs.readdirSync(out).filter((f) => !f.startsWith('.'))).toEqual(['r1']);
    expect(fs.existsSync(path.join(out, 'r1', dom.name))).toBe(true);

    // list across both hosts: r1's points; `down` has no folder (it never had a backup).
    const l = await runVmkeep(['list', '--connect', remote, '--connect', down, '--output', out, '--json'], { env: env() });
    const listDoc = parseJsonOutput<{ domains: Array<{ address: string; points: Array<{ id: string }> }>; errors?: Array<{ host: string }> }>(l);
    expect(listDoc.domains.find((d) => d.address === `r1/${dom.name}`)!.points.map((p) => p.id)).toEqual(ids);
    expect(listDoc.errors?.map((e) => e.host)).toEqual(['down']);
    expect(l.code).toBe(1);

    for (const [i, id] of ids.entries()) {
      const to = path.join(dom.dir, `remote-restore-${i}`);
      const r = await runVmkeep(['restore', '--connect', remote, '--domain', dom.name, '--output', path.join(out, 'r1'), '--at', id, '--to', to, '--json'], {
        env: env(),
      });
      expect(r.code, r.stderr).toBe(0);
      const doc = parseJsonOutput<{ images: Array<{ path: string }> }>(r);
      expect(await imagesIdentical(doc.images[0]!.path, refs[i]!), `point ${id}`).toBe(true);
      if (i > 0) expect(await imagesIdentical(doc.images[0]!.path, refs[i - 1]!)).toBe(false);
    }
  });

  it('status across both hosts: host/domain keys, the closed-port host is one failed key, exit 1', async () => {
    const r = await runVmkeep(['status', '--connect', remote, '--connect', down, '--domains', dom.name, '--json'], { env: env() });
    expect(r.code).toBe(1);
    const doc = parseJsonOutput<Record<string, { overallStatus: number; error?: string; host?: string }>>(r);
    expect(doc[`r1/${dom.name}`]!.overallStatus).toBe(0);
    expect(doc['down']!.overallStatus).toBe(1);
    expect(doc['down']!.error).toMatch(/host down .*127\.0\.0\.1/);
    // host/domain addressing: only r1 is asked, so the run is clean.
    const only = await runVmkeep(['status', '--connect', remote, '--connect', down, '--domains', `r1/${dom.name}`, '--json'], { env: env() });
    expect(only.code, only.stderr).toBe(0);
    expect(Object.keys(parseJsonOutput<Record<string, unknown>>(only))).toEqual([`r1/${dom.name}`]);
    // scrub across hosts (a dry run: the chain stays): host/domain keys, the down host one failed key.
    const sc = await runVmkeep(['scrub', '--connect', remote, '--connect', down, '--domains', dom.name, '--scrubType', 'both', '--dry-run', '--json'], {
      env: env(),
    });
    expect(sc.code).toBe(1);
    const scDoc = parseJsonOutput<Record<string, { ok?: boolean; error?: string; actions?: unknown[] }>>(sc);
    expect(scDoc[`r1/${dom.name}`]!.actions!.length).toBeGreaterThan(0);
    expect(scDoc['down']!.error).toContain('host down');
    const typo = await runVmkeep(['status', '--connect', remote, '--connect', down, '--domains', `r9/${dom.name}`], { env: env() });
    expect(typo.code).toBe(64);
    expect(typo.stderr).toContain('no host by that name');
  });
  it('one remote host alone: restore takes the same domain lock as a backup of that host (a held lock refuses it, exit 75)', async () => {
    // Backup keeps a remote host's domain locks in host-<host>/; restore once used the base folder,
    // so a restore in place could run beside a backup of the same domain.
    const file = domainLockFile(path.join(lockDir, 'host-127.0.0.1'), dom.name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const holder = spawn('flock', ['-x', file, 'sleep', '120'], { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 20_000;
      while (lockHolder(file) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(lockHolder(file)).toBeDefined();
      const r = await runVmkeep(
        ['restore', '--connect', sshd.libvirtUri, '--domain', dom.name, '--output', path.join(dom.dir, 'fleet-out', 'r1'), '--in-place', '--force', '--json'],
        { env: env() },
      );
      expect(r.code, r.stderr).toBe(75);
      expect(r.stderr).toContain(`domain ${dom.name} is locked`);
    } finally {
      holder.kill();
    }
  });
});
