/**
 * `vmkeep boot` against the real libvirtd: a domain runs straight from a push chain's point on
 * fresh overlays; its disk equals the reference taken at backup time; the backup files' sha256
 * are the same afterwards; --finish makes it stand alone, --discard removes it.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import {
  cleanupAll,
  createTestDomain,
  domainState,
  flushGuestDisk,
  imagesIdentical,
  referenceCopy,
  trackTestDomain,
  virsh,
  writeGuestData,
  type TestDomain,
} from '../helpers/libvirt.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
let lockDir: string;
let dom: TestDomain;
let out: string;
const refs: string[] = [];
const ids: string[] = [];

/** sha256 of every file in the repository's chain folders. */
function repositoryDigests(): Record<string, string> {
  const result: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!e.name.startsWith('.')) result[path.relative(out, p)] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(out);
  return result;
}

/** Owner, group and mode of the output folder and of everything in it (lock files aside). */
function repositoryModes(): Record<string, string> {
  const result: Record<string, string> = {};
  const note = (p: string) => {
    const st = fs.statSync(p);
    result[path.relative(out, p) || '.'] = `${st.uid}:${st.gid}:${(st.mode & 0o7777).toString(8)}`;
  };
  const walk = (d: string) => {
    note(d);
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!e.name.startsWith('.')) note(p);
    }
  };
  walk(out);
  return result;
}

function boot(args: string[]) {
  return runVmkeep(['boot', '--json', ...args], { env: { VMKEEP_LOCK_DIR: lockDir }, timeoutMs: 600_000 });
}

async function domainNames(): Promise<string[]> {
  return (await virsh(['list', '--all', '--name']))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

beforeAll(async () => {
  lockDir = makeLockDir();
  dom = await createTestDomain({
    disks: [
      { target: 'vda', sizeMiB: 64 },
      { target: 'vdb', sizeMiB: 32 },
    ],
    start: true,
    serialLog: true,
  });
  out = path.join(dom.dir, 'backups');
  for (const [i, pattern] of [0x21, 0x31].entries()) {
    await writeGuestData(dom, 'vda', { pattern, offset: i * 8 * MiB, length: 4 * MiB });
    await writeGuestData(dom, 'vdb', { pattern: pattern + 1, offset: i * 4 * MiB, length: 1 * MiB });
    refs.push(path.join(dom.dir, `ref${i}-vda.qcow2`));
    await referenceCopy(dom, 'vda', refs.at(-1)!);
    refs.push(path.join(dom.dir, `ref${i}-vdb.qcow2`));
    await referenceCopy(dom, 'vdb', refs.at(-1)!);
    const doc = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json', '--engine', 'push'], { lockDir }));
    ids.push(`${doc.results[0]!.chain}/${doc.results[0]!.checkpoint}`);
  }
});
afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

describe('vmkeep boot', () => {
  it('boots the first point on overlays, leaves the backup unchanged; --finish makes it stand alone', async () => {
    const before = repositoryDigests();
    const name = `vmkeep-test-boot-${crypto.randomBytes(3).toString('hex')}`;
    const dir = path.join(dom.dir, 'boot-a');
    trackTestDomain({ name }, { dir });
    const run = await boot(['--output', out, '--domain', dom.name, '--at', ids[0]!, '--name', name, '--dir', dir]);
    expect(run.code, run.stderr).toBe(0);
    const doc = parseJsonOutput<{ disks: Array<{ target: string; overlay: string; backing: string }>; durationMs: number }>(run);
    expect(await domainState(name)).toBe('running');
    expect(doc.disks.map((d) => d.target)).toEqual(['vda', 'vdb']);
    // Nothing copied: the overlays are small and backed by the point's images.
    for (const d of doc.disks) expect(fs.statSync(d.overlay).size).toBeLessThan(2 * MiB);
    expect(await imagesIdentical(doc.disks[0]!.overlay, refs[0]!)).toBe(true);
    expect(await imagesIdentical(doc.disks[1]!.overlay, refs[1]!)).toBe(true);
    expect(await imagesIdentical(doc.disks[0]!.overlay, refs[2]!)).toBe(false);

    const fin = await boot(['--finish', name]);
    expect(fin.code, fin.stderr).toBe(0);
    expect(await domainState(name)).toBe('running');
    // Read the images from outside only after QEMU flushed what blockpull wrote.
    for (const target of ['vda', 'vdb']) await flushGuestDisk(name, target);
    for (const d of doc.disks) {
      const info = JSON.parse((await runner.run('qemu-img', ['info', '--output=json', '-U', d.overlay])).stdout) as { 'backing-filename'?: string };
      expect(info['backing-filename']).toBeUndefined();
    }
    expect(await imagesIdentical(doc.disks[0]!.overlay, refs[0]!)).toBe(true);
    expect(await imagesIdentical(doc.disks[1]!.overlay, refs[1]!)).toBe(true);
    // Finished: vmkeep no longer owns it.
    const discard = await boot(['--discard', name]);
    expect(discard.code).toBe(64);
    expect(await domainNames()).toContain(name);
    expect(repositoryDigests()).toEqual(before);
  });

  it('--finish leaves images that survive QEMU being killed at once: each equals its point', async () => {
    const modes = repositoryModes();
    const name = `vmkeep-test-boot-${crypto.randomBytes(3).toString('hex')}`;
    const dir = path.join(dom.dir, 'boot-kill');
    trackTestDomain({ name }, { dir });
    const run = await boot(['--output', out, '--domain', dom.name, '--at', ids[0]!, '--name', name, '--dir', dir]);
    expect(run.code, run.stderr).toBe(0);
    const doc = parseJsonOutput<{ disks: Array<{ target: string; overlay: string }> }>(run);
    const fin = await boot(['--finish', name]);
    expect(fin.code, fin.stderr).toBe(0);
    expect(parseJsonOutput<{ disks: Array<{ equalsPoint: boolean }> }>(fin).disks.map((d) => d.equalsPoint)).toEqual([true, true]);
    // A power cut right after finish said "stands on its own": no flush by anyone but vmkeep.
    const pid = Number(fs.readFileSync(`/run/libvirt/qemu/${name}.pid`, 'utf8').trim());
    expect(Number.isInteger(pid) && pid > 1).toBe(true);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 200 && (await domainState(name)) !== 'shut off'; i += 1) await new Promise((r) => setTimeout(r, 100));
    expect(await domainState(name)).toBe('shut off');
    for (const d of doc.disks) {
      const info = JSON.parse((await runner.run('qemu-img', ['info', '--output=json', d.overlay])).stdout) as { 'backing-filename'?: string };
      expect(info['backing-filename']).toBeUndefined();
    }
    expect(await imagesIdentical(doc.disks[0]!.overlay, refs[0]!)).toBe(true);
    expect(await imagesIdentical(doc.disks[1]!.overlay, refs[1]!)).toBe(true);
    // Once finished the images no longer read the backup: its owners and modes are back.
    expect(repositoryModes()).toEqual(modes);
  });

  it('boots the newest point and --discard removes the domain and its overlays; the backup is unchanged', async () => {
    const before = repositoryDigests();
    const name = `vmkeep-test-boot-${crypto.randomBytes(3).toString('hex')}`;
    const dir = path.join(dom.dir, 'boot-b');
    trackTestDomain({ name }, { dir });
    const run = await boot(['--output', out, '--domain', dom.name, '--name', name, '--dir', dir]);
    expect(run.code, run.stderr).toBe(0);
    const doc = parseJsonOutput<{ point: string; disks: Array<{ overlay: string }> }>(run);
    expect(doc.point).toBe(ids[1]);
    expect(await imagesIdentical(doc.disks[0]!.overlay, refs[2]!)).toBe(true);
    expect(await imagesIdentical(doc.disks[1]!.overlay, refs[3]!)).toBe(true);
    const gone = await boot(['--discard', name]);
    expect(gone.code, gone.stderr).toBe(0);
    expect(await domainNames()).not.toContain(name);
    expect(fs.existsSync(dir)).toBe(false);
    expect(repositoryDigests()).toEqual(before);
  });

  it("gives the booted copy its own serial log while the source runs; --discard puts the backup folders' and images' owners and modes back", async () => {
    const before = repositoryModes();
    const name = `vmkeep-test-boot-${crypto.randomBytes(3).toString('hex')}`;
    const dir = path.join(dom.dir, 'boot-serial');
    trackTestDomain({ name }, { dir });
    expect(await domainState(dom)).toBe('running');
    const run = await boot(['--output', out, '--domain', dom.name, '--name', name, '--dir', dir]);
    expect(run.code, run.stderr).toBe(0);
    expect(await domainState(name)).toBe('running');
    expect(await domainState(dom)).toBe('running');
    const logs = [...(await virsh(['dumpxml', name])).matchAll(/<source path='([^']+)'/g)].map((m) => m[1]!);
    expect(logs.length).toBeGreaterThan(0);
    for (const log of logs) expect(path.dirname(log)).toBe(dir);
    expect(fs.existsSync(logs[0]!)).toBe(true);
    expect(await virsh(['dumpxml', dom.name])).toContain(`<source path='${path.join(dom.dir, 'serial.log')}'/>`);

    const gone = await boot(['--discard', name]);
    expect(gone.code, gone.stderr).toBe(0);
    expect(fs.existsSync(dir)).toBe(false);
    expect(repositoryModes()).toEqual(before);
  });

  it('refuses a --dir whose parent folder is missing (exit 64), creating nothing and defining nothing', async () => {
    const name = `vmkeep-test-boot-${crypto.randomBytes(3).toString('hex')}`;
    const dir = path.join(dom.dir, 'nosuch', 'deep', 'boot-d');
    trackTestDomain({ name }, { dir });
    const run = await boot(['--output', out, '--domain', dom.name, '--name', name, '--dir', dir]);
    expect(run.code, run.stderr).toBe(64);
    expect(JSON.parse(run.stderr)).toMatchObject({
      error: {
        code: 'usage',
        message: `--dir ${dir} cannot be created: its parent folder ${path.dirname(dir)} does not exist (vmkeep creates only the last folder; is the disk mounted?)`,
      },
    });
    expect(fs.existsSync(path.join(dom.dir, 'nosuch'))).toBe(false);
    expect(await domainNames()).not.toContain(name);
  });

  it('refuses a name that exists, creating nothing', async () => {
    const dir = path.join(dom.dir, 'boot-c');
    const taken = await boot(['--output', out, '--domain', dom.name, '--name', dom.name, '--dir', dir]);
    expect(taken.code).toBe(64);
    expect(fs.existsSync(dir)).toBe(false);
  });
});
