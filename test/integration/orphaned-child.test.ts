/**
 * kill -9 of vmkeep alone (as the OOM killer does it), not of its process group: its
 * virtnbdbackup keeps running, reparented to init. The next backup must end it before it reads or
 * repairs the chain (it says so), and the chain it leaves restores byte for byte with every
 * point's saved domain XML in place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MiB, backupCli, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { createTestDomain, imagesIdentical, referenceCopy, withPacedDiskReads, writeGuestData } from '../helpers/libvirt.js';
import { startVmkeep, waitForPartial } from '../helpers/vmkeep-process.js';

const lockDir = useLockDirAndCleanup();

/** Pids of virtnbdbackup processes backing up this domain (by its name as one argument). */
function virtnbdbackupsOf(domain: string): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const args = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      // The program itself (python3 /usr/bin/virtnbdbackup …), not a vmkeep whose argv says --engine virtnbdbackup.
      if (args.slice(0, 2).some((a) => a === 'virtnbdbackup' || a.endsWith('/virtnbdbackup')) && args.includes(domain)) pids.push(Number(name));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z /s.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe('kill -9 of vmkeep alone during a virtnbdbackup backup', () => {
  it('the next backup ends the orphaned virtnbdbackup before repairing, and every point restores byte-identically', async () => {
    const dom = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 640 }] });
    const out = path.join(dom.dir, 'out');
    // 600 MiB: the orphan has most of it left to copy when it is held.
    for (let i = 0; i < 10; i++) await writeGuestData(dom, 'vda', { pattern: 0x61 + i, offset: i * 60 * MiB, length: 60 * MiB });
    // Nothing writes to the disk from here on: this is what every later point must hold.
    const ref = path.join(dom.dir, 'ref.qcow2');
    await referenceCopy(dom, 'vda', ref);

    // QEMU reads the disk at 8 MiB/s until the orphan is held (below): with KVM, virtnbdbackup
    // copies the 600 MiB in two or three seconds, which a loaded test process could let pass before it
    // killed vmkeep and held the orphan.
    const orphans = await withPacedDiskReads(dom, 8 * MiB, async () => {
      const run = startVmkeep(['backup', '--domains', dom.name, '--output', out, '--json'], { env: { VMKEEP_LOCK_DIR: lockDir } });
      await waitForPartial(out, 256 * 1024, run);
      const pids = virtnbdbackupsOf(dom.name);
      expect(pids.length, 'virtnbdbackup runs while vmkeep copies').toBeGreaterThan(0);
      run.signal('SIGKILL');
      await run.finished;
      // vmkeep is gone; its virtnbdbackup is not (nothing ended it).
      expect(pids.filter(alive), 'the orphaned virtnbdbackup still runs after vmkeep was killed').not.toEqual([]);
      // Held where it is until the next run finds it: it would otherwise finish its copy before
      // that run starts, and there would be nothing left to end. The run must end a stopped
      // process as surely as a running one (it continues it after SIGTERM).
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      return pids;
    });
    expect(
      fs.existsSync(path.join(lockDir, fs.readdirSync(lockDir).find((f) => f.endsWith('.children')) ?? 'none')),
      'its pid is on record beside the domain lock',
    ).toBe(true);

    expect(orphans.filter(alive), 'the orphan still runs when the next backup starts').not.toEqual([]);
    onTestFinished(() => {
      for (const pid of orphans.filter(alive)) process.kill(pid, 'SIGKILL'); // a stopped orphan never ends by itself
    });
    const doc = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir }));
    const result = doc.results[0]!;
    expect(result.result).toBe('done');
    for (const pid of orphans)
      expect(result.notes ?? [], JSON.stringify(result)).toContain(
        `ended virtnbdbackup (pid ${pid}), left running for ${dom.name} by an interrupted vmkeep run, before repairing its chain`,
      );
    expect(orphans.filter(alive)).toEqual([]);
    expect(fs.readdirSync(lockDir).filter((f) => f.endsWith('.children'))).toEqual([]);

    // Nothing was written into the chain after this run recorded it: the newest point restores
    // byte for byte, with its saved domain XML, and verify passes.
    const chainDir = path.join(out, dom.name, result.chain!);
    expect(fs.readdirSync(chainDir)).toContain(`vmconfig.${result.checkpoint!}.xml`);
    const to = path.join(dom.dir, 'restored');
    const restored = await runVmkeep(['restore', '--domain', dom.name, '--output', out, '--to', to, '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stderr).not.toContain('no saved domain XML');
    const images = parseJsonOutput<{ images: Array<{ target: string; path: string }> }>(restored).images;
    expect(await imagesIdentical(images[0]!.path, ref)).toBe(true);
    const verify = await runVmkeep(['verify', '--domains', dom.name, '--output', out]);
    expect(verify.code, `${verify.stdout}\n${verify.stderr}`).toBe(0);
  });
});
