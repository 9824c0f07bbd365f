/**
 * Fault suite (slow): the domain, QEMU or another run gets in the way.
 * - QEMU killed (SIGKILL) during a full and during an incremental, and between runs;
 * - the guest shuts itself down mid-run (QEMU quits by itself; the test guest has no OS, so QMP
 *   `quit` stands in for the guest's power-off);
 * - `virsh destroy` mid-full;
 * - two and three concurrent runs: on the same domain and output, on different domains and
 *   outputs, on the same domain into different outputs.
 * After each: the next backup runs unaided and succeeds, `verify` passes, every recorded point
 * restores byte-identically to its reference, and nothing vmkeep made is left. QEMU reads the disk
 * at a set pace while a run whose domain goes away mid-copy copies (withPacedDiskReads).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { PointBook, expectNothingLeft, expectVerifyPasses } from '../helpers/fault-checks.js';
import {
  createTestDomain,
  destroyDomain,
  domainState,
  qmp,
  referenceCopy,
  startDomain,
  withPacedDiskReads,
  writeGuestData,
  type TestDomain,
} from '../helpers/libvirt.js';
import { startVmkeep, waitForLockHolder, waitForPartial, type FinishedRun } from '../helpers/vmkeep-process.js';
import { acquireLock, domainLockFile } from '../../src/util/lock.js';

const lockDir = useLockDirAndCleanup();

const env = () => ({ VMKEEP_LOCK_DIR: lockDir });

async function waitForPid(file: string, pid: number): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim() === String(pid)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${file} never named pid ${pid}`);
}

async function killQemu(dom: TestDomain): Promise<void> {
  const pid = Number(fs.readFileSync(`/run/libvirt/qemu/${dom.name}.pid`, 'utf8').trim());
  process.kill(pid, 'SIGKILL');
  await waitShutOff(dom);
}

async function waitShutOff(dom: TestDomain): Promise<void> {
  for (let i = 0; i < 200 && (await domainState(dom)) !== 'shut off'; i += 1) await new Promise((r) => setTimeout(r, 50));
  expect(await domainState(dom)).toBe('shut off');
}

/**
 * How fast QEMU may read the disk while a run copies 128 or 160 MiB and its domain goes away
 * after the first 256 KiB: the copy would take 16 s or more. Without a limit, with KVM,
 * virtnbdbackup copies that much in about half a second, and a loaded test process could stop QEMU
 * after the run had finished (exit 0 instead of the failure this is about).
 */
const COPY_BYTES_PER_SEC = 8 * MiB;

/**
 * Start `vmkeep ARGS` while QEMU reads the disk at COPY_BYTES_PER_SEC; once its `.partial` file
 * has 256 KiB, `stop` the domain (it is shut off when that returns); then how the run ended.
 */
async function stopDomainWhileCopying(
  dom: TestDomain,
  out: string,
  args: string[],
  env: Record<string, string>,
  stop: () => Promise<void>,
): Promise<FinishedRun> {
  return withPacedDiskReads(dom, COPY_BYTES_PER_SEC, async () => {
    const run = startVmkeep(args, { env });
    await waitForPartial(out, 256 * 1024, run);
    await stop();
    return run.finished;
  });
}

/** The next run, unaided, then every check; the domain is left in `state`. */
async function recoverAndCheck(dom: TestDomain, out: string, book: PointBook, state: 'running' | 'shut off', now?: string): Promise<string> {
  const ref = path.join(dom.dir, `ref-${book.size}-${Date.now()}.qcow2`);
  await referenceCopy(dom, 'vda', ref);
  const next = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir, ...(now ? { now } : {}) }));
  expect(next.results).toMatchObject([{ result: 'done' }]);
  await expectNothingLeft(dom, out, state);
  await expectVerifyPasses(out, env());
  expect((await book.checkNewPoints(ref)).length).toBeGreaterThanOrEqual(1);
  return next.results[0]!.level!;
}

describe('slow faults: the domain goes away mid-run', () => {
  it('QEMU killed during a full, during an incremental and between runs; the guest shuts down mid-run; destroy mid-full', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 256 }], start: true });
    const out = path.join(dom.dir, 'out');
    const book = new PointBook(dom, out);
    const args = ['backup', '--domains', dom.name, '--output', out, '--json'];

    // QEMU killed during a full: the run fails in vmkeep's words, naming the state now.
    await writeGuestData(dom, 'vda', { pattern: 0x61, offset: 0, length: 160 * MiB });
    let failed = await stopDomainWhileCopying(dom, out, args, env(), () => killQemu(dom));
    expect(failed.code, failed.stderr).toBe(2);
    expect(JSON.parse(failed.stdout).results[0].reason).toMatch(
      new RegExp(`^domain ${dom.name} stopped during the full backup of ${dom.name} \\(its QEMU process exited or it was shut down\\); it is now shut off`),
    );
    // Shut off: it is started paused for the backup and shut off again.
    await recoverAndCheck(dom, out, book, 'shut off');

    // QEMU killed during an incremental.
    await startDomain(dom);
    await writeGuestData(dom, 'vda', { pattern: 0x62, offset: 40 * MiB, length: 128 * MiB });
    failed = await stopDomainWhileCopying(dom, out, args, env(), () => killQemu(dom));
    expect(failed.code, failed.stderr).toBe(2);
    expect(JSON.parse(failed.stdout).results[0].reason).toMatch(/stopped during the inc backup .* it is now shut off/);
    // QEMU lost its bitmaps: a new full chain.
    expect(await recoverAndCheck(dom, out, book, 'shut off')).toBe('full');

    // QEMU killed between runs.
    await startDomain(dom);
    await writeGuestData(dom, 'vda', { pattern: 0x63, offset: 80 * MiB, length: 4 * MiB });
    await killQemu(dom);
    expect(await recoverAndCheck(dom, out, book, 'shut off')).toBe('full');

    // The guest shuts itself down mid-run (QEMU quits cleanly).
    await startDomain(dom);
    await writeGuestData(dom, 'vda', { pattern: 0x64, offset: 8 * MiB, length: 128 * MiB });
    failed = await stopDomainWhileCopying(dom, out, args, env(), async () => {
      await qmp(dom, 'quit').catch(() => undefined);
      await waitShutOff(dom);
    });
    expect(failed.code, failed.stderr).toBe(2);
    expect(JSON.parse(failed.stdout).results[0].reason).toMatch(/^domain \S+ stopped during the inc backup/);
    await recoverAndCheck(dom, out, book, 'shut off');

    // virsh destroy mid-full (a new month starts a new chain).
    await startDomain(dom);
    await writeGuestData(dom, 'vda', { pattern: 0x65, offset: 50 * MiB, length: 128 * MiB });
    failed = await stopDomainWhileCopying(dom, out, args, { ...env(), VMKEEP_NOW: '2027-01-15T12:00:00Z' }, () => destroyDomain(dom));
    expect(failed.code, failed.stderr).toBe(2);
    await recoverAndCheck(dom, out, book, 'shut off', '2027-01-15T12:00:00Z');

    await book.restoreAll();
  });
});

describe('slow faults: concurrent runs', () => {
  it('three runs on one domain and output, two on different domains and outputs, two on one domain into two outputs', async () => {
    const a = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
    const b = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
    const outA = path.join(a.dir, 'out');
    const outB = path.join(b.dir, 'out');
    const bookA = new PointBook(a, outA);
    const bookB = new PointBook(b, outB);
    await writeGuestData(a, 'vda', { pattern: 0x81, offset: 0, length: 8 * MiB });
    await writeGuestData(b, 'vda', { pattern: 0x82, offset: 0, length: 8 * MiB });
    const refA0 = path.join(a.dir, 'ref-a0.qcow2');
    await referenceCopy(a, 'vda', refA0);

    // Three at once on one domain and output. The test holds the domain's lock so the three
    // overlap for sure: the first takes the output folder's lock and waits (--lock-wait), the
    // other two exit 75 naming its pid; then the first backs up.
    fs.mkdirSync(lockDir, { recursive: true });
    const held = await acquireLock(domainLockFile(lockDir, a.name), { waitMs: 0, what: 'test' });
    const first = startVmkeep(['backup', '--domains', a.name, '--output', outA, '--json', '--lock-wait', '120'], { env: env() });
    expect(await waitForLockHolder(path.join(outA, '.vmkeep.lock'))).toBe(first.pid);
    const others = await Promise.all([0, 1].map(() => startVmkeep(['backup', '--domains', a.name, '--output', outA, '--json'], { env: env() }).finished));
    held.release();
    const results = [await first.finished, ...others];
    expect(
      results.map((r) => r.code),
      results.map((r) => r.stderr).join('\n'),
    ).toEqual([0, 75, 75]);
    for (const r of others) expect(r.stderr).toMatch(new RegExp(`output folder \\S+ is locked by another vmkeep run \\(pid ${first.pid}\\)`));
    await expectNothingLeft(a, outA);
    await bookA.checkNewPoints(refA0);
    await recoverAndCheck(a, outA, bookA, 'running');

    // Different domains and outputs at once: both back up.
    await writeGuestData(a, 'vda', { pattern: 0x83, offset: 16 * MiB, length: 4 * MiB });
    await writeGuestData(b, 'vda', { pattern: 0x84, offset: 16 * MiB, length: 4 * MiB });
    const refA1 = path.join(a.dir, 'ref-a1.qcow2');
    const refB1 = path.join(b.dir, 'ref-b1.qcow2');
    await referenceCopy(a, 'vda', refA1);
    await referenceCopy(b, 'vda', refB1);
    const two = [
      startVmkeep(['backup', '--domains', a.name, '--output', outA, '--json'], { env: env() }),
      startVmkeep(['backup', '--domains', b.name, '--output', outB, '--json'], { env: env() }),
    ];
    const twoDone = await Promise.all(two.map((r) => r.finished));
    expect(twoDone.map((r) => r.code)).toEqual([0, 0]);
    await bookA.checkNewPoints(refA1);
    await bookB.checkNewPoints(refB1);
    await recoverAndCheck(a, outA, bookA, 'running');
    await recoverAndCheck(b, outB, bookB, 'running');

    // One domain into two outputs at once: the domain's lock lets one through (the test holds it
    // first so the two overlap for sure; the waiting one goes once it is free).
    await writeGuestData(a, 'vda', { pattern: 0x85, offset: 0, length: 8 * MiB });
    const outA2 = path.join(a.dir, 'out2');
    const held2 = await acquireLock(domainLockFile(lockDir, a.name), { waitMs: 0, what: 'test' });
    const waiting = startVmkeep(['backup', '--domains', a.name, '--output', outA, '--json', '--lock-wait', '120'], { env: env() });
    // The lock file still names the last holder until the new one writes its pid.
    await waitForPid(path.join(outA, '.vmkeep.lock'), waiting.pid);
    const blocked = await startVmkeep(['backup', '--domains', a.name, '--output', outA2, '--json'], { env: env() }).finished;
    held2.release();
    expect(blocked.code, blocked.stdout + blocked.stderr).toBe(75);
    expect(JSON.parse(blocked.stdout).results[0].reason).toMatch(new RegExp(`^domain ${a.name} is locked by another vmkeep run \\(pid ${process.pid}\\)`));
    expect((await waiting.finished).code).toBe(0);
    expect(fs.readdirSync(outA2).filter((f) => !f.startsWith('.'))).toEqual([]);
    // The next run into the first output goes on unaided.
    await recoverAndCheck(a, outA, bookA, 'running');
    await bookA.restoreAll();
    await bookB.restoreAll();
  });
});
