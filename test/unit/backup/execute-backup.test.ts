/**
 * executeBackup with a fake engine (it writes the files virtnbdbackup would) and a FakeRunner
 * for the libvirt calls around it: what the manifest says before, during and after a run, on
 * success, failure and interruption.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createContext } from '../../../src/app/context.js';
import type { BackupEngine, EngineRequest, EngineResult } from '../../../src/backup/engine/types.js';
import { executeBackup } from '../../../src/backup/execute-backup.js';
import { readManifest, writeManifest, type ChainManifest } from '../../../src/repository/manifest.js';
import { executeRepairs } from '../../../src/backup/execute-repairs.js';
import { planBackup, type DomainBackupPlan } from '../../../src/backup/plan-backup.js';
import { VmkeepError } from '../../../src/errors.js';
import type { Runner } from '../../../src/runner/runner.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { cps, disk, inventory } from './builders.js';

const URI = 'qemu:///system';
const fx = (path: string) => readFileSync(new URL(`../../../fixtures/${path}`, import.meta.url), 'utf8');
const NO_JOB = fx('virsh/domjobinfo-no-job.txt');
const JOB = fx('scrub/running-job/before/domjobinfo.txt');
const jobInfo = { tool: 'virsh', argv: ['-c', URI, 'domjobinfo', '--domain', 'vm1'] };
const now = new Date('2026-03-10T04:00');

let output: string;
beforeEach(() => {
  output = mkdtempSync(join(tmpdir(), 'vmkeep-exec-'));
});
afterEach(() => {
  rmSync(output, { recursive: true, force: true });
});

/** An engine that writes what virtnbdbackup writes for one full of vda, after `during` ran. */
class FakeEngine implements BackupEngine {
  readonly name = 'virtnbdbackup' as const;
  readonly checkpointFamily = 'virtnbdbackup' as const;
  readonly acceptsForeignCheckpoints = false;
  readonly freezesGuest = true;
  requests: EngineRequest[] = [];
  constructor(private readonly during: (req: EngineRequest) => void | Promise<void> = () => undefined) {}
  async version() {
    return '1.9.15';
  }
  async run(req: EngineRequest): Promise<EngineResult> {
    this.requests.push(req);
    await this.during(req);
    const write = (rel: string, text: string) => {
      mkdirSync(dirname(join(req.chainDir, rel)), { recursive: true });
      writeFileSync(join(req.chainDir, rel), text);
    };
    write('vda.full.data', 'stream');
    write('checkpoints/virtnbdbackup.0.xml', '<domaincheckpoint/>');
    write('vm1.cpt', JSON.stringify(cps(0)));
    write('backup.full.03102026040000.log', 'log');
    return {
      checkpoint: 'virtnbdbackup.0',
      parent: undefined,
      newFiles: ['backup.full.03102026040000.log', 'checkpoints/virtnbdbackup.0.xml', 'vda.full.data'],
      dataBytes: 6,
    };
  }
}

function setup(jobAnswers: string[] = [NO_JOB], abort?: AbortController, other?: Runner) {
  const runner = new FakeRunner();
  for (const stdout of jobAnswers) runner.expect({ ...jobInfo, result: { stdout } });
  const log = createMemoryLogger();
  const ctx = createContext({ runner: other ?? runner, uri: URI, now: () => now, log, interactive: false, signal: (abort ?? new AbortController()).signal });
  const inv = inventory({ disks: [disk('vda', [])] });
  const plan = planBackup(inv, { groupBy: 'month', ifOlderThan: undefined }, now) as Extract<DomainBackupPlan, { action: 'backup' }>;
  const options = { output, compress: false, raw: false, label: 'nightly', toolVersions: { virtnbdbackup: '1.9.15' }, startedDomain: true };
  return { runner, ctx, inv, plan, options, log };
}

const chainDir = () => join(output, 'vm1', 'vmsnap-backup-monthly-2026-03');

describe('executeBackup', () => {
  it('marks the run in the manifest while it runs, then records the point with its files', async () => {
    const { runner, ctx, inv, plan, options } = setup();
    let during: ChainManifest | undefined;
    const engine = new FakeEngine(async (req) => {
      during = await readManifest(req.chainDir);
    });
    const done = await executeBackup(ctx, engine, inv, plan, options);
    expect(done).toMatchObject({ level: 'full', folder: 'vmsnap-backup-monthly-2026-03', checkpoint: 'virtnbdbackup.0', dataBytes: 6, repairs: [], notes: [] });
    expect(during).toMatchObject({ state: 'in-progress', running: { pid: process.pid, level: 'full', startedDomain: true }, points: [] });
    const m = (await readManifest(chainDir()))!;
    expect(m.running).toBeUndefined();
    expect(m.state).toBe('complete');
    expect(m.disks).toEqual([{ target: 'vda', sourcePath: '/var/lib/libvirt/images/vda.qcow2', format: 'qcow2' }]);
    expect(m.points).toMatchObject([{ checkpoint: 'virtnbdbackup.0', level: 'full', label: 'nightly', time: now.toISOString(), dataBytes: 6 }]);
    // The log changes after the run; the data and checkpoint files are fingerprinted.
    expect(m.points[0]!.files.map((f) => [f.path, f.kind, f.disk])).toEqual([
      ['checkpoints/virtnbdbackup.0.xml', 'checkpoint', undefined],
      ['vda.full.data', 'data', 'vda'],
    ]);
    expect(m.points[0]!.files[1]).toMatchObject({ size: 6, sha256: createHash('sha256').update('stream').digest('hex') });
    expect(engine.requests[0]).toMatchObject({ domain: 'vm1', uri: URI, level: 'full', excludeDisks: [] });
    expect(runner.unmet()).toEqual([]);
  });

  it('ends a backup job libvirt left active after a successful run, and says so', async () => {
    // libvirt keeps reporting the job through the grace time, until domjobabort.
    let stuck = true;
    const calls: string[] = [];
    const scripted: Runner = {
      async run(tool, argv) {
        calls.push(`${tool} ${argv[2]}`);
        if (tool === 'virsh' && argv[2] === 'domjobinfo') return { stdout: stuck ? JOB : NO_JOB, stderr: '', exitCode: 0 };
        if (tool === 'virsh' && argv[2] === 'domjobabort') {
          stuck = false;
          return { stdout: '', stderr: '', exitCode: 0 };
        }
        throw new Error(`unexpected call ${tool} ${argv.join(' ')}`);
      },
    };
    const { ctx, inv, plan, options, log } = setup([], undefined, scripted);
    const done = await executeBackup(ctx, new FakeEngine(), inv, plan, options);
    expect(done.notes).toEqual(['the backup job stayed active after virtnbdbackup finished: ended with virsh domjobabort']);
    expect(calls.at(-2)).toBe('virsh domjobabort');
    expect(log.lines.some((l) => l.startsWith('warning: vm1: the backup job stayed active'))).toBe(true);
  }, 20_000);

  it('a failed full leaves a broken chain with the failure recorded, and no point', async () => {
    const { ctx, inv, plan, options } = setup();
    const engine = new FakeEngine(() => {
      throw new VmkeepError('failure', 'virtnbdbackup --domain vm1 exited 1: Foreign checkpoint found');
    });
    await expect(executeBackup(ctx, engine, inv, plan, options)).rejects.toThrow('Foreign checkpoint found');
    const m = (await readManifest(chainDir()))!;
    expect(m).toMatchObject({ state: 'broken', points: [] });
    expect(m.running).toBeUndefined();
    expect(m.stateReason).toMatch(/the full backup did not finish: .*Foreign checkpoint found/);
    expect(m.events.at(-1)).toMatchObject({ kind: 'failed', message: expect.stringMatching(/^full backup: /) });
  });

  it('an interrupted run is recorded as interrupted and ends with the interrupted code', async () => {
    const abort = new AbortController();
    const { ctx, inv, plan, options } = setup([NO_JOB], abort);
    const engine = new FakeEngine(() => {
      abort.abort();
      throw new Error('virtnbdbackup was cancelled');
    });
    const error = await executeBackup(ctx, engine, inv, plan, options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmkeepError);
    expect((error as VmkeepError).code).toBe('interrupted');
    expect((await readManifest(chainDir()))!.events.at(-1)).toMatchObject({ kind: 'interrupted' });
  });

  it('does not start once interrupted', async () => {
    const abort = new AbortController();
    abort.abort();
    const { ctx, inv, plan, options } = setup([], abort);
    const engine = new FakeEngine();
    await expect(executeBackup(ctx, engine, inv, plan, options)).rejects.toMatchObject({ code: 'interrupted' });
    expect(engine.requests).toEqual([]);
  });

  it('a run killed before it finished is closed in its manifest and recorded as interrupted', async () => {
    const { ctx, inv, plan, options } = setup();
    await executeBackup(ctx, new FakeEngine(), inv, plan, options);
    const dir = chainDir();
    const killed = { ...(await readManifest(dir))!, running: { pid: 999_999, startedAt: '2026-03-10T05:00:00.000Z', level: 'inc' as const } };
    await writeManifest(dir, killed);
    const steps = [
      {
        kind: 'close-run' as const,
        folder: 'vmsnap-backup-monthly-2026-03',
        startedAt: killed.running.startedAt,
        pid: 999_999,
        reason: 'the inc run ... was killed',
      },
    ];
    expect(await executeRepairs(ctx, 'vm1', join(output, 'vm1'), steps)).toEqual(['record in vmsnap-backup-monthly-2026-03 that the inc run ... was killed']);
    const m = (await readManifest(dir))!;
    expect(m.running).toBeUndefined();
    expect(m.state).toBe('complete');
    expect(m.events.at(-1)).toEqual({ time: '2026-03-10T05:00:00.000Z', kind: 'interrupted', message: 'inc backup: the inc run ... was killed' });
  });
});
