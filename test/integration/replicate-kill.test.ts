/**
 * kill -9 during `vmkeep replicate` leaves restic's lock in the repository. Every later command
 * on it is refused; restic's own words ("restic reported errors", exit 1) read like a damaged
 * repository. vmkeep must say, in its text output, that it is a repository lock left by an
 * interrupted run and give the command that clears it; that command then lets replicate go on.
 * restic is held with SIGSTOP the moment its lock shows, so the lock is there for each step
 * however quickly restic would have moved on.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
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
  // 96 MiB for restic to read (one byte pattern per 16 MiB: it dedups and compresses them well).
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

/** A process's state letter from /proc (R running, S sleeping, T stopped, Z zombie); undefined once it is gone. */
function stateOf(pid: number): string | undefined {
  try {
    return fs
      .readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ')[0];
  } catch {
    return undefined;
  }
}

/** A process's argv from /proc; empty once it is gone. */
function argvOf(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** Wait until a process is gone (reaped, not a zombie), at most 2 minutes. */
async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 1200 && fs.existsSync(`/proc/${pid}`); i++) await sleep(100);
}
const env = () => ({ VMKEEP_LOCK_DIR: lockDir });

describe('kill -9 during replicate', () => {
  it("names restic's stale lock and the command that clears it, in the text output", async () => {
    const run = startVmkeep(['replicate', '--output', out, '--to', repo, '--password-file', pwFile], { env: env() });
    let ended = false;
    void run.finished.then(() => (ended = true));
    // restic has taken its lock once a file shows in the repository's locks/ folder. Each of
    // replicate's restic calls holds one; the first (snapshots) for a moment only. Once restic
    // backup sends the point and holds its lock, vmkeep and its restic are stopped, and the test
    // goes on once they are (a signal takes a moment to stop a process that is running).
    const locks = path.join(repo, 'locks');
    let resticPids: number[] = [];
    while (!ended && resticPids.length === 0) {
      const sending = childPids(run.pid).filter((p) => argvOf(p).includes('backup'));
      if (sending.length > 0 && fs.readdirSync(locks).length > 0) {
        process.kill(-run.pid, 'SIGSTOP');
        resticPids = sending;
      } else await sleep(5);
    }
    expect(ended, 'replicate ended before restic backup took its lock').toBe(false);
    // Stopped (T), or already ended (Z, gone): then the lock check below says what was missed.
    while ([run.pid, ...resticPids].some((p) => !['T', 'Z', undefined].includes(stateOf(p)))) await sleep(1);
    onTestFinished(() => {
      for (const pid of resticPids.filter((p) => fs.existsSync(`/proc/${p}`))) process.kill(pid, 'SIGKILL'); // a stopped orphan never ends by itself
    });
    expect(fs.readdirSync(locks).length, 'restic still has its lock once it is held').toBeGreaterThan(0);
    const holder = `restic pid (${resticPids.join('|')}) on `;
    // vmkeep alone, as the OOM killer does: its restic is left an orphan, holding the lock (still
    // held: running on, it would end within moments, with or without its lock).
    run.signal('SIGKILL');
    await run.finished;
    const unlock = `restic -r ${repo} --password-file ${pwFile} unlock`;
    const expectRefusedNaming = async (lock: RegExp) => {
      const verify = await runVmkeep(['verify', '--from', repo, '--password-file', pwFile], { env: env() });
      expect(verify.code, verify.stdout + verify.stderr).toBe(75);
      const said = verify.stdout + verify.stderr;
      expect(said).toMatch(lock);
      expect(said).toContain(unlock);
      expect(said).not.toMatch(/restic reported errors/);
    };
    // While the orphan lives, its lock is named with what it is once that run has ended.
    await expectRefusedNaming(new RegExp(`is locked by ${holder}[^;]*; if that run has ended, it is a repository lock left by an interrupted run`));
    // The orphan dies where it was held, as the OOM killer's next pick would: its lock is stale.
    for (const pid of resticPids) process.kill(pid, 'SIGKILL');
    for (const pid of resticPids) await waitGone(pid);
    await expectRefusedNaming(new RegExp(`holds a repository lock left by an interrupted run \\(${holder}.* is gone\\)`));

    // The command given clears it: replicate then sends the point.
    const cleared = await runner.run('restic', ['-r', repo, '--password-file', pwFile, 'unlock']);
    expect(cleared.exitCode).toBe(0);
    expect(fs.readdirSync(locks)).toEqual([]);
    const after = await runVmkeep(['replicate', '--output', out, '--to', repo, '--password-file', pwFile], { env: env() });
    expect(after.code, after.stdout + after.stderr).toBe(0);
  }, 600_000);
});
