/**
 * A failed run through executeBackup with a fake engine (it writes what virtnbdbackup writes,
 * then fails with what the real tool said, fixtures/faults) and a FakeRunner for libvirt: the
 * run's files, `.cpt` entry and checkpoint go, then the failure is recorded in vmkeep's words.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createContext } from '../../../src/app/context.js';
import type { BackupEngine, EngineRequest, EngineResult } from '../../../src/backup/engine/types.js';
import { executeBackup } from '../../../src/backup/execute-backup.js';
import { planBackup, type DomainBackupPlan } from '../../../src/backup/plan-backup.js';
import { failureRecorded } from '../../../src/backup/record-failure.js';
import { ToolError, VmkeepError } from '../../../src/errors.js';
import { readManifest } from '../../../src/repository/manifest.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { cps, disk, inventory } from './builders.js';

const URI = 'qemu:///system';
const fx = (path: string) => readFileSync(new URL(`../../../fixtures/${path}`, import.meta.url), 'utf8');
const NO_JOB = fx('virsh/domjobinfo-no-job.txt');
const now = new Date('2026-03-10T04:00');
const v = (...argv: string[]) => ['-c', URI, ...argv];

let output: string;
beforeEach(() => {
  output = mkdtempSync(join(tmpdir(), 'vmkeep-fail-'));
});
afterEach(() => {
  rmSync(output, { recursive: true, force: true });
});

type Step = (req: EngineRequest) => void;
const write = (req: EngineRequest, rel: string, text: string) => {
  mkdirSync(dirname(join(req.chainDir, rel)), { recursive: true });
  writeFileSync(join(req.chainDir, rel), text);
};

/** Writes what a full (or an inc) of vda writes, then succeeds or fails as told. */
class ScriptedEngine implements BackupEngine {
  readonly name = 'virtnbdbackup' as const;
  readonly checkpointFamily = 'virtnbdbackup' as const;
  readonly acceptsForeignCheckpoints = false;
  readonly freezesGuest = true;
  constructor(
    private readonly steps: Step[],
    private readonly failWith?: Error,
  ) {}
  async version() {
    return '1.9.15';
  }
  async run(req: EngineRequest): Promise<EngineResult> {
    for (const s of this.steps) s(req);
    if (this.failWith) throw this.failWith;
    return { checkpoint: 'virtnbdbackup.0', parent: undefined, newFiles: ['checkpoints/virtnbdbackup.0.xml', 'vda.full.data'], dataBytes: 6 };
  }
}

const full: Step = (req) => {
  write(req, 'vda.full.data', 'stream');
  write(req, 'checkpoints/virtnbdbackup.0.xml', '<domaincheckpoint/>');
  write(req, 'vm1.cpt', JSON.stringify(cps(0)));
};
const incInterrupted: Step = (req) => {
  write(req, 'vda.inc.virtnbdbackup.1.data.partial', 'half a stream');
  write(req, 'checkpoints/virtnbdbackup.1.xml', '<domaincheckpoint/>');
  write(req, 'vmconfig.virtnbdbackup.1.xml', '<domain/>');
  write(req, 'backup.inc.03102026040000.log', 'log');
  write(req, 'vm1.cpt', JSON.stringify(cps(0, 1)));
};

function setup(runner: FakeRunner) {
  const ctx = createContext({ runner, uri: URI, now: () => now, log: createMemoryLogger(), interactive: false, signal: new AbortController().signal });
  const inv = inventory({ disks: [disk('vda', [])] });
  const plan = planBackup(inv, { groupBy: 'month', ifOlderThan: undefined }, now) as Extract<DomainBackupPlan, { action: 'backup' }>;
  const options = { output, compress: false, raw: false, label: undefined, toolVersions: { virtnbdbackup: '1.9.15' }, startedDomain: false };
  return { ctx, inv, plan, options };
}

const chainDir = () => join(output, 'vm1', 'vmsnap-backup-monthly-2026-03');
const filesIn = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();

describe('a failed backup run', () => {
  it('a full that ran out of space: its files and checkpoint go, the failure is recorded with the folder and the space', async () => {
    const runner = new FakeRunner()
      .expect({ tool: 'virsh', argv: v('domjobinfo', '--domain', 'vm1'), result: { stdout: NO_JOB } })
      .expect({ tool: 'virsh', argv: v('domstate', '--domain', 'vm1'), result: { stdout: fx('virsh/domstate-running.txt') } })
      .expect({ tool: 'virsh', argv: v('checkpoint-list', '--domain', 'vm1', '--name', '--topological'), result: { stdout: 'virtnbdbackup.0\n' } })
      .expect({ tool: 'virsh', argv: v('checkpoint-delete', '--domain', 'vm1', '--checkpointname', 'virtnbdbackup.0') });
    const { ctx, inv, plan, options } = setup(runner);
    const noSpace = new ToolError({ tool: 'virtnbdbackup', argv: ['--domain', 'vm1'], exitCode: 1, stderr: fx('faults/virtnbdbackup-full-no-space.stderr') });
    const engine = new ScriptedEngine(
      [
        (req) => write(req, 'vda.full.data.partial', 'half'),
        (req) => write(req, 'checkpoints/virtnbdbackup.0.xml', '<x/>'),
        (req) => write(req, 'vm1.cpt', '["virtnbdbackup.0"]'),
        (req) => write(req, 'backup.full.log', 'log'),
      ],
      noSpace,
    );
    const spaceEstimate = { neededBytes: 50 * 2 ** 20, freeBytes: 48 * 2 ** 20, basis: 'the allocated size of its disks' };
    const error = (await executeBackup(ctx, engine, inv, plan, { ...options, spaceEstimate }).catch((e: unknown) => e)) as VmkeepError;

    expect(error.message).toBe(
      `no space left in ${chainDir()}: the full backup of vm1 could not be written (it needs about 50 MiB, 48 MiB was free); free space there or back up into another --output`,
    );
    expect(error.detail).toContain('[Errno 28] No space left on device');
    expect(failureRecorded(error)).toBe(true);
    expect(filesIn(chainDir())).toEqual(['vmkeep-manifest.json']);
    const m = (await readManifest(chainDir()))!;
    expect(m).toMatchObject({ state: 'broken', points: [] });
    expect(m.running).toBeUndefined();
    expect(m.events.map((e) => [e.kind, e.message])).toEqual([
      ['repaired', 'after the failed run: removed 4 file(s) it wrote (backup.full.log, checkpoints/virtnbdbackup.0.xml, vda.full.data.partial, vm1.cpt)'],
      ['repaired', 'after the failed run: deleted checkpoint virtnbdbackup.0, which it had created'],
      ['failed', `full backup: ${error.message}`],
    ]);
    expect(runner.unmet()).toEqual([]);
  });

  it("an incremental whose domain stopped: the recorded full stays, the inc's files and .cpt entry go, the checkpoint waits for the next run", async () => {
    const first = new FakeRunner().expect({ tool: 'virsh', argv: v('domjobinfo', '--domain', 'vm1'), result: { stdout: NO_JOB } });
    const a = setup(first);
    await executeBackup(a.ctx, new ScriptedEngine([full]), a.inv, a.plan, a.options);
    const keep = filesIn(chainDir());

    const runner = new FakeRunner()
      // The domain is gone: domjobinfo fails, domstate says shut off (twice: the job check, the failure).
      .expect({
        tool: 'virsh',
        argv: v('domjobinfo', '--domain', 'vm1'),
        result: { exitCode: 1, stderr: 'error: Requested operation is not valid: domain is not running' },
      })
      .expect({ tool: 'virsh', argv: v('domstate', '--domain', 'vm1'), result: { stdout: fx('virsh/domstate-shutoff.txt') }, repeat: true })
      .expect({
        tool: 'virsh',
        argv: v('checkpoint-list', '--domain', 'vm1', '--name', '--topological'),
        result: { stdout: fx('virsh/checkpoint-list--name--topological.txt') },
      });
    const b = setup(runner);
    const incPlan = { ...b.plan, level: 'inc' as const };
    const killed = new ToolError({ tool: 'virtnbdbackup', argv: ['--domain', 'vm1'], exitCode: 1, stderr: fx('faults/virtnbdbackup-full-qemu-killed.stderr') });
    const error = (await executeBackup(b.ctx, new ScriptedEngine([incInterrupted], killed), { ...b.inv, state: 'running' }, incPlan, b.options).catch(
      (e: unknown) => e,
    )) as VmkeepError;

    expect(error.message).toMatch(/^domain vm1 stopped during the inc backup of vm1 \(its QEMU process exited or it was shut down\); it is now shut off\./);
    expect(filesIn(chainDir())).toEqual(keep);
    expect(JSON.parse(readFileSync(join(chainDir(), 'vm1.cpt'), 'utf8'))).toEqual(['virtnbdbackup.0']);
    const m = (await readManifest(chainDir()))!;
    expect(m.state).toBe('complete');
    expect(m.points.map((p) => p.checkpoint)).toEqual(['virtnbdbackup.0']);
    expect(m.events.at(-1)).toMatchObject({ kind: 'failed', message: expect.stringMatching(/^inc backup: domain vm1 stopped/) });
    expect(existsSync(join(chainDir(), 'checkpoints', 'virtnbdbackup.1.xml'))).toBe(false);
    expect(runner.unmet()).toEqual([]);
  });
});

describe('a failure the manifest cannot take', () => {
  it('is noted beside the domain lock, and the next plan says the previous run failed (not "killed")', async () => {
    const runner = new FakeRunner()
      .expect({ tool: 'virsh', argv: v('domjobinfo', '--domain', 'vm1'), result: { stdout: NO_JOB } })
      .expect({ tool: 'virsh', argv: v('domstate', '--domain', 'vm1'), result: { stdout: fx('virsh/domstate-running.txt') } })
      .expect({ tool: 'virsh', argv: v('checkpoint-list', '--domain', 'vm1', '--name', '--topological'), result: { stdout: '' } });
    const { ctx, inv, plan, options } = setup(runner);
    const noteFile = join(output, 'domain-vm1.failure.json');
    const noSpace = new ToolError({ tool: 'virtnbdbackup', argv: ['--domain', 'vm1'], exitCode: 1, stderr: fx('faults/virtnbdbackup-full-no-space.stderr') });
    // The manifest's place is taken by a folder: every write of the record fails, as on a dead disk.
    const blockManifest: Step = (req) => {
      rmSync(join(req.chainDir, 'vmkeep-manifest.json'));
      mkdirSync(join(req.chainDir, 'vmkeep-manifest.json', 'x'), { recursive: true });
    };
    const error = (await executeBackup(ctx, new ScriptedEngine([blockManifest], noSpace), inv, plan, { ...options, failureNoteFile: noteFile }).catch(
      (e: unknown) => e,
    )) as VmkeepError;
    expect(error.message).toMatch(/^no space left in .*\(and the failure could not be recorded in .*vmkeep-manifest\.json: /);
    expect(failureRecorded(error)).toBe(false);
    const note = JSON.parse(readFileSync(noteFile, 'utf8')) as { folder: string; message: string; pid: number };
    expect(note).toMatchObject({ folder: 'vmsnap-backup-monthly-2026-03', pid: process.pid });
    expect(note.message).toMatch(/^no space left in /);

    // The next run: the chain still says "running" (pid of the dead run), and the note explains it.
    const { readFailureNote } = await import('../../../src/backup/record-failure.js');
    const noted = (await readFailureNote(noteFile))!;
    const next = inventory({
      disks: [disk('vda', [])],
      failureNote: noted,
      chains: [
        {
          domain: 'vm1',
          folder: note.folder,
          dir: chainDir(),
          legacy: false,
          period: { groupBy: 'month', key: '2026-03', sequence: 1 },
          state: 'in-progress',
          stateReason: undefined,
          protected: false,
          points: [],
          sizeOnDisk: 0,
          // Only what the planner reads of the dead run's manifest: its running mark.
          manifest: { running: { pid: noted.pid, level: 'full', startedAt: noted.startedAt } } as never,
        } as never,
      ],
    });
    const nextPlan = planBackup(next, { groupBy: 'month', ifOlderThan: undefined }, now) as Extract<DomainBackupPlan, { action: 'backup' }>;
    const close = nextPlan.repairs.find((r) => r.kind === 'close-run');
    expect(close).toMatchObject({ kind: 'close-run', failed: true, reason: expect.stringMatching(/^the previous run failed: no space left in /) });
    expect(nextPlan.reasons.some((r) => /^the previous run failed: no space left/.test(r))).toBe(true);
    expect(nextPlan.reasons.join(' ')).not.toContain('killed');
  });
});
