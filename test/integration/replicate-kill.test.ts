/**
 * kill -9 during `vmkeep replicate` leaves restic's lock in the repository. Every later command
 * on it is refused; restic's own words ("restic reported errors", exit 1) read like a damaged
 * repository. vmkeep must say, in its text output, that it is a repository lock left by an
 * interrupted run and give the command that clears it; that command then lets replicate go on.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { runVmkeep } from '../helpers/cli.js';
import { createTestDomain, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { startVmkeep } from '../helpers/vmkeep-process.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const lockDir = useLockDirAndCleanup();
const runner = createExecaRunner();
let dom: TestDomain;
let out: string;
let repo: string;
let pwFile: string;

beforeAll(async () => {
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 128 }], start: true });
  out = path.join(dom.dir, 'out');
  // Data restic takes a moment over (random bytes: no dedup, little compression).
  for (let i = 0; i < 6; i++) await writeGuestData(dom, 'vda', { pattern: (0x31 + i * 37) & 0xff, offset: i * 16 * MiB, length: 16 * MiB });
  expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir }));
  repo = path.join(dom.dir, 'repo');
  pwFile = path.join(dom.dir, 'restic-password');
  fs.writeFileSync(pwFile, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
  const init = await runner.run('restic', ['init'], { env: { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: pwFile } });
  expect(init.exitCode).toBe(0);
}, 300_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pids whose parent is `pid` (from /proc). */
function childPids(pid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return (
          fs
            .readFileSync(`/proc/${n}/stat`, 'utf8')
            .replace(/^.*\) /s, '')
            .split(' ')[1] === String(pid)
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Wait for an orphaned restic to finish (it ends on its own), at most 2 minutes. */
async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 1200 && fs.existsSync(`/proc/${pid}`); i++) await sleep(100);
}
const env = () => ({ VMKEEP_LOCK_DIR: lockDir });

describe('kill -9 during replicate', () => {
  it("names restic's stale lock and the command that clears it, in the text output", async () => {
    const run = startVmkeep(['replicate', '--output', out, '--to', repo, '--password-file', pwFile], { env: env() });
    let ended = false;
    void run.finished.then(() => (ended = true));
    // restic has taken its lock once a file shows in the repository's locks/ folder.
    const locks = path.join(repo, 'locks');
    while (!ended && fs.readdirSync(locks).length === 0) await sleep(5);
    expect(ended, 'replicate ended before restic took its lock').toBe(false);
    // vmkeep alone, as the OOM killer does: its restic goes on as an orphan, holding the lock.
    const resticPids = childPids(run.pid);
    run.signal('SIGKILL');
    await run.finished;
    expect(fs.readdirSync(locks).length).toBeGreaterThan(0);
    const unlock = `restic -r ${repo} --password-file ${pwFile} unlock`;
    const verify = await runVmkeep(['verify', '--from', repo, '--password-file', pwFile], { env: env() });
    expect(verify.code, verify.stdout + verify.stderr).toBe(75);
    const said = verify.stdout + verify.stderr;
    expect(said).toMatch(/a repository lock left by an interrupted run/);
    expect(said).toContain(unlock);
    expect(said).not.toMatch(/restic reported errors/);

    // The command given clears it: replicate then sends the point.
    const cleared = await runner.run('restic', ['-r', repo, '--password-file', pwFile, 'unlock']);
    expect(cleared.exitCode).toBe(0);
    for (const pid of resticPids) await waitGone(pid);
    const after = await runVmkeep(['replicate', '--output', out, '--to', repo, '--password-file', pwFile], { env: env() });
    expect(after.code, after.stdout + after.stderr).toBe(0);
  }, 600_000);
});
