/**
 * `vmkeep delete` through the built CLI against the real libvirtd, QEMU and virtnbdbackup: a
 * running domain, a full and three incrementals with data written between them (reference copies
 * at each point). Bad input (a protected point, an unknown point, nothing named) is one line,
 * exit 64, nothing changed; --dry-run changes nothing. An inner point merged into its child, the
 * newest point removed with its libvirt checkpoint and then an incremental that must still carry
 * the changes the removed point held, and finally the whole chain: every remaining point restores
 * byte-identically at each step.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, checkpointNames, expectDocument, makeLockDir, readManifestJson, snapshotTree } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, imagesIdentical, referenceCopy, writeGuestData, type TestDomain } from '../helpers/libvirt.js';

let lockDir: string;
let dom: TestDomain;
let out: string;
let chain: string;
let chainDir: string;
const refs: string[] = [];
const cps: string[] = [];
const env = () => ({ VMKEEP_LOCK_DIR: lockDir });

async function backupAndReference(i: number, write: { pattern: number; offset: number; length: number }): Promise<void> {
  await writeGuestData(dom, 'vda', write);
  refs[i] = path.join(dom.dir, `ref${i}.qcow2`);
  await referenceCopy(dom, 'vda', refs[i]);
  const doc = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir }));
  expect(doc.results[0]).toMatchObject({ result: 'done' });
  chain = doc.results[0]!.chain!;
  cps[i] = doc.results[0]!.checkpoint!;
}

function del(args: string[]) {
  return runVmkeep(['delete', '--domain', dom.name, '--output', out, ...args], { env: env(), timeoutMs: 600_000 });
}

/** The chain holds exactly these points, and each restores (vmkeep restore) to its reference. */
async function expectPoints(remaining: number[]): Promise<void> {
  expect(readManifestJson(chainDir).points.map((p) => p.checkpoint)).toEqual(remaining.map((i) => cps[i]));
  for (const i of remaining) {
    const to = path.join(dom.dir, `restore-${i}-${Date.now()}`);
    const r = await runVmkeep(['restore', '--domain', dom.name, '--output', out, '--at', `${chain}/${cps[i]}`, '--to', to, '--json'], {
      env: env(),
      timeoutMs: 600_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(await imagesIdentical(parseJsonOutput<{ images: Array<{ path: string }> }>(r).images[0]!.path, refs[i]!), `point ${i}`).toBe(true);
    fs.rmSync(to, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  lockDir = makeLockDir();
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
  out = path.join(dom.dir, 'backups');
  await backupAndReference(0, { pattern: 0x11, offset: 0, length: 4 * MiB });
  await backupAndReference(1, { pattern: 0x22, offset: 2 * MiB, length: 2 * MiB });
  await backupAndReference(2, { pattern: 0x33, offset: 3 * MiB, length: 2 * MiB });
  await backupAndReference(3, { pattern: 0x44, offset: 16 * MiB, length: 1 * MiB });
  chainDir = path.join(out, dom.name, chain);
}, 600_000);
afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

describe('vmkeep delete', () => {
  it('bad input: a protected point, an unknown point, nothing named: one line, exit 64, nothing changed', async () => {
    const p = await runVmkeep(['protect', `${chain}/${cps[2]}`, '--domain', dom.name, '--output', out], { env: env() });
    expect(p.code, p.stderr).toBe(0);
    const before = snapshotTree(chainDir);
    const cases: Array<[string[], RegExp]> = [
      [['--at', `${chain}/${cps[2]}`], new RegExp(`${chain}/${cps[2]!.replace('.', '\\.')} is protected: it is not deleted \\(vmkeep unprotect`)],
      [['--at', `${chain}/virtnbdbackup.99`], /no point virtnbdbackup\.99 in /],
      [['--at', 'no-such-chain/virtnbdbackup.1'], /no chain "no-such-chain"/],
      [[], /name what to delete: --at FOLDER\/CHECKPOINT/],
    ];
    for (const [args, message] of cases) {
      const r = await del(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(64);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    expect(snapshotTree(chainDir)).toEqual(before);
    const u = await runVmkeep(['unprotect', `${chain}/${cps[2]}`, '--domain', dom.name, '--output', out], { env: env() });
    expect(u.code, u.stderr).toBe(0);
  });

  it('--dry-run prints what would happen and changes nothing', async () => {
    const before = snapshotTree(chainDir);
    const r = await del(['--at', `${chain}/${cps[1]}`, '--at', `${chain}/${cps[3]}`, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${dom.name}: merge ${chain}: ${cps[1]} into ${cps[2]} (which then rests on ${cps[0]})`);
    expect(r.stdout).toContain(`${dom.name}: remove ${chain}/${cps[3]}, the newest point, and its libvirt checkpoint`);
    expect(snapshotTree(chainDir)).toEqual(before);
  });

  it('an inner point is merged into its child: the later points stay restorable', async () => {
    const r = await del(['--at', `${chain}/${cps[1]}`]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(fs.existsSync(path.join(chainDir, `vda.inc.${cps[1]}.data`))).toBe(false);
    expect(await checkpointNames(dom)).toEqual([cps[0], cps[2], cps[3]]);
    await expectPoints([0, 2, 3]);
  });

  it('the newest point goes with its libvirt checkpoint; the next incremental still carries its changes', async () => {
    const r = await del(['--at', `${chain}/${cps[3]}`]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await checkpointNames(dom)).toEqual([cps[0], cps[2]]);
    expect(fs.existsSync(path.join(chainDir, `vda.inc.${cps[3]}.data`))).toBe(false);
    await expectPoints([0, 2]);
    // Point 3's write (16 MiB) is only in the parent's bitmap now; the next incremental must hold it.
    await backupAndReference(4, { pattern: 0x55, offset: 32 * MiB, length: 1 * MiB });
    expect(readManifestJson(chainDir).points.at(-1)).toMatchObject({ checkpoint: cps[4], level: 'inc', parent: cps[2] });
    await expectPoints([0, 2, 4]);
    const v = await runVmkeep(['verify', '--output', out, '--domains', dom.name, '--json'], { env: env(), timeoutMs: 600_000 });
    expect(v.code, v.stdout).toBe(0);
  });

  it('--chain removes the whole chain', async () => {
    const r = await del(['--chain', chain]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(fs.existsSync(chainDir)).toBe(false);
    expect(fs.readdirSync(path.join(out, dom.name)).filter((f) => f.startsWith('.vmkeep-removing'))).toEqual([]);
  });
});
