/**
 * A second copy with `--engine push`: one domain backed up into two output folders. Each
 * folder's chain keeps its own `vmkeep.<id>.N` checkpoints, so both continue as incrementals, and
 * a run into the second folder that cannot work (QEMU cannot reach the folder) fails before it
 * touches anything, naming what is wrong. Every point is restored with `vmkeep restore --to` and
 * compared with a reference copy of the disk taken at backup time (`qemu-img compare`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MiB, backupCli, checkpointNames, expectDocument, qemuBitmapNames, useLockDirAndCleanup, type BackupDocument } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { createTestDomain, destroyDomain, imagesIdentical, referenceCopy, startDomain, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
const lockDir = useLockDirAndCleanup();

interface Point {
  out: string;
  id: string;
  ref: string;
}

/** Write `pattern` at `offsetMiB`, take a reference copy, back up into `out` with push; the run's result. */
async function writeAndBackUp(
  dom: TestDomain,
  out: string,
  pattern: number,
  offsetMiB: number,
): Promise<{ result: BackupDocument['results'][number]; point: Point }> {
  await writeGuestData(dom, 'vda', { pattern, offset: offsetMiB * MiB, length: 1 * MiB });
  const ref = path.join(dom.dir, `ref-${pattern.toString(16)}.qcow2`);
  await referenceCopy(dom, 'vda', ref);
  const result = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json', '--engine', 'push'], { lockDir })).results[0]!;
  expect(result.result, result.reason).toBe('done');
  return { result, point: { out, id: `${result.chain}/${result.checkpoint}`, ref } };
}

/** `vmkeep restore --to` of the point equals its reference. */
async function expectRestores(dom: TestDomain, point: Point, n: number): Promise<void> {
  const to = path.join(dom.dir, `restore-${n}`);
  const run = await runVmkeep(['restore', '--domain', dom.name, '--output', point.out, '--at', point.id, '--to', to, '--json'], {
    env: { VMKEEP_LOCK_DIR: lockDir },
  });
  expect(run.code, run.stderr).toBe(0);
  const img = parseJsonOutput<{ images: Array<{ path: string }> }>(run).images[0]!.path;
  expect(await imagesIdentical(img, point.ref), `${point.out} ${point.id}`).toBe(true);
  fs.rmSync(to, { recursive: true, force: true });
}

/** A failing push run into `out`: its result (exit 2, one domain failed). */
async function failingRun(dom: TestDomain, out: string): Promise<BackupDocument['results'][number]> {
  const run = await backupCli(['--domains', dom.name, '--output', out, '--json', '--engine', 'push'], { lockDir });
  const doc = expectDocument(run, 2);
  expect(doc.results[0]!.result).toBe('failed');
  return doc.results[0]!;
}

describe('a second copy with --engine push', () => {
  it('two folders, alternating runs: each chain continues as incremental, keeps its checkpoints, and every point restores', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
    const [nas, usb] = [path.join(dom.dir, 'nas'), path.join(dom.dir, 'usb')];
    const points: Point[] = [];
    const levels: Record<string, string[]> = { [nas]: [], [usb]: [] };
    const order = [nas, usb, nas, usb, nas, usb];
    for (const [i, out] of order.entries()) {
      const { result, point } = await writeAndBackUp(dom, out, 0x21 + i, 2 * i);
      levels[out]!.push(result.level!);
      // A run into one folder never repairs (deletes) the other folder's checkpoints.
      expect(result.repairs ?? []).toEqual([]);
      points.push(point);
    }
    expect(levels[nas]).toEqual(['full', 'inc', 'inc']);
    expect(levels[usb]).toEqual(['full', 'inc', 'inc']);
    // Both chains' checkpoints are in libvirt and QEMU, one chain id per folder.
    const ids = points.map((p) => p.id.split('/')[1]!);
    expect([...(await checkpointNames(dom))].sort()).toEqual([...ids].sort());
    expect(await qemuBitmapNames(dom)).toEqual([...ids].sort());
    expect(new Set(ids.filter((_, i) => order[i] === nas).map((cp) => cp.split('.')[1])).size).toBe(1);
    expect(new Set(ids.map((cp) => cp.split('.')[1])).size).toBe(2);
    for (const [i, p] of points.entries()) await expectRestores(dom, p, i);
  });

  it('a run into a folder QEMU cannot traverse fails before any repair, says which folder and --engine virtnbdbackup; the first chain continues', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
    const nas = path.join(dom.dir, 'nas');
    const locked = path.join(dom.dir, 'private');
    fs.mkdirSync(locked, { mode: 0o700 });
    fs.chmodSync(locked, 0o700);
    const usb = path.join(locked, 'usb');
    const points: Point[] = [];
    points.push((await writeAndBackUp(dom, nas, 0x41, 0)).point);
    points.push((await writeAndBackUp(dom, nas, 0x42, 4)).point);
    const before = await checkpointNames(dom);

    const failed = await failingRun(dom, usb);
    expect(failed.reason).toContain(`QEMU (user libvirt-qemu) cannot traverse ${locked}`);
    expect(failed.reason).toContain('--engine virtnbdbackup');
    expect(failed.reason).not.toMatch(/run vmkeep as root/);
    // Nothing was deleted or created for the failed run.
    expect(await checkpointNames(dom)).toEqual(before);
    expect(await qemuBitmapNames(dom)).toEqual([...before].sort());

    const { result, point } = await writeAndBackUp(dom, nas, 0x43, 8);
    expect(result.level).toBe('inc');
    expect(result.repairs ?? []).toEqual([]);
    points.push(point);
    for (const [i, p] of points.entries()) await expectRestores(dom, p, i);
    // The way out the message offers works for that folder.
    const other = expectDocument(await backupCli(['--domains', dom.name, '--output', usb, '--json', '--engine', 'virtnbdbackup'], { lockDir })).results[0]!;
    expect(other).toMatchObject({ result: 'done', level: 'full' });
  });

  it('a file system mounted at the output after the domain started: QEMU cannot see it; the message says so and what to do', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
    const nas = path.join(dom.dir, 'nas');
    const points: Point[] = [];
    points.push((await writeAndBackUp(dom, nas, 0x61, 0)).point);
    const before = await checkpointNames(dom);

    const usb = path.join(dom.dir, 'usb');
    fs.mkdirSync(usb, { mode: 0o755 });
    fs.chmodSync(usb, 0o755);
    await runner.run('mount', ['-t', 'tmpfs', '-o', 'size=256m,mode=0755', 'tmpfs', usb]);
    try {
      // The repro is real only where libvirt gives QEMU a private mount namespace that mounts made
      // afterwards do not reach: QEMU sees the empty folder under the mount, not the tmpfs.
      const pid = Number(fs.readFileSync(`/run/libvirt/qemu/${dom.name}.pid`, 'utf8').trim());
      expect(fs.readlinkSync(`/proc/${pid}/ns/mnt`)).not.toBe(fs.readlinkSync('/proc/self/ns/mnt'));
      expect(fs.statSync(`/proc/${pid}/root${usb}`).dev).not.toBe(fs.statSync(usb).dev);

      const failed = await failingRun(dom, usb);
      expect(failed.reason).toContain(usb);
      expect(failed.reason).toMatch(/mounted after the domain started/);
      expect(failed.reason).toMatch(/restart the domain/i);
      expect(failed.reason).toContain('--engine virtnbdbackup');
      expect(await checkpointNames(dom)).toEqual(before);

      // The first folder's chain was left alone: it continues.
      const { result, point } = await writeAndBackUp(dom, nas, 0x62, 8);
      expect(result.level).toBe('inc');
      points.push(point);
      for (const [i, p] of points.entries()) await expectRestores(dom, p, i);

      // virtnbdbackup writes the files itself: that engine works into the new mount.
      const other = expectDocument(await backupCli(['--domains', dom.name, '--output', usb, '--json', '--engine', 'virtnbdbackup'], { lockDir })).results[0]!;
      expect(other).toMatchObject({ result: 'done', level: 'full' });
    } finally {
      await runner.run('umount', [usb]).catch(() => runner.run('umount', ['-l', usb]));
    }
  });

  it('a push full into a second folder that fills up during the job: only its own checkpoint goes; the first chain continues', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }] });
    const nas = path.join(dom.dir, 'nas');
    const usb = path.join(dom.dir, 'usb');
    fs.mkdirSync(usb, { mode: 0o755 });
    // Mounted before the domain starts, so QEMU sees it: the failure is the full disk alone.
    await runner.run('mount', ['-t', 'tmpfs', '-o', 'size=31m,mode=0755', 'tmpfs', usb]);
    try {
      await startDomain(dom);
      const points: Point[] = [];
      await writeGuestData(dom, 'vda', { pattern: 0x71, offset: 0, length: 30 * MiB });
      points.push((await writeAndBackUp(dom, nas, 0x72, 40)).point);
      points.push((await writeAndBackUp(dom, nas, 0x73, 44)).point);
      const before = await checkpointNames(dom);

      // About 32 MiB to write into 31 MiB: not clearly short beforehand (90% would fit), so the job starts and fails.
      const failed = await failingRun(dom, usb);
      expect(failed.reason).toMatch(/no space left in/);
      expect(await checkpointNames(dom)).toEqual(before);
      expect(await qemuBitmapNames(dom)).toEqual([...before].sort());

      const { result, point } = await writeAndBackUp(dom, nas, 0x74, 48);
      expect(result.level).toBe('inc');
      points.push(point);
      for (const [i, p] of points.entries()) await expectRestores(dom, p, i);
    } finally {
      await destroyDomain(dom).catch(() => undefined);
      await runner.run('umount', [usb]).catch(() => runner.run('umount', ['-l', usb]));
    }
  });
});
