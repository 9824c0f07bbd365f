/**
 * Fault suite (slow, gated): libvirtd killed and restarted while a backup copies. It stops the
 * one libvirtd of the machine, so it runs only with VMKEEP_TEST_LIBVIRTD_RESTART=1 (CI sets it
 * when nothing else uses libvirtd), and only where the test host started libvirtd by hand
 * (`libvirtd -d`, pid in /run/libvirtd.pid, no init system as PID 1): a libvirtd an init system
 * manages is never touched. After the restart the next backup runs unaided and succeeds,
 * `verify` passes, every point restores byte-identically and nothing vmkeep made is left.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { PointBook, expectNothingLeft, expectVerifyPasses } from '../helpers/fault-checks.js';
import { cleanupAll, createTestDomain, referenceCopy, virsh, writeGuestData } from '../helpers/libvirt.js';
import { startVmkeep, waitForPartial } from '../helpers/vmkeep-process.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const PID_FILE = '/run/libvirtd.pid';

/** Why this test must not run here, or undefined when it may. */
function whyNot(): string | undefined {
  if (process.env['VMKEEP_TEST_LIBVIRTD_RESTART'] !== '1') return 'VMKEEP_TEST_LIBVIRTD_RESTART=1 is not set (it stops the shared libvirtd)';
  const init = fs.existsSync('/proc/1/comm') ? fs.readFileSync('/proc/1/comm', 'utf8').trim() : '';
  if (init === 'systemd' || init === 'init' || init === 'openrc-init') return `PID 1 is ${init}: libvirtd belongs to the init system`;
  if (!fs.existsSync(PID_FILE)) return `${PID_FILE} is missing: libvirtd was not started by hand`;
  const pid = Number(fs.readFileSync(PID_FILE, 'utf8').trim());
  const cmd = fs.existsSync(`/proc/${pid}/cmdline`) ? fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]! : '';
  if (path.basename(cmd) !== 'libvirtd') return `${PID_FILE} names pid ${pid}, which is not libvirtd`;
  return undefined;
}
const skipReason = whyNot();

const runner = createExecaRunner();
let lockDir: string;
beforeAll(() => {
  lockDir = makeLockDir();
});
afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(skipReason !== undefined)(`slow faults: libvirtd killed and restarted${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('mid-backup: the run fails, libvirtd comes back, the next run recovers unaided', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 128 }], start: true });
    const out = path.join(dom.dir, 'out');
    const book = new PointBook(dom, out);
    await writeGuestData(dom, 'vda', { pattern: 0x91, offset: 0, length: 48 * MiB });
    const run = startVmkeep(['backup', '--domains', dom.name, '--output', out, '--json'], { env: { VMKEEP_LOCK_DIR: lockDir } });
    await waitForPartial(out, 256 * 1024, run);

    const pid = Number(fs.readFileSync(PID_FILE, 'utf8').trim());
    process.kill(pid, 'SIGKILL');
    await waitFor(async () => !fs.existsSync(`/proc/${pid}`), 10_000, 'libvirtd to exit');
    // The same way scripts/setup-test-host.sh starts it.
    await runner.run('libvirtd', ['-d']);
    await waitFor(async () => (await virsh(['version']).then(() => true, () => false)), 30_000, 'libvirtd to answer');

    const failed = await run.finished;
    // Either way the run ends; a failure is recorded, a success is a point like any other.
    expect([0, 2]).toContain(failed.code);
    const ref = path.join(dom.dir, 'ref.qcow2');
    await referenceCopy(dom, 'vda', ref);
    const next = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir }));
    expect(next.results).toMatchObject([{ result: 'done' }]);
    await expectNothingLeft(dom, out, 'running', [run.pid]);
    await expectVerifyPasses(out, { VMKEEP_LOCK_DIR: lockDir });
    await book.checkNewPoints(ref);
  });
});

describe.runIf(skipReason !== undefined)('slow faults: libvirtd killed and restarted', () => {
  it.skip(`skipped: ${skipReason}`, () => undefined);
});
