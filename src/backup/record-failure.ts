/**
 * A failed or interrupted backup run: end its job, remove what it wrote that was never a
 * restore point (its `.partial` and new files, its `.cpt` entry, its checkpoint in libvirt),
 * then put the failure on record in the chain's manifest, in vmkeep's words.
 *
 * The clean-up comes first because on a full disk it frees the space the record needs. When the
 * record still cannot be written, the error says so.
 */
import { besideDomainLock } from '../util/lock.js';
import { readdir, readFile, rm } from 'node:fs/promises';
import { listFilesRelative } from '../util/list-files.js';
import { basename, join, normalize } from 'node:path';
import type { AppContext } from '../app/context.js';
import { isOwnedName } from '../domain/owned-names.js';
import { VmkeepError, messageOf } from '../errors.js';
import type { ChainView } from '../repository/chains.js';
import { readManifest, writeManifest, MANIFEST_FILE, type ChainManifest } from '../repository/manifest.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { explainFailure } from './classify-failure.js';
import { readCheckpointFile } from '../virtnbd/backup-folder.js';
import { freeBytesAt } from './estimate-space.js';
import type { FailureNote, SpaceEstimate } from './plan-types.js';
import { endBackupJob } from './execute-repairs.js';

/** What the failed run was doing, as executeBackup knew it. */
export interface FailedRun {
  domain: string;
  level: 'full' | 'inc';
  chainDir: string;
  /** The manifest as the run wrote it before the engine started (with its `running` mark). */
  manifest: ChainManifest;
  /** Files of the chain folder before the engine ran (relative paths). */
  filesBefore: ReadonlySet<string>;
  eligibleDisks: readonly string[];
  /** The domain's state when the run started. */
  stateBefore: string;
  /**
   * libvirt's checkpoints when the engine started (after the run's repairs): the run created only
   * names not among them, and deletes only those. Other chains' checkpoints (another output
   * folder's) stay. Without it, every checkpoint after the chain's last recorded point (all of
   * vmkeep's for a full) counts as the run's.
   */
  checkpointsBefore?: readonly string[];
  estimate?: SpaceEstimate | undefined;
  /**
   * Where to leave a note when the manifest cannot take the record (beside the domain's lock, on
   * another file system): the next run reads it and says why this run failed.
   */
  failureNoteFile?: string | undefined;
}

/** Errors whose failure is already an event in a manifest. */
const recorded = new WeakSet<object>();

export function markRecorded(error: unknown): void {
  if (typeof error === 'object' && error !== null) recorded.add(error);
}

/** Did a backup put this failure on record in a chain manifest? */
export function failureRecorded(error: unknown): boolean {
  return typeof error === 'object' && error !== null && recorded.has(error);
}

/**
 * Handle a run that failed after its engine started; returns the error to throw (one line in
 * vmkeep's words, the tool's text as detail), marked as recorded when the manifest took it.
 */
export async function recordFailedRun(ctx: AppContext, run: FailedRun, error: unknown): Promise<VmkeepError> {
  const interrupted = ctx.signal.aborted;
  // Leave the domain without a job where possible; the next run repairs whatever else is left.
  let jobEnded = true;
  const ended = await endBackupJob(ctx, run.domain, run.eligibleDisks, { graceMs: 3_000 }).catch((e: unknown) => {
    jobEnded = false;
    return `could not end it: ${messageOf(e)}`;
  });
  if (ended) ctx.log.warn(`${run.domain}: the backup job stayed active after the failed run: ${ended}`);

  const stateNow = await ctx.virsh.domainState(run.domain).catch((e: unknown) => (/not found|no domain/i.test(messageOf(e)) ? 'missing' : undefined));
  const explained = interrupted
    ? new VmkeepError('interrupted', `backup of ${run.domain} interrupted`, { cause: error })
    : explainFailure(error, {
        domain: run.domain,
        level: run.level,
        folder: run.chainDir,
        stateBefore: run.stateBefore,
        stateNow,
        neededBytes: run.estimate?.neededBytes,
        freeBytes: run.estimate?.freeBytes ?? (await freeBytesAt(run.chainDir)),
      });
  if (explained.detail) ctx.log.debug(`${run.domain}: ${explained.detail}`);

  const cleaned = await cleanUpFailedRun(ctx, run, jobEnded && (stateNow === 'running' || stateNow === 'paused'));
  for (const line of cleaned.done) ctx.log.info(`${run.domain}: after the failed run: ${line}`);
  for (const line of cleaned.left) ctx.log.warn(`${run.domain}: after the failed run: ${line}`);

  const time = ctx.now().toISOString();
  const manifest = run.manifest;
  const message = interrupted ? 'stopped by SIGINT/SIGTERM' : explained.message;
  const failed: ChainManifest = {
    ...manifest,
    running: undefined,
    updatedAt: time,
    // A chain with recorded points stays usable: those points restore as before.
    state: manifest.points.length > 0 ? 'complete' : 'broken',
    stateReason: manifest.points.length > 0 ? undefined : `the full backup did not finish: ${message}`,
    events: [
      ...manifest.events,
      ...cleaned.done.map((line) => ({ time, kind: 'repaired' as const, message: `after the failed run: ${line}` })),
      { time, kind: interrupted ? ('interrupted' as const) : ('failed' as const), message: `${run.level} backup: ${message}` },
    ],
  };
  try {
    await writeManifest(run.chainDir, failed);
    markRecorded(explained);
    return explained;
  } catch (writeError) {
    const why = messageOf(writeError);
    ctx.log.warn(`${run.domain}: the failure could not be recorded in ${join(run.chainDir, MANIFEST_FILE)}: ${why}`);
    const running = run.manifest.running;
    if (run.failureNoteFile && running) {
      const note: FailureNote = { folder: basename(run.chainDir), startedAt: running.startedAt, pid: running.pid, level: run.level, message };
      await writeFileAtomic(run.failureNoteFile, `${JSON.stringify(note)}\n`).catch((e: unknown) =>
        ctx.log.warn(`${run.domain}: nor in ${run.failureNoteFile}: ${messageOf(e)}`),
      );
    }
    return new VmkeepError(explained.code, `${explained.message} (and the failure could not be recorded in ${join(run.chainDir, MANIFEST_FILE)}: ${why})`, {
      detail: explained.detail,
      cause: error,
    });
  }
}

/**
 * Remove what the failed run wrote: every file the chain folder did not have before the engine
 * ran (its `.partial`, data, log and checkpoint XML), the `.cpt` entries no point recorded, and
 * the libvirt checkpoints the run created (those it did not find when it started; other chains'
 * stay). Deleting a checkpoint merges its bitmap into its parent, so the next incremental still
 * copies every change. What cannot be done here is left to the next run's repairs and said.
 */
async function cleanUpFailedRun(ctx: AppContext, run: FailedRun, live: boolean): Promise<{ done: string[]; left: string[] }> {
  const done: string[] = [];
  const left: string[] = [];
  const recordedPoints = run.manifest.points.map((p) => p.checkpoint);
  try {
    const now = await listFilesRelative(run.chainDir);
    const fresh = now.filter((f) => !run.filesBefore.has(f) && f !== MANIFEST_FILE);
    const cptName = `${run.domain}.cpt`;
    for (const rel of fresh) {
      const n = normalize(rel);
      if (n.startsWith('..') || n.startsWith('/')) continue;
      await rm(join(run.chainDir, n), { force: true });
    }
    if (fresh.length > 0) done.push(`removed ${fresh.length} file(s) it wrote (${summarize(fresh)})`);
    if (!fresh.includes(cptName) && run.filesBefore.has(cptName)) {
      const cpt = await readCheckpointFile(run.chainDir, run.domain).catch(() => undefined);
      if (cpt === undefined || cpt.join(',') !== recordedPoints.join(',')) {
        await writeFileAtomic(join(run.chainDir, cptName), JSON.stringify(recordedPoints));
        done.push(`reset ${cptName} to the recorded points`);
      }
    }
    await removeEmptyFolders(run.chainDir);
  } catch (e) {
    left.push(`could not remove its files: ${messageOf(e)}; the next run removes them`);
  }
  try {
    const names = await ctx.virsh.checkpointNames(run.domain);
    const last = recordedPoints.at(-1);
    const before = run.checkpointsBefore;
    const orphans =
      before !== undefined
        ? names.filter((n) => isOwnedName(n) && !before.includes(n))
        : run.level === 'full' || last === undefined
          ? names.filter(isOwnedName)
          : names.slice(names.indexOf(last) + 1).filter(isOwnedName);
    if (before === undefined && run.level === 'inc' && last !== undefined && !names.includes(last)) orphans.length = 0;
    for (const name of [...orphans].reverse()) {
      if (!live) {
        left.push(`checkpoint ${name} stays until the next run (the domain is not running)`);
        continue;
      }
      try {
        await ctx.virsh.deleteCheckpoint(run.domain, name);
        done.push(`deleted checkpoint ${name}, which it had created`);
      } catch (e) {
        left.push(`could not delete checkpoint ${name} (${messageOf(e)}); the next run does`);
      }
    }
  } catch (e) {
    left.push(`could not list the checkpoints of ${run.domain} (${messageOf(e)}); the next run repairs them`);
  }
  return { done, left };
}

function summarize(files: readonly string[]): string {
  return files.length <= 4 ? files.join(', ') : `${files.slice(0, 3).join(', ')} …`;
}

/** The chain folder's own sub-folders (checkpoints/) left empty by the clean-up. */
async function removeEmptyFolders(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const sub = join(dir, e.name);
    if ((await readdir(sub)).length === 0) await rm(sub, { recursive: true, force: true });
  }
}

/** The chain files before the engine runs: what a failed run's clean-up must keep. */
export async function chainFilesNow(chainDir: string): Promise<Set<string>> {
  return new Set(await listFilesRelative(chainDir).catch(() => []));
}

/** Append an event to a chain's manifest, if the chain has one; true when written. Never throws. */
export async function recordEvent(chainDir: string, time: Date, kind: 'failed' | 'interrupted', message: string): Promise<boolean> {
  try {
    const manifest = await readManifest(chainDir);
    if (!manifest) return false;
    await writeManifest(chainDir, { ...manifest, updatedAt: time.toISOString(), events: [...manifest.events, { time: time.toISOString(), kind, message }] });
    return true;
  } catch {
    // the failure itself is reported by the caller
    return false;
  }
}

/**
 * Record a backup failure that happened before a chain folder was chosen (a refused plan, a
 * domain that would not start...) in the domain's newest vmkeep chain, so that prune, status and
 * the next run see that the latest backup failed. Nothing to do for a domain without chains.
 */
export async function recordFailureOnNewestChain(chains: readonly ChainView[], time: Date, message: string): Promise<void> {
  const newest = [...chains].reverse().find((c) => c.manifest !== undefined);
  if (newest) await recordEvent(newest.dir, time, 'failed', message);
}

/** The file beside a domain's lock that holds a failure its manifest could not take. */
export function failureNoteFileFor(domainLock: string): string {
  return besideDomainLock(domainLock, '.failure.json');
}

/** A failure note left by an earlier run, if any (an unreadable one counts as none). */
export async function readFailureNote(file: string): Promise<FailureNote | undefined> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as Partial<FailureNote>;
    if (typeof v.folder !== 'string' || typeof v.startedAt !== 'string' || typeof v.pid !== 'number' || typeof v.message !== 'string') return undefined;
    return { folder: v.folder, startedAt: v.startedAt, pid: v.pid, level: v.level === 'inc' ? 'inc' : 'full', message: v.message };
  } catch {
    return undefined;
  }
}
