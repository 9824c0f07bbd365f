/**
 * `vmkeep backup`: every selected domain gets a result (done, skipped, failed); one domain's
 * failure never stops the others; exit 0 only when every requested domain succeeded.
 */
import { constants } from 'node:fs';
import { access, mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import prettyBytes from 'pretty-bytes';
import type { AppContext } from '../app/context.js';
import { outcomeOf, type CommandResult } from '../app/command-result.js';
import { ToolError, VmkeepError, messageOf } from '../errors.js';
import { printable } from '../util/printable.js';
import type { Duration, GroupBy, RetentionPolicy } from '../retention/types.js';
import { acquireLock, domainLockDir, domainLockFile, lockHolder, type HeldLock } from '../util/lock.js';
import type { BackupEngine, EngineName } from './engine/types.js';
import { PushEngine } from './engine/push.js';
import { VirtnbdbackupEngine } from './engine/virtnbdbackup.js';
import { executeBackup } from './execute-backup.js';
import { failureNoteFileFor, failureRecorded, recordFailureOnNewestChain } from './record-failure.js';
import { childRecordFileFor, endOrphanedChildren } from './orphaned-children.js';
import { explainFailure } from './classify-failure.js';
import { estimateSpace, isClearlyShort, notEnoughSpaceError } from './estimate-space.js';
import { listChains } from '../repository/chains.js';
import { describeRepair } from './execute-repairs.js';
import { inspectDomain } from './inspect-domain.js';
import { planBackup, type DomainBackupPlan } from './plan-backup.js';
import { createProgressSink, type ProgressSink } from './progress.js';
import { pruneAfterBackup, type PruneOutcome } from '../prune/prune-after-backup.js';
import { finishInterruptedMerges } from '../prune/merge-points.js';
import { randomUUID } from 'node:crypto';
import type { DomainSettings, SettingsFor } from '../config/settings.js';
import type { HookSpec } from '../config/schema.js';
import { resolveSelection, type SelectionRequest } from '../domain/select-by-tags.js';
import { runHook, type HookEnv, type HookOutcome } from '../hooks/run-hook.js';
import { readManifest, writeManifest } from '../repository/manifest.js';
import { checkAgentBeforeRun, createPointFreezer, quiesceRequiredError, watchFreeze, type PointFreezer, type QuiesceResult } from './quiesce.js';
import { classifyAgentError, freezeRecordFile, guestFreezeState, thawLeftoverFreeze } from '../domain/guest-freeze.js';
import { putBack, restartAfterStop, resumeInterruptedStop, stopForBackup, type StopRecord } from './domain-power.js';
import { nameTakenBy } from './point-name.js';

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
  /** Which engine writes new restore points (default virtnbdbackup). */
  engine?: EngineName;
  /** --verbose: debug lines (virtnbdbackup's own log) are shown. */
  verbose?: boolean;
  env: NodeJS.ProcessEnv;
  /** Per-domain settings (config layers + flags). Without it every domain gets the fields above. */
  settingsFor?: SettingsFor;
  /** --tag / --tag-any / --exclude on top of `domains`. */
  selection?: SelectionRequest;
  /** Read every domain's tags (the config has tag sections). */
  needTags?: boolean;
  /** backup --name: a name for the new restore point, unique per domain. */
  name?: string | undefined;
  /** Hooks run once per run. */
  runHooks?: { preRun?: HookSpec; postRun?: HookSpec };
}

/** The settings every domain gets when no config is in play (the flat options). */
export function settingsFromOptions(options: BackupOptions): DomainSettings {
  return Object.freeze({
    groupBy: options.groupBy,
    ifOlderThan: options.ifOlderThan,
    compress: options.compress,
    raw: options.raw,
    prune: options.prune,
    prunePolicy: options.prunePolicy ?? Object.freeze({ groupBy: options.groupBy, vmsnapRule: true }),
    disks: undefined,
    excludeDisks: [],
    stop: 'live',
    stopTimeoutMs: 120_000,
    label: options.label,
    quiesce: 'off',
    engine: options.engine ?? 'virtnbdbackup',
    hooks: {},
    layers: [],
  });
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
  /** Domain tags, when read. */
  tags?: readonly string[];
  /** Hooks that ran for this domain. */
  hooks?: HookOutcome[];
  /** --stop: how the domain was stopped and whether it runs again. */
  stopped?: { how: 'graceful' | 'forced'; restarted: boolean };
  /** backup --name given to the new point. */
  name?: string;
  /** Were the guest's filesystems frozen for the point (vmkeep's freeze, or virtnbdbackup's log)? */
  quiesced?: boolean;
  /** Why they were not. */
  quiesceReason?: string;
  /** The guest was not running while the point was taken (shut off, or --stop): consistent on disk. */
  offline?: boolean;
  /** Which config layers applied. */
  layers?: readonly string[];
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
    if (!parentStat)
      throw new VmkeepError('usage', `output ${output} cannot be created: its parent folder ${parent} does not exist (is the backup disk mounted?)`);
    if (!parentStat.isDirectory()) throw new VmkeepError('usage', `output ${output} cannot be created: ${parent} is not a folder`);
    if (!dryRun) await mkdir(output, { mode: 0o700 });
    return;
  }
  if (!s.isDirectory()) throw new VmkeepError('failure', `output ${output} exists and is not a directory`);
  try {
    await access(output, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new VmkeepError(
      'failure',
      `output folder ${output} is not writable (${code === 'EROFS' ? 'a read-only file system' : 'permission denied'}): nothing was backed up`,
    );
  }
}

/** The engine --engine names. */
export function createEngine(ctx: AppContext, name: EngineName): BackupEngine {
  return name === 'push' ? new PushEngine(ctx.virsh, ctx.qemuImg) : new VirtnbdbackupEngine(ctx.runner);
}

/**
 * Back up the selected domains of one host. `limit` bounds the backups running at once; several
 * hosts in one run share one, so --jobs bounds the whole run.
 */
export async function runBackup(
  ctx: AppContext,
  options: BackupOptions,
  engine: BackupEngine = createEngine(ctx, options.engine ?? 'virtnbdbackup'),
  limit: LimitFunction = pLimit(Math.max(1, options.jobs)),
): Promise<CommandResult> {
  // Checked before anything is created; created only once a requested domain exists.
  await prepareOutput(options.output, true);
  // Both take a moment (virtnbdbackup is a Python program): ask at once.
  const request: SelectionRequest = options.selection ?? { domains: options.domains, tags: [], tagAny: false, exclude: [] };
  const [selection, toolVersions] = await Promise.all([
    resolveSelection(ctx, request, options.needTags ?? false),
    options.dryRun ? Promise.resolve({}) : engine.version().then((v): Record<string, string> => ({ [engine.name]: v })),
  ]);
  if (selection.selected.length > 0) await prepareOutput(options.output, options.dryRun);
  const outputLockFile = join(options.output, '.vmkeep.lock');
  if (options.dryRun) {
    // A plan made while another run works would show that run's work in progress as leftovers to repair.
    const holder = lockHolder(outputLockFile);
    if (holder)
      throw new VmkeepError(
        'locked',
        `output folder ${options.output} is locked by another vmkeep run (pid ${holder}): a plan now would show its work in progress as leftovers; try again when it is done`,
      );
  }
  // No lock file for a run that selected nothing: it would write into a folder it has no business in.
  const outputLock =
    options.dryRun || selection.selected.length === 0
      ? undefined
      : await acquireLock(outputLockFile, { waitMs: options.lockWaitMs, what: `output folder ${options.output}`, signal: ctx.signal });
  try {
    // One id for the run: the one log lines and notifications carry (a fresh one outside the CLI).
    const runId = ctx.runId ?? randomUUID();
    const settingsFor = options.settingsFor ?? (() => settingsFromOptions(options));
    const runHookOutcomes: HookOutcome[] = [];
    const runEnv = (phase: HookEnv['phase'], extra: Partial<HookEnv> = {}): HookEnv => ({ phase, runId, output: options.output, ...extra });
    if (options.runHooks?.preRun && !options.dryRun) {
      const pre = await runHook(ctx.runner, ctx.log, options.runHooks.preRun, runEnv('pre-run'), ctx.signal);
      runHookOutcomes.push(pre);
      if (!pre.ok) {
        // Nothing was backed up: the pre-run hook is the gate for the whole run.
        const results: DomainResult[] = selection.selected.map((d) => ({ domain: d, result: 'failed', reason: `not started: ${pre.error}` }));
        return {
          document: { dryRun: false, output: options.output, groupBy: options.groupBy, runId, hooks: runHookOutcomes, results },
          text: renderSummary(results, false),
          outcome: 'failure',
        };
      }
    }
    const progress = createProgressSink(ctx.interactive && !options.dryRun, ctx.log);
    const runCtx: AppContext = { ...ctx, log: progress.logger(ctx.log, options.verbose ?? false) };
    let results: DomainResult[];
    try {
      results = await Promise.all(
        selection.selected.map((domain) =>
          limit(async (): Promise<DomainResult> => {
            const tags = selection.tagsOf.get(domain);
            let settings: DomainSettings;
            try {
              settings = settingsFor(domain, tags ?? []);
            } catch (e) {
              // Layers that are each valid can still combine into a policy the validator refuses.
              return { domain, result: 'failed', reason: `settings: ${messageOf(e)}` };
            }
            // The config may name another engine for this domain (engine: push under a tag or domain).
            if (settings.engine === 'push' && (settings.compress || settings.raw)) {
              return {
                domain,
                result: 'failed',
                reason: `settings: engine push writes plain qcow2 images of qcow2 disks; it goes with neither compress nor raw`,
              };
            }
            const domainEngine = settings.engine === engine.name ? engine : createEngine(ctx, settings.engine);
            const versions = domainEngine === engine || options.dryRun ? toolVersions : { ...toolVersions, [domainEngine.name]: await domainEngine.version() };
            const r = await backupOneDomain({ ctx: runCtx, engine: domainEngine, domain, options, settings, toolVersions: versions, progress }, runEnv);
            return { ...r, ...(tags === undefined ? {} : { tags }) };
          }),
        ),
      );
    } finally {
      progress.stop();
    }
    for (const name of selection.unknown) results.push({ domain: name, result: 'failed', reason: 'unknown domain' });
    for (const p of selection.emptyPatterns) results.push({ domain: p, result: 'failed', reason: 'no domain matches this pattern' });
    const ok = results.filter((r) => r.result !== 'failed').length;
    const interrupted = ctx.signal.aborted;
    if (options.runHooks?.postRun && !options.dryRun) {
      const outcome = interrupted ? 'interrupted' : outcomeOf(ok, results.length);
      const failed = results.filter((r) => r.result === 'failed');
      const post = await runHook(
        ctx.runner,
        ctx.log,
        options.runHooks.postRun,
        runEnv('post-run', {
          result: outcome,
          error: failed.map((r) => `${r.domain}: ${r.reason ?? 'failed'}`).join('; '),
        }),
      );
      runHookOutcomes.push(post);
    }
    // Nothing done only because other runs hold the locks: "locked" (75), as for the output lock.
    const onlyLocked = ok === 0 && results.some((r) => r.locked) && results.every((r) => r.result !== 'failed' || r.locked);
    return {
      document: {
        dryRun: options.dryRun,
        output: options.output,
        groupBy: options.groupBy,
        ...(runHookOutcomes.length > 0 ? { runId, hooks: runHookOutcomes } : {}),
        ...(selection.filteredOut.length > 0 ? { filteredOut: selection.filteredOut } : {}),
        results,
      },
      text: renderSummary(results, options.dryRun),
      outcome: interrupted ? 'interrupted' : onlyLocked ? 'locked' : outcomeOf(ok, results.length),
    };
  } finally {
    outputLock?.release();
  }
}

/** One domain's part of a run: what backupOneDomain and backupDomainCore both work with. */
interface DomainRun {
  ctx: AppContext;
  engine: BackupEngine;
  domain: string;
  options: BackupOptions;
  settings: DomainSettings;
  toolVersions: Record<string, string>;
  progress: ProgressSink;
}

async function backupOneDomain(run: DomainRun, runEnv: (phase: HookEnv['phase'], extra?: Partial<HookEnv>) => HookEnv): Promise<DomainResult> {
  const { ctx, domain, options, settings } = run;
  if (ctx.signal.aborted) return { domain, result: 'failed', reason: 'not started: interrupted' };
  const hooks: HookOutcome[] = [];
  const extra: Partial<DomainResult> = settings.layers.length > 0 ? { layers: settings.layers } : {};
  const withHooks = (r: DomainResult): DomainResult => ({ ...r, ...extra, ...(hooks.length > 0 ? { hooks } : {}) });
  let result: DomainResult;
  let chainDir: string | undefined;
  let level: string | undefined;
  if (settings.hooks.preDomain && !options.dryRun) {
    const pre = await runHook(ctx.runner, ctx.log, settings.hooks.preDomain, runEnv('pre-domain', { domain }), ctx.signal);
    hooks.push(pre);
    if (!pre.ok) {
      result = { domain, result: 'failed', reason: `skipped: ${pre.error}` };
      await afterDomain(ctx, settings, domain, result, runEnv, hooks, undefined, undefined);
      return withHooks(result);
    }
  }
  const stop: StopRecord = {};
  result = await backupDomainCore(run, stop, (dir, lvl) => {
    chainDir = dir;
    level = lvl;
  });
  if (stop.how) result = { ...result, stopped: { how: stop.how, restarted: stop.restarted === true } };
  if (!options.dryRun) await afterDomain(ctx, settings, domain, result, runEnv, hooks, chainDir, level);
  return withHooks(result);
}

/** Record on the new point whether its checkpoint was taken with frozen filesystems, and its --name. */
async function recordPointFields(
  chainDir: string,
  checkpoint: string,
  fields: { quiesced?: boolean; quiesceReason?: string; offline?: boolean; name?: string },
): Promise<void> {
  const manifest = await readManifest(chainDir);
  if (!manifest) return;
  await writeManifest(chainDir, { ...manifest, points: manifest.points.map((p) => (p.checkpoint === checkpoint ? { ...p, ...fields } : p)) });
}

/** post-domain (always) and on-error (when it failed) hooks; a failing one is a warning on the domain. */
async function afterDomain(
  ctx: AppContext,
  settings: DomainSettings,
  domain: string,
  result: DomainResult,
  runEnv: (phase: HookEnv['phase'], extra?: Partial<HookEnv>) => HookEnv,
  hooks: HookOutcome[],
  chainDir: string | undefined,
  level: string | undefined,
): Promise<void> {
  const env = {
    domain,
    result: result.result,
    ...(chainDir ? { chainDir } : {}),
    ...(level ? { level } : {}),
    ...(result.result === 'failed' ? { error: result.reason ?? 'failed' } : {}),
  };
  const phases: Array<['post-domain' | 'on-error', HookSpec | undefined]> = [
    ['on-error', result.result === 'failed' ? settings.hooks.onError : undefined],
    ['post-domain', settings.hooks.postDomain],
  ];
  for (const [phase, hook] of phases) {
    if (!hook) continue;
    const out = await runHook(ctx.runner, ctx.log, hook, runEnv(phase, env));
    hooks.push(out);
    if (!out.ok) result.notes = [...(result.notes ?? []), `warning: ${out.error}`];
  }
}

async function backupDomainCore(run: DomainRun, stop: StopRecord, onChain: (chainDir: string, level: string) => void): Promise<DomainResult> {
  const { ctx, engine, domain, options, settings, toolVersions, progress } = run;
  let lock: HeldLock | undefined;
  let startedByUs = false;
  let resumeAfter = false;
  try {
    const domainLock = domainLockFile(domainLockDir(options.env), domain);
    if (!options.dryRun) {
      lock = await acquireLock(domainLock, { waitMs: options.lockWaitMs, what: `domain ${domain}`, signal: ctx.signal });
    } else {
      const holder = lockHolder(domainLock);
      if (holder) throw new VmkeepError('locked', `domain ${domain} is locked by another vmkeep run (pid ${holder}): no plan while it works`);
    }
    // A freeze a killed run of vmkeep left on this guest is undone first (only vmkeep's own).
    const freezeRecord = freezeRecordFile(domainLock);
    const leftoverNotes: string[] = [];
    // A tool a killed run left running would write into the chain while this run repairs it.
    const childRecordFile = childRecordFileFor(domainLock);
    if (!options.dryRun) {
      for (const ended of await endOrphanedChildren(childRecordFile, domain)) {
        ctx.log.warn(`${domain}: ${ended}`);
        leftoverNotes.push(ended);
      }
    }
    if (!options.dryRun) {
      const thawed = await thawLeftoverFreeze(ctx.virsh, domain, freezeRecord);
      if (thawed) {
        ctx.log.warn(`${domain}: ${thawed}`);
        leftoverNotes.push(thawed);
      }
    }
    if (settings.stop !== 'live') {
      const state = await ctx.virsh.domainState(domain);
      const runs = state === 'running' || state === 'paused';
      if (runs && settings.stop === 'require-stopped') {
        // A domain left out because it runs is a domain without a backup: a failed item (as
        // s3snapshot's --stopped), so the run is partial and the notification says so.
        const reason = `not backed up: domain is ${state} and --require-stopped backs up shut-off domains only; shut it down before the run, or use --stop to let vmkeep shut it down and start it again`;
        ctx.log.warn(`${domain}: ${reason}`);
        return { domain, result: 'failed', reason };
      }
      if (state === 'running' && (settings.stop === 'stop' || settings.stop === 'stop-force')) {
        if (options.dryRun) {
          const r = await planOnly(ctx, domain, options, settings);
          return { ...r, reason: `domain runs: it would be shut down (${settings.stop}), backed up offline and started again` };
        }
        stop.how = await stopForBackup(ctx, domain, settings);
      }
    }
    // A point-level prune a crash cut off between two disks' renames leaves points that refuse to
    // restore until it is finished: with the locks held, this run finishes it first.
    const mergeRepairs = options.dryRun ? [] : await finishMerges(ctx, options.output, domain);
    const request = { groupBy: settings.groupBy, ifOlderThan: settings.ifOlderThan, engine };
    // A failure an earlier run could not record in its manifest waits beside the domain's lock.
    const failureNoteFile = failureNoteFileFor(domainLock);
    const inspectOpts = { output: options.output, raw: settings.raw, disks: settings.disks, excludeDisks: settings.excludeDisks, failureNoteFile };
    let inv = await inspectDomain(ctx, domain, inspectOpts);
    if (options.name !== undefined) {
      const taken = nameTakenBy(inv.chains, options.name);
      if (taken)
        throw new VmkeepError(
          'failure',
          `restore point name ${JSON.stringify(options.name)} is already used by ${taken} of ${domain}: names are unique per domain; choose another`,
        );
    }
    const plan = planBackup(inv, request, ctx.now());
    if (options.dryRun) return planned(plan);
    if (plan.action === 'skip') {
      ctx.log.info(`${domain}: skipped: ${plan.reason}`);
      return { domain, result: 'skipped', reason: plan.reason };
    }
    if (plan.action === 'refuse') throw new VmkeepError('failure', plan.reason);
    if (inv.state === 'other') throw new VmkeepError('failure', `domain ${domain} is in a state vmkeep cannot back up`);
    startedByUs = plan.shutOffAfter;
    resumeAfter = plan.resumeAfter;
    // The guest does not run while its point is taken: the point is offline, consistent on disk.
    const offline = plan.startPaused;
    if (plan.startPaused) {
      // A shut-off domain has no QEMU to run the job; started paused it gets a real checkpoint.
      // The plan stands as made: its bitmaps were read from the images while the domain was shut
      // off (qemu-img), and a paused guest writes nothing, so no live bitmap query is needed.
      ctx.log.info(`${domain}: shut off, starting it paused for the backup`);
      await ctx.virsh.start(domain, true);
      startedByUs = true;
      inv = { ...inv, state: 'paused' };
    }
    ctx.log.info(`${domain}: ${plan.level} backup into ${plan.folder} (${plan.reasons.join('; ')})`);
    for (const w of plan.warnings ?? []) ctx.log.warn(`${domain}: ${w}`);
    onChain(join(options.output, domain, plan.folder), plan.level);
    // Nothing is repaired or deleted before the run is known to have what it needs: a folder the
    // engine can write into (push: QEMU must reach it) and the space (below).
    await engine.checkOutput?.(domain, ctx.virsh.uri, options.output);
    const spaceEstimate = await estimateSpace(ctx, inv, plan, options.output, options.compress);
    if (spaceEstimate && isClearlyShort(spaceEstimate)) throw notEnoughSpaceError(domain, plan.level, join(options.output, domain), spaceEstimate);
    // virtnbdbackup freezes the guest's filesystems for the checkpoint itself; its log says whether it could.
    const freeze = watchFreeze(ctx.log);
    // No guest agent answers in a paused guest, and an offline point needs no freeze.
    const quiesceMode = offline ? 'off' : settings.quiesce;
    // A guest someone else froze: the point is consistent, but its writes are blocked, and that
    // is what must be said. vmkeep neither thaws it nor freezes it again.
    const frozenByOther = !offline && inv.state === 'running' && (await guestFreezeState(ctx.virsh, domain)) === 'frozen';
    if (frozenByOther) {
      leftoverNotes.push(
        `the guest filesystems of ${domain} were already frozen, not by vmkeep: the guest's writes are blocked until whoever froze them thaws them (virsh domfsthaw ${domain}); the point is consistent`,
      );
      ctx.log.warn(`${domain}: ${leftoverNotes.at(-1)!}`);
    }
    let freezer: PointFreezer | undefined;
    if (quiesceMode !== 'off' && !frozenByOther) {
      if (!engine.freezesGuest) {
        freezer = createPointFreezer({ virsh: ctx.virsh, domain, mode: quiesceMode, recordFile: freezeRecord, now: ctx.now });
      } else if (quiesceMode === 'require') {
        const missing = await checkAgentBeforeRun(ctx.virsh, domain);
        if (missing) throw quiesceRequiredError(domain, missing);
      }
    }
    const done = await executeBackup({ ...ctx, log: freeze.log }, engine, inv, plan, {
      ...(freezer ? { atPoint: freezer.atPoint.bind(freezer) } : {}),
      spaceEstimate,
      output: options.output,
      compress: settings.compress,
      raw: settings.raw,
      label: settings.label,
      toolVersions,
      // A domain --stop shut down goes back to running, never to shut off (a run after a kill too).
      startedDomain: startedByUs && stop.how === undefined,
      stoppedDomain: stop.how !== undefined,
      onProgress: (d, t) => progress.update(domain, d, t),
      failureNoteFile,
      childRecordFile,
    });
    progress.finish(domain);
    // Its repairs put an earlier run's note on record (close-run); a note is for one next run only.
    if (inv.failureNote) await rm(failureNoteFile, { force: true });
    const quiesce = offline ? undefined : frozenByOther ? { quiesced: true } : quiesceResultOf(engine.freezesGuest, freezer, freeze.event());
    const quiesceNotes: string[] = [...leftoverNotes];
    if (quiesce || offline || options.name !== undefined) {
      await recordPointFields(join(options.output, domain, done.folder), done.checkpoint, {
        ...(quiesce ? { quiesced: quiesce.quiesced } : {}),
        ...(quiesce?.reason ? { quiesceReason: quiesce.reason } : {}),
        ...(offline ? { offline: true } : {}),
        ...(options.name !== undefined ? { name: options.name } : {}),
      });
    }
    if (quiesceMode !== 'off' && quiesce?.quiesced !== true) {
      quiesceNotes.push(`not quiesced: ${quiesce?.reason ?? 'no freeze reported'}; the point is crash-consistent`);
      ctx.log.warn(`${domain}: ${quiesceNotes.at(-1)!}`);
    } else if (quiesce?.quiesced && quiesce.frozenMs !== undefined) {
      ctx.log.info(`${domain}: guest filesystems frozen for the point, writes blocked ${quiesce.frozenMs} ms`);
    }
    const result: DomainResult = {
      domain,
      result: 'done',
      level: done.level,
      chain: done.folder,
      checkpoint: done.checkpoint,
      ...(options.name !== undefined ? { name: options.name } : {}),
      dataBytes: done.dataBytes,
      durationMs: done.durationMs,
      throughputBytesPerSecond: Math.round(done.dataBytes / Math.max(done.durationMs / 1000, 0.001)),
      reasons: plan.reasons,
      repairs: [...mergeRepairs, ...done.repairs],
      ...(quiesce ? { quiesced: quiesce.quiesced } : {}),
      ...(quiesce?.reason ? { quiesceReason: quiesce.reason } : {}),
      ...(offline ? { offline: true } : {}),
      ...(done.notes.length + quiesceNotes.length + (plan.warnings?.length ?? 0) > 0
        ? { notes: [...(plan.warnings ?? []), ...done.notes, ...quiesceNotes] }
        : {}),
    };
    if (settings.prune) result.prune = await pruneAfterBackup(ctx, domain, options.output, settings.groupBy, settings.prunePolicy);
    return result;
  } catch (caught) {
    // A tool's or the file system's own words become vmkeep's; the tool's text stays as detail.
    const error =
      caught instanceof ToolError || !(caught instanceof VmkeepError)
        ? explainFailure(caught, { domain, level: 'full', folder: join(options.output, domain) })
        : caught;
    const reason = messageOf(error);
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
    // A domain --stop shut down is resumed from the paused start: it boots once, not twice.
    if (stop.how) stop.restarted = await restartAfterStop(ctx, domain);
    else if (resumeAfter) await resumeInterruptedStop(ctx, domain);
    else if (startedByUs) await putBack(ctx, domain);
    lock?.release();
  }
}

/**
 * What a live point records about its freeze: vmkeep's own freeze (push), or virtnbdbackup's log
 * line, whose error text is put in vmkeep's words. A push point taken without --quiesce is
 * crash-consistent, and says so.
 */
function quiesceResultOf(
  engineFreezes: boolean,
  freezer: PointFreezer | undefined,
  event: ReturnType<ReturnType<typeof watchFreeze>['event']>,
): QuiesceResult | undefined {
  if (!engineFreezes) return freezer?.result() ?? { quiesced: false, reason: 'no freeze was asked for (--quiesce)' };
  if (!event) return undefined;
  return event.frozen ? { quiesced: true } : { quiesced: false, reason: classifyAgentError(new Error(event.reason)).reason };
}

/** Finish the merges an interrupted `prune --merge-points` left in the domain's push chains. */
async function finishMerges(ctx: AppContext, output: string, domain: string): Promise<string[]> {
  const done: string[] = [];
  for (const view of await listChains(output, domain)) {
    if (view.manifest?.engine !== 'push') continue;
    for (const line of await finishInterruptedMerges(ctx, view.dir)) done.push(`${view.folder}: ${line}`);
  }
  for (const line of done) ctx.log.info(`${domain}: ${line}`);
  return done;
}

/** A dry-run plan for a domain --stop would shut down: planned as if it were shut off. */
async function planOnly(ctx: AppContext, domain: string, options: BackupOptions, settings: DomainSettings): Promise<DomainResult> {
  const inv = await inspectDomain(ctx, domain, { output: options.output, raw: settings.raw, disks: settings.disks, excludeDisks: settings.excludeDisks });
  return planned(planBackup(inv, { groupBy: settings.groupBy, ifOlderThan: settings.ifOlderThan }, ctx.now()));
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
    printable(r.result === 'done' ? (r.chain ?? '') : r.result === 'planned' ? `${r.chain}: ${(r.reasons ?? []).join('; ')}` : (r.reason ?? '')),
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
