/** Carry out one domain's backup plan: repairs, the engine run, the manifest, the domain's state. */
import { chmod, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppContext } from '../app/context.js';
import { VmkeepError, messageOf } from '../errors.js';
import { FollowingHasher } from '../util/follow-hash.js';
import { PhaseTimer } from '../util/phase-timer.js';
import type { BackupEngine, EngineRequest } from './engine/types.js';
import { checksumFiles } from './checksum-files.js';
import { endBackupJob, executeRepairs } from './execute-repairs.js';
import { chainFilesNow, markRecorded, recordEvent, recordFailedRun } from './record-failure.js';
import type { SpaceEstimate } from './plan-types.js';
import { MANIFEST_FORMAT, readManifest, writeManifest, type ChainManifest, type ManifestFile } from '../repository/manifest.js';
import type { BackupInventory } from './plan-types.js';
import { clearChildRecord, recordChild } from './orphaned-children.js';
import type { DomainBackupPlan } from './plan-types.js';
import { readChain } from '../repository/chains.js';
import { adoptChain } from '../points/adopt-chain.js';
import { chainFromView } from '../points/chains.js';

export interface ExecuteBackupOptions {
  output: string;
  compress: boolean;
  raw: boolean;
  label: string | undefined;
  toolVersions: Record<string, string>;
  /** vmkeep started the domain paused for this run (recorded, so a run after a kill shuts it off). */
  startedDomain: boolean;
  /** --stop shut the running domain down for this run (recorded, so a run after a kill resumes it). */
  stoppedDomain?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** The space estimate made before the run (named in a no-space failure). */
  spaceEstimate?: SpaceEstimate;
  /** Where a failure the manifest cannot take is noted for the next run (recordFailedRun). */
  failureNoteFile?: string;
  /** Where the engine's running tool processes are recorded, for a run after a kill -9 (orphaned-children.ts). */
  childRecordFile?: string;
  /** vmkeep's freeze around the call that fixes the point in time (engines that do not freeze). */
  atPoint?: EngineRequest['atPoint'];
  /** The domain's phase recorder: repairs, engine, checksums, fsync and manifest are timed here. */
  phases?: PhaseTimer;
}

export interface ExecutedBackup {
  level: 'full' | 'inc';
  folder: string;
  checkpoint: string;
  dataBytes: number;
  durationMs: number;
  repairs: string[];
  /** What else the run had to do (a backup job libvirt failed to end...). */
  notes: string[];
}

type BackupPlan = Extract<DomainBackupPlan, { action: 'backup' }>;

/**
 * The VMSnap chain this run continues gets a manifest first, as verify --adopt gives one: the
 * incremental is then recorded like any vmkeep point. Returns the line that says so.
 */
async function adoptVmsnapChain(ctx: AppContext, domain: string, chainDir: string, adopt: NonNullable<BackupPlan['adopt']>): Promise<string> {
  const view = await readChain(domain, adopt.folder, chainDir);
  // Under the domain lock nothing else writes here; a manifest seen now was not there when planned.
  if (!view?.legacy) throw new VmkeepError('failure', `${chainDir} changed between planning and running (it has a manifest now): run the backup again`);
  await adoptChain(await chainFromView(view), ctx.now(), BACKUP_ADOPT_NOTE);
  const line = `continuing VMSnap chain ${adopt.folder} with an incremental instead of a second full: ${adopt.why}; adopted it (the sha256 of its files recorded now, as verify --adopt does)`;
  ctx.log.info(`${domain}: ${line}`);
  return line;
}

/** What the adoption says about its checksums (the manifest's event). */
const BACKUP_ADOPT_NOTE =
  "checksums recorded by vmkeep backup when it adopted this VMSnap chain to continue it (its last checkpoint was libvirt's and its files passed the structure check; no point was restored); they certify the files as they are now, not as they were at backup time";

/** Classify a file an engine wrote (for the manifest): stream data files and qcow2 point images are data. */
function classifyFile(rel: string): { kind: ManifestFile['kind']; disk?: string } {
  if (rel.endsWith('.data') || rel.endsWith('.qcow2')) return { kind: 'data', disk: rel.split('.')[0] };
  if (rel.startsWith('checkpoints/')) return { kind: 'checkpoint' };
  if (/^vmconfig.*\.xml$/.test(rel)) return { kind: 'config' };
  return { kind: 'meta' };
}

/** Files whose content changes after they are written are not fingerprinted. */
function isMutable(rel: string, domain: string): boolean {
  return rel === `${domain}.cpt` || rel.startsWith('.') || rel.endsWith('.log');
}

/** Run one planned backup. The domain is already in the state the plan expects (live). */
// eslint-disable-next-line max-lines-per-function -- one run's record (running marker, child record, cleanup of a failed run) is kept in one try/finally so no exit path skips it
export async function executeBackup(
  ctx: AppContext,
  engine: BackupEngine,
  inv: BackupInventory,
  plan: BackupPlan,
  options: ExecuteBackupOptions,
): Promise<ExecutedBackup> {
  const domainFolder = join(options.output, inv.domain);
  const chainDir = join(domainFolder, plan.folder);
  // A caller that keeps no record still gets the steps timed, into a recorder nobody reads.
  const phases = options.phases ?? new PhaseTimer();
  throwIfInterrupted(ctx, inv.domain);
  const notes: string[] = [];
  let repairs: string[];
  try {
    repairs = await phases.time('repairs', () => executeRepairs(ctx, inv.domain, domainFolder, plan.repairs));
  } catch (error) {
    // Put the failure on record where a chain exists already, so prune holds back after it.
    if (await recordEvent(chainDir, ctx.now(), 'failed', `${plan.level} backup: a repair before it failed: ${messageOf(error)}`)) {
      markRecorded(error);
    }
    throw error;
  }
  throwIfInterrupted(ctx, inv.domain);
  // Folders vmkeep creates are 0700; folders it finds (a VMSnap tree's) keep their mode.
  await mkdir(chainDir, { recursive: true, mode: 0o700 });
  if (plan.adopt) notes.push(await adoptVmsnapChain(ctx, inv.domain, chainDir, plan.adopt));

  const startedAt = ctx.now();
  const existing = await readManifest(chainDir);
  // A folder whose full never finished is started over: its disks and period are today's.
  let manifest = existing && existing.points.length > 0 ? existing : { ...newManifest(inv, plan, engine, options, startedAt), events: existing?.events ?? [] };
  manifest = {
    ...manifest,
    toolVersions: { ...manifest.toolVersions, ...options.toolVersions },
    running: {
      pid: process.pid,
      startedAt: startedAt.toISOString(),
      level: plan.level,
      ...(options.startedDomain ? { startedDomain: true } : {}),
      ...(options.stoppedDomain ? { stoppedDomain: true } : {}),
    },
    updatedAt: startedAt.toISOString(),
    events: [...manifest.events, ...repairs.map((r) => ({ time: startedAt.toISOString(), kind: 'repaired' as const, message: r }))],
  };
  await phases.time('manifest', () => writeManifest(chainDir, manifest));

  await removeStaleWorkDirs(ctx);
  const workDir = await mkdtemp(join(WORK_ROOT, `${WORK_PREFIX}${process.pid}-`));
  // QEMU (user libvirt-qemu on a normal host) creates the NBD socket and the scratch files here.
  await chmod(workDir, 0o1733);
  const eligibleDisks = inv.disks.filter((d) => d.eligible).map((d) => d.target);
  const filesBefore = await chainFilesNow(chainDir);
  // The repairs only delete checkpoints: any other name after the engine ran is the run's own.
  const deleted = new Set(plan.repairs.flatMap((r) => (r.kind === 'delete-checkpoint' ? [r.name] : [])));
  const checkpointsBefore = inv.checkpoints.filter((n) => !deleted.has(n));
  const t0 = Date.now();
  // Data files are hashed while the engine writes them: no second pass over the data afterwards.
  // A raw image's stream (`<disk>.copy.data`, from --raw) is not written strictly front to back:
  // a digest followed while it was written did not match the finished file. It is hashed once the
  // job is done, like any file the follower did not see.
  const hasher = new FollowingHasher(chainDir, (name) => name.endsWith('.data.partial') && !name.endsWith('.copy.data.partial'));
  hasher.start();
  try {
    const result = await phases.time('engine', () =>
      engine.run({
        domain: inv.domain,
        uri: ctx.virsh.uri,
        level: plan.level,
        chainDir,
        previous: plan.level === 'inc' ? manifest.points.at(-1)?.checkpoint : undefined,
        excludeDisks: plan.excluded.map((e) => e.disk),
        diskTargets: inv.disks.map((d) => d.target),
        compress: options.compress,
        raw: options.raw,
        workDir,
        signal: ctx.signal,
        onProgress: (p) => options.onProgress?.(p.doneBytes, p.totalBytes),
        onLog: (line) => ctx.log.debug(`${inv.domain}: ${line}`),
        ...(options.atPoint ? { atPoint: options.atPoint } : {}),
        ...(options.childRecordFile ? { onChildStarted: (pid: number, tool: string) => recordChild(options.childRecordFile!, pid, tool) } : {}),
      }),
    );
    const durationMs = Date.now() - t0;
    // The data is complete; a job libvirt failed to end would block the next run and other tools.
    const ended = await phases.time('engine', () => endBackupJob(ctx, inv.domain, eligibleDisks, { graceMs: 3_000 }));
    if (ended) {
      notes.push(`the backup job stayed active after ${engine.name} finished: ${ended}`);
      ctx.log.warn(`${inv.domain}: ${notes.at(-1)!}`);
    }
    const recorded = result.newFiles.filter((rel) => !isMutable(rel, inv.domain));
    const digests = await checksumFiles(ctx, inv.domain, chainDir, recorded, hasher, phases);
    const files: ManifestFile[] = [];
    await phases.time('manifest', async () => {
      for (const [i, rel] of recorded.entries()) {
        files.push({ path: rel, ...classifyFile(rel), size: (await stat(join(chainDir, rel))).size, ...digests[i]! });
      }
    });
    // A restore point's time is when its checkpoint was taken: the start of the run.
    const time = startedAt.toISOString();
    const finished: ChainManifest = {
      ...manifest,
      running: undefined,
      state: 'complete',
      stateReason: undefined,
      updatedAt: ctx.now().toISOString(),
      points: [
        ...manifest.points,
        {
          checkpoint: result.checkpoint,
          ...(result.parent ? { parent: result.parent } : {}),
          time,
          ...(plan.sequence !== undefined ? { sequence: plan.sequence } : {}),
          level: plan.level,
          ...(options.label ? { label: options.label } : {}),
          protected: false,
          dataBytes: result.dataBytes,
          durationMs,
          files,
        },
      ],
    };
    await phases.time('manifest', () => writeManifest(chainDir, finished));
    return { level: plan.level, folder: plan.folder, checkpoint: result.checkpoint, dataBytes: result.dataBytes, durationMs, repairs, notes };
  } catch (error) {
    throw await recordFailedRun(
      ctx,
      {
        domain: inv.domain,
        level: plan.level,
        chainDir,
        manifest,
        filesBefore,
        eligibleDisks,
        stateBefore: inv.state,
        checkpointsBefore,
        estimate: options.spaceEstimate,
        failureNoteFile: options.failureNoteFile,
      },
      error,
    );
  } finally {
    // The engine's processes have ended (the runner waited for them): none is left to look for.
    if (options.childRecordFile) clearChildRecord(options.childRecordFile);
    await hasher.close();
    await rm(workDir, { recursive: true, force: true });
  }
}

function throwIfInterrupted(ctx: AppContext, domain: string): void {
  if (ctx.signal.aborted) throw new VmkeepError('interrupted', `backup of ${domain} interrupted before it started`);
}

const WORK_ROOT = '/var/tmp';
const WORK_PREFIX = 'vmkeep-run-';

/**
 * Remove work folders of runs that were killed (their pid is gone): they can hold a backup
 * job's scratch file, which is as large as the data written during that job.
 */
async function removeStaleWorkDirs(ctx: AppContext): Promise<void> {
  let names: string[];
  try {
    names = await readdir(WORK_ROOT);
  } catch {
    return;
  }
  for (const name of names) {
    const m = new RegExp(`^${WORK_PREFIX}(\\d+)-`).exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    await rm(join(WORK_ROOT, name), { recursive: true, force: true }).catch(() => undefined);
    ctx.log.debug(`removed ${join(WORK_ROOT, name)}, left by a run that was killed`);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function newManifest(inv: BackupInventory, plan: BackupPlan, engine: BackupEngine, options: ExecuteBackupOptions, now: Date): ChainManifest {
  return {
    format: MANIFEST_FORMAT,
    domain: inv.domain,
    ...(inv.uuid ? { domainUuid: inv.uuid } : {}),
    engine: engine.name,
    toolVersions: { ...options.toolVersions },
    period: { groupBy: plan.period.groupBy, key: plan.period.key, start: plan.period.start.toISOString() },
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    state: 'in-progress',
    protected: false,
    disks: inv.disks
      .filter((d) => d.eligible)
      .map((d) => ({ target: d.target, ...(d.path ? { sourcePath: d.path } : {}), ...(d.format ? { format: d.format } : {}) })),
    points: [],
    events: [],
  };
}
