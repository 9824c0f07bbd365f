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
import { backupCli, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, type TestDomain } from '../helpers/libvirt.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
let lockDir: string;
let stateDir: string;
let dom: TestDomain;
let out: string;
let point: string;
const content = `vmkeep mount test ${Date.now()}\n`;

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
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: false });
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
    const raws = fs.readdirSync(stateDir).filter((f) => f.endsWith('.raw')).map((f) => path.join(stateDir, f));
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
    const raw = path.join(stateDir, fs.readdirSync(stateDir).find((f) => f.endsWith('.raw'))!);
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

  it('umount of a folder vmkeep did not mount is refused', async () => {
    const mp = path.join(dom.dir, 'mnt-c');
    fs.mkdirSync(mp);
    expect((await vmkeep(['umount', mp])).code).toBe(64);
  });
});
