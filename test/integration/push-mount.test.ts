/**
 * `vmkeep mount` / `umount` against real tools: an ext4 filesystem made with mkfs.ext4 on the
 * guest disk before the domain starts, a file written into it through a loop mount while the
 * domain is off, a push backup of the (shut-off) domain, then the point mounted and the file
 * read back. umount leaves no mount, loop device, export or daemon; after the export daemon is
 * killed, the next mount cleans up the broken one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { bootTestGuest, PARTITION_JOURNAL_PATH, readJournalFromImage, type TestGuest, waitForJournalGrowth } from '../helpers/guest.js';
import { cleanupAll, createTestDomain, type TestDomain } from '../helpers/libvirt.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
let lockDir: string;
let stateDir: string;
let dom: TestDomain;
let out: string;
let point: string;
const content = `vmkeep mount test ${Date.now()}\n`;
const partContent = `vmkeep mount partition test ${Date.now()}\n`;

function vmkeep(args: string[]) {
  return runVmkeep([...args, '--json'], { env: { VMKEEP_LOCK_DIR: lockDir, VMKEEP_MOUNT_DIR: stateDir }, timeoutMs: 600_000 });
}

function mounted(p: string): boolean {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === p);
}

async function daemonsFor(raw: string): Promise<string[]> {
  const { stdout } = await runner.run('ps', ['-eo', 'pid,args']);
  return stdout.split('\n').filter((l) => l.includes('qemu-storage-daemon') && l.includes(raw));
}

async function loopsFor(file: string): Promise<string> {
  return (await runner.run('losetup', ['--associated', file])).stdout.trim();
}

beforeAll(async () => {
  lockDir = makeLockDir();
  dom = await createTestDomain({
    disks: [
      { target: 'vda', sizeMiB: 64 },
      { target: 'vdb', sizeMiB: 64 },
      // No filesystem at all: --all-disks leaves it out and says why.
      { target: 'vdc', sizeMiB: 16 },
    ],
    start: false,
  });
  stateDir = path.join(dom.dir, 'mount-state');
  out = path.join(dom.dir, 'backups');
  // An ext4 filesystem on the whole disk, with one file, written while the domain is off.
  const raw = path.join(dom.dir, 'fs.raw');
  await runner.run('qemu-img', ['create', '-q', '-f', 'raw', raw, '64M']);
  await runner.run('mkfs.ext4', ['-q', '-F', raw]);
  const mnt = fs.mkdtempSync(path.join(dom.dir, 'prep-'));
  await runner.run('mount', ['-o', 'loop', '--', raw, mnt]);
  try {
    fs.writeFileSync(path.join(mnt, 'hello.txt'), content);
  } finally {
    await runner.run('umount', ['--', mnt]);
  }
  await runner.run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, dom.disks[0]!.path]);
  // vdb: an MBR with one partition at 1 MiB holding ext4, made and filled through an offset loop
  // device (this host's loop driver makes no partition devices).
  const partRaw = path.join(dom.dir, 'part.raw');
  await runner.run('qemu-img', ['create', '-q', '-f', 'raw', partRaw, '64M']);
  await runner.run('sfdisk', ['-q', partRaw], { input: 'start=2048, type=83\n' });
  const loop = (await runner.run('losetup', ['--find', '--show', '--offset', String(MiB), '--sizelimit', String(63 * MiB), partRaw])).stdout.trim();
  try {
    await runner.run('mkfs.ext4', ['-q', '-F', loop]);
    await runner.run('mount', ['--', loop, mnt]);
    try {
      fs.writeFileSync(path.join(mnt, 'part.txt'), partContent);
    } finally {
      await runner.run('umount', ['--', mnt]);
    }
  } finally {
    await runner.run('losetup', ['--detach', loop]);
  }
  await runner.run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', partRaw, dom.disks[1]!.path]);
  const doc = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json', '--engine', 'push'], { lockDir }));
  point = `${doc.results[0]!.chain}/${doc.results[0]!.checkpoint}`;
});
afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

describe('vmkeep mount', () => {
  it('shows the file written into the guest filesystem at that point; umount leaves nothing', async () => {
    const mp = path.join(dom.dir, 'mnt-a');
    fs.mkdirSync(mp);
    const run = await vmkeep(['mount', '--output', out, '--domain', dom.name, '--at', point, mp]);
    expect(run.code, run.stderr).toBe(0);
    expect(parseJsonOutput<{ via: string }>(run).via).toBe('chain');
    expect(mounted(mp)).toBe(true);
    expect(fs.readFileSync(path.join(mp, 'hello.txt'), 'utf8')).toBe(content);
    // Read-only.
    expect(() => fs.writeFileSync(path.join(mp, 'new.txt'), 'x')).toThrow();
    const raws = fs
      .readdirSync(stateDir)
      .filter((f) => f.endsWith('.raw'))
      .map((f) => path.join(stateDir, f));
    expect(raws).toHaveLength(1);
    expect(await daemonsFor(raws[0]!)).toHaveLength(1);

    const un = await vmkeep(['umount', mp]);
    expect(un.code, un.stderr).toBe(0);
    expect(mounted(mp)).toBe(false);
    expect(await daemonsFor(raws[0]!)).toEqual([]);
    expect(fs.readdirSync(stateDir)).toEqual([]);
    expect(fs.readdirSync(mp)).toEqual([]);
  });

  it('after the export daemon is killed, the next mount cleans up the broken mount first', async () => {
    const mp = path.join(dom.dir, 'mnt-b');
    fs.mkdirSync(mp);
    expect((await vmkeep(['mount', '--output', out, '--domain', dom.name, mp])).code).toBe(0);
    const raw = path.join(
      stateDir,
      fs.readdirSync(stateDir).find((f) => f.endsWith('.raw'))!,
    );
    const pid = Number(fs.readFileSync(raw.replace(/\.raw$/, '.pid'), 'utf8').trim());
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));

    const again = await vmkeep(['mount', '--output', out, '--domain', dom.name, mp]);
    expect(again.code, again.stderr).toBe(0);
    expect(parseJsonOutput<{ cleanedUp: string[] }>(again).cleanedUp).toEqual([mp]);
    expect(fs.readFileSync(path.join(mp, 'hello.txt'), 'utf8')).toBe(content);
    expect(await loopsFor(raw)).not.toBe('');

    expect((await vmkeep(['umount', mp])).code).toBe(0);
    expect(mounted(mp)).toBe(false);
    expect(fs.existsSync(raw)).toBe(false);
    expect(fs.readdirSync(stateDir)).toEqual([]);
  });

  it('--partition 1 mounts the partition by its offset in the partition table; a partition the table lacks is refused', async () => {
    const mp = path.join(dom.dir, 'mnt-part');
    fs.mkdirSync(mp);
    const run = await vmkeep(['mount', '--output', out, '--domain', dom.name, '--at', point, '--disk', 'vdb', '--partition', '1', mp]);
    expect(run.code, run.stderr).toBe(0);
    expect(fs.readFileSync(path.join(mp, 'part.txt'), 'utf8')).toBe(partContent);
    expect((await vmkeep(['umount', mp])).code).toBe(0);
    expect(mounted(mp)).toBe(false);

    const none = await vmkeep(['mount', '--output', out, '--domain', dom.name, '--at', point, '--disk', 'vdb', '--partition', '2', mp]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/vdb of .* has no partition 2 \(its partition table has 1\)/);
    expect(mounted(mp)).toBe(false);
    expect(fs.readdirSync(stateDir)).toEqual([]);
  });

  it('--all-disks mounts every filesystem of the point under MOUNTPOINT/<disk>[-<partition>], read-only; umount undoes all of it', async () => {
    const mp = path.join(dom.dir, 'mnt-all');
    fs.mkdirSync(mp);
    const run = await vmkeep(['mount', '--output', out, '--domain', dom.name, '--at', point, '--all-disks', mp]);
    expect(run.code, run.stderr).toBe(0);
    const doc = parseJsonOutput<{ mounts: Array<{ path: string; disk: string; partition: number | null }>; skipped: Array<{ disk: string; reason: string }> }>(
      run,
    );
    expect(doc.mounts.map((m) => [m.path, m.disk, m.partition])).toEqual([
      [path.join(mp, 'vda'), 'vda', null],
      [path.join(mp, 'vdb-1'), 'vdb', 1],
    ]);
    expect(doc.skipped).toEqual([{ disk: 'vdc', partition: null, reason: expect.stringMatching(/no filesystem vmkeep can mount/) }]);
    expect(fs.readdirSync(mp).sort()).toEqual(['vda', 'vdb-1']);
    expect(fs.readFileSync(path.join(mp, 'vda', 'hello.txt'), 'utf8')).toBe(content);
    expect(fs.readFileSync(path.join(mp, 'vdb-1', 'part.txt'), 'utf8')).toBe(partContent);
    for (const sub of ['vda', 'vdb-1']) {
      expect(mounted(path.join(mp, sub))).toBe(true);
      expect(() => fs.writeFileSync(path.join(mp, sub, 'new.txt'), 'x'), sub).toThrow();
    }
    // One export per disk.
    const raws = fs
      .readdirSync(stateDir)
      .filter((f) => f.endsWith('.raw'))
      .map((f) => path.join(stateDir, f));
    expect(raws).toHaveLength(3);
    for (const raw of raws) expect(await daemonsFor(raw), raw).toHaveLength(1);

    const un = await vmkeep(['umount', mp]);
    expect(un.code, un.stderr).toBe(0);
    for (const sub of ['vda', 'vdb-1']) expect(mounted(path.join(mp, sub))).toBe(false);
    for (const raw of raws) expect(await daemonsFor(raw)).toEqual([]);
    expect(fs.readdirSync(mp)).toEqual([]);
    expect(fs.readdirSync(stateDir)).toEqual([]);
  });

  it('umount of a folder vmkeep did not mount is refused', async () => {
    const mp = path.join(dom.dir, 'mnt-c');
    fs.mkdirSync(mp);
    expect((await vmkeep(['umount', mp])).code).toBe(64);
  });
});

describe('vmkeep mount of a booting guest caught mid-write', () => {
  let guest: TestGuest;
  let guestOut: string;

  beforeAll(async () => {
    guest = await bootTestGuest({ label: 'mount-journal' });
    guestOut = path.join(guest.dir, 'backups');
  }, 300_000);

  it('shows the journal the restored guest has: ext4 journal replayed on a throwaway overlay, the backup only read', async () => {
    // A push point of the running guest while it writes: crash-consistent, its last writes in the ext4 journal.
    await waitForJournalGrowth(guest, 40, 120_000);
    const doc = expectDocument(await backupCli(['--domains', guest.name, '--output', guestOut, '--json', '--engine', 'push'], { lockDir }));
    const id = `${doc.results[0]!.chain}/${doc.results[0]!.checkpoint}`;
    const restored = await runVmkeep(
      ['restore', '--domain', guest.name, '--output', guestOut, '--at', id, '--to', path.join(guest.dir, 'restored'), '--json'],
      {
        env: { VMKEEP_LOCK_DIR: lockDir },
        timeoutMs: 600_000,
      },
    );
    expect(restored.code, restored.stderr).toBe(0);
    const reference = await readJournalFromImage(parseJsonOutput<{ images: Array<{ path: string }> }>(restored).images[0]!.path);
    const expected = reference.text.split('\n').filter(Boolean).length;
    expect(expected).toBeGreaterThan(0);

    const chainFiles = fs.readdirSync(path.join(guestOut), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    const stamps = new Map(chainFiles.map((e) => [path.join(e.parentPath, e.name), fs.statSync(path.join(e.parentPath, e.name)).mtimeMs]));
    const mp = path.join(guest.dir, 'mnt-journal');
    fs.mkdirSync(mp);
    const run = await vmkeep(['mount', '--output', guestOut, '--domain', guest.name, '--at', id, '--partition', '1', mp]);
    expect(run.code, run.stderr).toBe(0);
    try {
      // Without the replay the file is short or missing (seen here: its directory entry was still in the ext4 journal).
      const shown = fs.readFileSync(path.join(mp, PARTITION_JOURNAL_PATH), 'utf8');
      expect(shown.split('\n').filter(Boolean).length).toBe(expected);
      expect(shown).toBe(reference.text);
      expect(parseJsonOutput<{ journalReplayed: boolean }>(run).journalReplayed).toBe(true);
    } finally {
      expect((await vmkeep(['umount', mp])).code).toBe(0);
    }
    // The backup files were only read.
    for (const [file, mtime] of stamps) if (!path.basename(file).startsWith('.')) expect(fs.statSync(file).mtimeMs, file).toBe(mtime);
  });
});
