/**
 * Interrupted backups on a 1 GiB disk holding at least 512 MiB of data: SIGINT and kill -9 of
 * the whole vmkeep process group in the middle of a full, kill -9 and SIGTERM in the middle of
 * an incremental. After each, the next run must exit 0, and every restore point recorded before
 * and after must restore byte-identically (virtnbdrestore, compared with reference copies).
 *
 * One domain carries the whole story to keep CI time down: the data is written once, in chunks
 * of at most 64 MiB, and each run is interrupted as soon as its .partial file has grown a little.
 * QEMU reads the disk at a set pace while the run to be interrupted copies (withPacedDiskReads),
 * so the interruption lands in the copy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, checkpointNames, expectDocument, jobActive, makeLockDir, readManifestJson } from '../helpers/backup-run.js';
import {
  cleanupAll,
  createTestDomain,
  destroyDomain,
  domainState,
  referenceCopy,
  withPacedDiskReads,
  writeGuestData,
  type TestDomain,
} from '../helpers/libvirt.js';
import { expectPointRestores } from '../helpers/restore-point.js';
import { startVmkeep, waitForPartial, type FinishedRun, type RunningVmkeep } from '../helpers/vmkeep-process.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
let lockDir: string;
let dom: TestDomain;
let out: string;
let args: string[];
let chainDir: string;

beforeAll(async () => {
  lockDir = makeLockDir();
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 1024 }], start: true });
  out = path.join(dom.dir, 'out');
  args = ['--domains', dom.name, '--output', out, '--json'];
});
afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

/**
 * How fast QEMU may read the disk while a run to be interrupted copies: the interruptions come
 * after 1 to 16 MiB of 128 to 512 MiB, seconds before the copy could end. Without a limit, with
 * KVM, virtnbdbackup copies a few hundred MiB a second, and a signal sent "mid-copy" by a
 * busy test process could come after the copy (exit 0 instead of 130, a recorded point instead of
 * a killed run).
 */
const COPY_BYTES_PER_SEC = 8 * MiB;

/**
 * Start a backup run in its own process group while QEMU reads the disk at COPY_BYTES_PER_SEC,
 * wait until its .partial file has `minBytes`, `act` on it, and return how it ended. The pace
 * holds until the run has ended, so a signal's cleanup also meets a copy still under way.
 * `persistent` for a shut-off domain: the pace then holds for the QEMU the run starts.
 */
async function interruptWhileCopying(minBytes: number, act: (run: RunningVmkeep) => void, opts: { persistent?: boolean } = {}): Promise<FinishedRun> {
  return withPacedDiskReads(
    dom,
    COPY_BYTES_PER_SEC,
    async () => {
      const run = startVmkeep(['backup', ...args], { env: { VMKEEP_LOCK_DIR: lockDir } });
      await waitForPartial(out, minBytes, run);
      act(run);
      return run.finished;
    },
    opts,
  );
}

/** No virtnbdbackup of this test's output is left running. */
async function virtnbdbackupProcesses(): Promise<string[]> {
  const { stdout } = await runner.run('ps', ['-eo', 'pid,args']);
  return stdout.split('\n').filter((l) => l.includes('virtnbdbackup') && l.includes(out));
}

function expectRestores(checkpoint: string, reference: string): Promise<void> {
  return expectPointRestores(chainDir, checkpoint, reference, { scratchDir: dom.dir });
}

function expectInterrupted(result: FinishedRun): void {
  expect(result.code, result.stderr).toBe(130);
  expect(result.stderr).toMatch(/received, stopping cleanly/);
  // --json: stdout is still one JSON document, saying what happened.
  const doc = JSON.parse(result.stdout) as { results: Array<{ result: string; reason?: string }> };
  expect(doc.results).toMatchObject([{ result: 'failed', reason: expect.stringMatching(/interrupted/) }]);
}

describe('vmkeep backup: interrupted runs on a 1 GiB disk', () => {
  const refs: string[] = [];

  it('SIGINT, then kill -9 of the process group, mid-full: the next run makes a full that restores', async () => {
    for (let i = 0; i < 4; i += 1) {
      await writeGuestData(dom, 'vda', { pattern: 0x10 + i, offset: i * 128 * MiB, length: 128 * MiB });
    }
    refs.push(path.join(dom.dir, 'ref0.qcow2'));
    await referenceCopy(dom, 'vda', refs[0]!);

    // SIGINT (Ctrl-C) to vmkeep: it stops virtnbdbackup, records the interruption, exits 130.
    const interrupted = await interruptWhileCopying(16 * MiB, (run) => run.signal('SIGINT'));
    expectInterrupted(interrupted);
    expect(await virtnbdbackupProcesses()).toEqual([]);
    expect(await jobActive(dom)).toBe(false);
    chainDir = path.join(
      out,
      dom.name,
      fs.readdirSync(path.join(out, dom.name)).find((f) => !f.startsWith('.'))!,
    );
    const afterSigint = readManifestJson(chainDir);
    expect(afterSigint.running).toBeUndefined();
    expect(afterSigint.events.map((e) => e.kind)).toContain('interrupted');

    // kill -9 of vmkeep and virtnbdbackup together: nothing gets to clean up.
    const killed = await interruptWhileCopying(16 * MiB, (run) => run.killGroup());
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(await jobActive(dom)).toBe(true);

    const doc = expectDocument(await backupCli(args, { lockDir }));
    expect(doc.results).toMatchObject([{ result: 'done', level: 'full', checkpoint: 'virtnbdbackup.0' }]);
    const repairs = doc.results[0]!.repairs!.join('\n');
    expect(repairs).toMatch(/abort the active backup job/);
    expect(repairs).toMatch(/vda\.full\.data\.partial/);
    expect(await jobActive(dom)).toBe(false);
    expect(await checkpointNames(dom)).toEqual(['virtnbdbackup.0']);
    await expectRestores('virtnbdbackup.0', refs[0]!);
  });

  it('kill -9 of the process group mid-incremental: the next incremental has everything written since the full', async () => {
    await writeGuestData(dom, 'vda', { pattern: 0x21, offset: 512 * MiB, length: 128 * MiB });
    await writeGuestData(dom, 'vda', { pattern: 0x22, offset: 64 * MiB, length: 128 * MiB });
    const killed = await interruptWhileCopying(4 * MiB, (run) => run.killGroup());
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(await checkpointNames(dom)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);

    // Written after the kill: must land in the repaired incremental too.
    await writeGuestData(dom, 'vda', { pattern: 0x23, offset: 900 * MiB, length: 8 * MiB });
    refs.push(path.join(dom.dir, 'ref1.qcow2'));
    await referenceCopy(dom, 'vda', refs[1]!);
    const doc = expectDocument(await backupCli(args, { lockDir }));
    expect(doc.results).toMatchObject([{ result: 'done', level: 'inc', checkpoint: 'virtnbdbackup.1', dataBytes: 264 * MiB }]);
    expect(doc.results[0]!.repairs!.join('\n')).toMatch(/delete checkpoint virtnbdbackup\.1 .*did not finish/);
    // The killed run is on record, as an interruption.
    expect(readManifestJson(chainDir).events.map((e) => e.message)).toContainEqual(
      expect.stringMatching(/^inc backup: the inc run started at .* ended without finishing: killed or crashed$/),
    );
    await expectRestores('virtnbdbackup.1', refs[1]!);
  });

  it('SIGTERM mid-incremental: exit 130, the child stopped cleanly, and the next run works', async () => {
    await writeGuestData(dom, 'vda', { pattern: 0x31, offset: 256 * MiB, length: 256 * MiB });
    expectInterrupted(await interruptWhileCopying(1 * MiB, (run) => run.signal('SIGTERM')));
    expect(await virtnbdbackupProcesses()).toEqual([]);
    expect(await jobActive(dom)).toBe(false);
    expect(readManifestJson(chainDir).events.at(-1)).toMatchObject({ kind: 'interrupted' });

    refs.push(path.join(dom.dir, 'ref2.qcow2'));
    await referenceCopy(dom, 'vda', refs[2]!);
    const doc = expectDocument(await backupCli(args, { lockDir }));
    expect(doc.results).toMatchObject([{ result: 'done', level: 'inc', checkpoint: 'virtnbdbackup.2', dataBytes: 256 * MiB }]);
    await expectRestores('virtnbdbackup.2', refs[2]!);
    // The point recorded before the interruptions still restores after all the repairs.
    await expectRestores('virtnbdbackup.0', refs[0]!);
    expect(readManifestJson(chainDir).points.map((p) => p.checkpoint)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2']);
  });

  it('kill -9 while backing up a shut-off domain: the next run backs it up and shuts it off again', async () => {
    await writeGuestData(dom, 'vda', { pattern: 0x41, offset: 640 * MiB, length: 128 * MiB });
    await destroyDomain(dom);
    refs.push(path.join(dom.dir, 'ref3.qcow2'));
    await referenceCopy(dom, 'vda', refs[3]!);
    // Paced in the definition too: the run starts the domain's QEMU.
    const killed = await interruptWhileCopying(1 * MiB, (run) => run.killGroup(), { persistent: true });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    // vmkeep had started it paused for the backup and had no chance to shut it off.
    expect(await domainState(dom)).toBe('paused');

    const doc = expectDocument(await backupCli(args, { lockDir }));
    expect(doc.results).toMatchObject([{ result: 'done', level: 'inc', checkpoint: 'virtnbdbackup.3', dataBytes: 128 * MiB }]);
    expect(doc.results[0]!.reasons!.join(' ')).toMatch(/paused because an interrupted vmkeep run started it/);
    expect(await domainState(dom)).toBe('shut off');
    await expectRestores('virtnbdbackup.3', refs[3]!);
  });
});
