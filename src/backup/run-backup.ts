/**
 * `vmkeep backup`: every selected domain gets a result (done, skipped, failed); one domain's
 * failure never stops the others; exit 0 only when every requested domain succeeded.
 */
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import pLimit from 'p-limit';
import prettyBytes from 'pretty-bytes';
import type { AppContext } from '../app/context.js';
import { outcomeOf, type CommandResult } from '../app/command-result.js';
import { resolveDomains } from '../domain/resolve-domains.js';
import { ToolError, VmkeepError } from '../errors.js';
import { printable } from '../util/printable.js';
import type { Duration, GroupBy, RetentionPolicy } from '../retention/types.js';
import { acquireLock, domainLockDir, domainLockFile, lockHolder, type HeldLock } from '../util/lock.js';
import type { BackupEngine } from './engine/types.js';
import { VirtnbdbackupEngine } from './engine/virtnbdbackup.js';
import { executeBackup } from './execute-backup.js';
import { failureRecorded, recordFailureOnNewestChain } from './record-failure.js';
import { explainFailure } from './classify-failure.js';
import { estimateSpace, isClearlyShort, notEnoughSpaceError } from './estimate-space.js';
import { listChains } from '../repository/chains.js';
import { describeRepair } from './execute-repairs.js';
import { inspectDomain } from './inspect-domain.js';
import { planBackup, type DomainBackupPlan } from './plan-backup.js';
import { createProgressSink, type ProgressSink } from './progress.js';
import { pruneAfterBackup, type PruneOutcome } from '../prune/prune-after-backup.js';

export interface BackupOptions {
  domains: readonly string[] | undefined;
  output: string;
  groupBy: GroupBy;
  prune: boolean;
  /** What --prune applies (VMSnap's period rule for groupBy, plus any keep-* rules). */
  prunePolicy?: RetentionPolicy;
  raw: boolean;
  compress: boolean;
  jobs: number;
  dryRun: boolean;
  lockWaitMs: number;
  ifOlderThan: Duration | undefined;
  label: string | undefined;
  /** --verbose: debug lines (virtnbdbackup's own log) are shown. */
  verbose?: boolean;
  env: NodeJS.ProcessEnv;
}

export interface DomainResult {
  domain: string;
  result: 'done' | 'skipped' | 'failed' | 'planned';
  level?: 'full' | 'inc';
  chain?: string;
  checkpoint?: string;
  dataBytes?: number;
  durationMs?: number;
  throughputBytesPerSecond?: number;
  reason?: string;
  /** A failure's tool output (argv, stderr): --json and --verbose only. */
  detail?: string;
  /** Failed only because another vmkeep run holds the domain's lock. */
  locked?: boolean;
  reasons?: string[];
  repairs?: string[];
  /** Anything else the run had to do or wants said (a stuck libvirt job it ended...). */
  notes?: string[];
  prune?: PruneOutcome;
}

/**
 * Refuse an output path that exists and is not a writable folder, before anything is created.
 * A missing output folder is created, but only inside an existing parent: a missing parent is
 * most often a backup disk that is not mounted, and vmkeep must not fill the root file system.
 */
export async function prepareOutput(output: string, dryRun: boolean): Promise<void> {
  let s;
  try {
    s = await stat(output);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const parent = dirname(resolve(output));
    const parentStat = await stat(parent).catch(() => undefined);
    if (!parentStat) throw new VmkeepError('usage', `output ${output} cannot be created: its parent folder ${parent} does not exist (is the backup disk mounted?)`);
    if (!parentStat.isDirectory()) throw new VmkeepError('usage', `output ${output} cannot be created: ${parent} is not a folder`);
    if (!dryRun) await mkdir(output, { mode: 0o700 });
    return;
  }
  if (!s.isDirectory()) throw new VmkeepError('failure', `output ${output} exists and is not a directory`);
  try {
    await access(output, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new VmkeepError('failure', `output folder ${output} is not writable (${code === 'EROFS' ? 'a read-only file system' : 'permission denied'}): nothing was backed up`);
  }
}

export async function runBackup(ctx: AppContext, options: BackupOptions, engine: BackupEngine = new VirtnbdbackupEngine(ctx.runner)): Promise<CommandResult> {
  // Checked before anything is created; created only once a requested domain exists.
  await prepareOutput(options.output, true);
  // Both take a moment (virtnbdbackup is a Python program): ask at once.
  const [selection, toolVersions] = await Promise.all([
    resolveDomains(ctx, options.domains),
    options.dryRun ? Promise.resolve({}) : engine.version().then((v): Record<string, string> => ({ virtnbdbackup: v })),
  ]);
  if (selection.selected.length > 0) await prepareOutput(options.output, options.dryRun);
  const outputLockFile = join(options.output, '.vmkeep.lock');
  if (options.dryRun) {
    // A plan made while another run works would show that run's work in progress as leftovers to repair.
    const holder = lockHolder(outputLockFile);
    if (holder) throw new VmkeepError('locked', `output folder ${options.output} is locked by another vmkeep run (pid ${holder}): a plan now would show its work in progress as leftovers; try again when it is done`);
  }
  // No lock file for a run that selected nothing: it would write into a folder it has no business in.
  const outputLock = options.dryRun || selection.selected.length === 0
    ? undefined
    : await acquireLock(outputLockFile, { waitMs: options.lockWaitMs, what: `output folder ${options.output}`, signal: ctx.signal });
  try {
    const progress = createProgressSink(ctx.interactive && !options.dryRun, ctx.log);
    const runCtx: AppContext = { ...ctx, log: progress.logger(ctx.log, options.verbose ?? false) };
    const limit = pLimit(Math.max(1, options.jobs));
    let results: DomainResult[];
    try {
      results = await Promise.all(
        selection.selected.map((domain) => limit(() => backupOneDomain(runCtx, engine, domain, options, toolVersions, progress))),
      );
    } finally {
      progress.stop();
    }
    for (const name of selection.unknown) results.push({ domain: name, result: 'failed', reason: 'unknown domain' });
    for (const p of selection.emptyPatterns) results.push({ domain: p, result: 'failed', reason: 'no domain matches this pattern' });
    const ok = results.filter((r) => r.result !== 'failed').length;
    const interrupted = ctx.signal.aborted;
    // Nothing done only because other runs hold the locks: "locked" (75), as for the output lock.
    const onlyLocked = ok === 0 && results.some((r) => r.locked) && results.every((r) => r.result !== 'failed' || r.locked);
    return {
      document: { dryRun: options.dryRun, output: options.output, groupBy: options.groupBy, results },
      text: renderSummary(results, options.dryRun),
      outcome: interrupted ? 'interrupted' : onlyLocked ? 'locked' : outcomeOf(ok, results.length),
    };
  } finally {
    outputLock?.release();
  }
}

async function backupOneDomain(
  ctx: AppContext,
  engine: BackupEngine,
  domain: string,
  options: BackupOptions,
  toolVersions: Record<string, string>,
  progress: ProgressSink,
): Promise<DomainResult> {
  if (ctx.signal.aborted) return { domain, result: 'failed', reason: 'not started: interrupted' };
  let lock: HeldLock | undefined;
  let startedByUs = false;
  try {
    const domainLock = domainLockFile(domainLockDir(options.env), domain);
    if (!options.dryRun) {
      lock = await acquireLock(domainLock, { waitMs: options.lockWaitMs, what: `domain ${domain}`, signal: ctx.signal });
    } else {
      const holder = lockHolder(domainLock);
      if (holder) throw new VmkeepError('locked', `domain ${domain} is locked by another vmkeep run (pid ${holder}): no plan while it works`);
    }
    const request = { groupBy: options.groupBy, ifOlderThan: options.ifOlderThan };
    const inspectOpts = { output: options.output, raw: options.raw };
    let inv = await inspectDomain(ctx, domain, inspectOpts);
    let plan = planBackup(inv, request, ctx.now());
    if (options.dryRun) return planned(plan);
    if (plan.action === 'skip') {
      ctx.log.info(`${domain}: skipped: ${plan.reason}`);
      return { domain, result: 'skipped', reason: plan.reason };
    }
    if (plan.action === 'refuse') throw new VmkeepError('failure', plan.reason);
    if (inv.state === 'other') throw new VmkeepError('failure', `domain ${domain} is in a state vmkeep cannot back up`);
    startedByUs = plan.shutOffAfter;
    if (plan.startPaused) {
      // A shut-off domain has no QEMU to run the job; started paused it gets a real checkpoint.
      ctx.log.info(`${domain}: shut off, starting it paused for the backup`);
      await ctx.virsh.start(domain, true);
      startedByUs = true;
      inv = await inspectDomain(ctx, domain, inspectOpts);
      plan = planBackup(inv, request, ctx.now());
      if (plan.action === 'skip') return { domain, result: 'skipped', reason: plan.reason };
      if (plan.action === 'refuse') throw new VmkeepError('failure', plan.reason);
    }
    ctx.log.info(`${domain}: ${plan.level} backup into ${plan.folder} (${plan.reasons.join('; ')})`);
    const spaceEstimate = await estimateSpace(ctx, inv, plan, options.output, options.compress);
    if (spaceEstimate && isClearlyShort(spaceEstimate)) throw notEnoughSpaceError(domain, plan.level, join(options.output, domain), spaceEstimate);
    const done = await executeBackup(ctx, engine, inv, plan, {
      spaceEstimate,
      output: options.output,
      compress: options.compress,
      raw: options.raw,
      label: options.label,
      toolVersions,
      startedDomain: startedByUs,
      onProgress: (d, t) => progress.update(domain, d, t),
    });
    progress.finish(domain);
    const result: DomainResult = {
      domain,
      result: 'done',
      level: done.level,
      chain: done.folder,
      checkpoint: done.checkpoint,
      dataBytes: done.dataBytes,
      durationMs: done.durationMs,
      throughputBytesPerSecond: Math.round(done.dataBytes / Math.max(done.durationMs / 1000, 0.001)),
      reasons: plan.reasons,
      repairs: done.repairs,
      ...(done.notes.length > 0 ? { notes: done.notes } : {}),
    };
    if (options.prune) result.prune = await pruneAfterBackup(ctx, domain, options.output, options.groupBy, options.prunePolicy);
    return result;
  } catch (caught) {
    // A tool's or the file system's own words become vmkeep's; the tool's text stays as detail.
    const error = caught instanceof ToolError || !(caught instanceof VmkeepError)
      ? explainFailure(caught, { domain, level: 'full', folder: join(options.output, domain) })
      : caught;
    const reason = error instanceof Error ? error.message : String(error);
    const detail = error instanceof VmkeepError ? error.detail : undefined;
    ctx.log.warn(`${domain}: backup failed: ${reason}`);
    if (detail) ctx.log.debug(`${domain}: ${detail}`);
    // A lock held by another run or an interruption before the start is no failed backup.
    const notAFailure = error instanceof VmkeepError && (error.code === 'locked' || error.code === 'interrupted');
    if (!options.dryRun && lock && !notAFailure && !failureRecorded(error)) {
      await recordFailureOnNewestChain(await listChains(options.output, domain).catch(() => []), ctx.now(), `backup: ${reason}`);
    }
    return { domain, result: 'failed', reason, ...(detail ? { detail } : {}), ...(notAFailure && error.code === 'locked' ? { locked: true } : {}) };
  } finally {
    if (startedByUs) await putBack(ctx, domain);
    lock?.release();
  }
}

/**
 * Return a domain we started paused to shut off, also after a failure. Only while it is still
 * paused: someone who resumed it meanwhile is running a guest that must not be pulled.
 */
async function putBack(ctx: AppContext, domain: string): Promise<void> {
  try {
    const state = await ctx.virsh.domainState(domain);
    if (state === 'paused') await ctx.virsh.destroy(domain);
    else if (state !== 'shut off') ctx.log.warn(`${domain}: started paused for the backup, but resumed meanwhile: left ${state}`);
  } catch (e) {
    ctx.log.warn(`${domain}: could not shut it off again after the backup: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function planned(plan: DomainBackupPlan): DomainResult {
  if (plan.action === 'skip') return { domain: plan.domain, result: 'skipped', reason: plan.reason };
  if (plan.action === 'refuse') return { domain: plan.domain, result: 'failed', reason: plan.reason };
  return {
    domain: plan.domain,
    result: 'planned',
    level: plan.level,
    chain: plan.folder,
    reasons: plan.reasons,
    repairs: plan.repairs.map(describeRepair),
    reason: plan.startPaused
      ? 'domain is shut off: it would be started paused and shut off again'
      : plan.shutOffAfter
        ? 'domain is paused by an interrupted run: it would be shut off after the backup'
        : undefined,
  };
}

/** The summary table printed at the end of a run. */
export function renderSummary(results: readonly DomainResult[], dryRun: boolean): string {
  const rows = results.map((r) => [
    printable(r.domain),
    r.result,
    r.level ?? '-',
    r.dataBytes === undefined ? '-' : prettyBytes(r.dataBytes, { binary: true }),
    r.durationMs === undefined ? '-' : `${(r.durationMs / 1000).toFixed(1)} s`,
    r.throughputBytesPerSecond === undefined ? '-' : `${prettyBytes(r.throughputBytesPerSecond, { binary: true })}/s`,
    printable(r.result === 'done' ? r.chain ?? '' : r.result === 'planned' ? `${r.chain}: ${(r.reasons ?? []).join('; ')}` : r.reason ?? ''),
  ]);
  const head = ['domain', 'result', 'level', 'data', 'time', 'speed', dryRun ? 'plan' : 'chain / reason'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const out = [line(head), ...rows.map(line)];
  for (const r of results) {
    for (const rep of r.repairs ?? []) out.push(`  ${r.domain}: ${dryRun ? 'would repair' : 'repaired'}: ${rep}`);
    for (const note of r.notes ?? []) out.push(`  ${r.domain}: note: ${note}`);
    for (const rm of r.prune?.removed ?? []) out.push(`  ${r.domain}: pruned ${rm}`);
  }
  return `${out.join('\n')}\n`;
}
