/**
 * endBackupJob against a FakeRunner: the escalation from domjobabort to `virsh blockjob --abort`
 * for the libvirt 9.0 job that QEMU concluded but libvirt never ended. domjobinfo answers are
 * recorded outputs (fixtures/scrub/running-job: a backup job; fixtures/virsh: no job).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createContext } from '../../../src/app/context.js';
import { endBackupJob } from '../../../src/backup/execute-repairs.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';

const URI = 'qemu:///system';
const DOM = 'vm1';
const fx = (path: string) => readFileSync(new URL(`../../../fixtures/${path}`, import.meta.url), 'utf8');
const JOB = fx('scrub/running-job/before/domjobinfo.txt');
const NO_JOB = fx('virsh/domjobinfo-no-job.txt');

const jobInfo = { tool: 'virsh', argv: ['-c', URI, 'domjobinfo', '--domain', DOM] };
const abort = { tool: 'virsh', argv: ['-c', URI, 'domjobabort', '--domain', DOM] };
const blockAbort = (disk: string) => ({ tool: 'virsh', argv: ['-c', URI, 'blockjob', '--domain', DOM, '--path', disk, '--abort'] });
const fast = { graceMs: 0, pollMs: 0, stepMs: 0 };

function setup() {
  const runner = new FakeRunner();
  const ctx = createContext({ runner, uri: URI, now: () => new Date(0), log: createMemoryLogger(), interactive: false, signal: new AbortController().signal });
  return { runner, ctx };
}

describe('endBackupJob', () => {
  it('does nothing when no job is active', async () => {
    const { runner, ctx } = setup();
    runner.expect({ ...jobInfo, result: { stdout: NO_JOB } });
    expect(await endBackupJob(ctx, DOM, ['vda'], fast)).toBeUndefined();
    expect(runner.calls).toHaveLength(1);
  });

  it('ends a job with domjobabort when libvirt listens', async () => {
    const { runner, ctx } = setup();
    runner.expect({ ...jobInfo, result: { stdout: JOB } });
    runner.expect(abort);
    runner.expect({ ...jobInfo, result: { stdout: NO_JOB } });
    expect(await endBackupJob(ctx, DOM, ['vda'], fast)).toBe('ended with virsh domjobabort');
    expect(runner.unmet()).toEqual([]);
  });

  it('falls back to blockjob --abort on every disk when domjobabort changes nothing', async () => {
    const { runner, ctx } = setup();
    runner.expect({ ...jobInfo, result: { stdout: JOB } });
    runner.expect(abort);
    runner.expect({ ...jobInfo, result: { stdout: JOB } });
    // It fails ("still being ended") exactly when it works; vmkeep reads the outcome from domjobinfo.
    runner.expect({ ...blockAbort('vda'), result: { exitCode: 1 } });
    runner.expect(blockAbort('vdb'));
    runner.expect({ ...jobInfo, result: { stdout: NO_JOB } });
    expect(await endBackupJob(ctx, DOM, ['vda', 'vdb'], fast)).toBe('libvirt ignored virsh domjobabort; ended with virsh blockjob --abort on vda, vdb');
    expect(runner.calls.map((c) => c.argv[2])).toEqual(['domjobinfo', 'domjobabort', 'domjobinfo', 'blockjob', 'blockjob', 'domjobinfo']);
  });

  it('says what it tried when the job does not end', async () => {
    const { runner, ctx } = setup();
    runner.expect({ ...jobInfo, result: { stdout: JOB }, repeat: true });
    runner.expect(abort);
    runner.expect(blockAbort('vda'));
    await expect(endBackupJob(ctx, DOM, ['vda'], fast)).rejects.toThrow(
      'the backup job on vm1 does not end (tried virsh domjobabort and virsh blockjob --abort on vda); check virsh domjobinfo vm1: restarting libvirtd or the domain ends it',
    );
  });

  it('waits out the grace time for a job that ends by itself', async () => {
    const { runner, ctx } = setup();
    runner.expect({ ...jobInfo, result: { stdout: JOB } });
    runner.expect({ ...jobInfo, result: { stdout: NO_JOB } });
    expect(await endBackupJob(ctx, DOM, ['vda'], { graceMs: 5_000, pollMs: 0 })).toBeUndefined();
  });
});
