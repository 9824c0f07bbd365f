/**
 * One domain's backup as named steps, read top to bottom: hooks around it, the domain lock,
 * power state, then leftovers, inspect, engine, plan, checks, freeze, job, record and (on
 * success only) prune.
 * A step that cannot go on throws; one catch turns that into the domain's failed result and
 * puts the failure on record.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AppContext } from '../app/context.js';
import type { DomainSettings } from '../config/settings.js';
import { ToolError, VmkeepError, messageOf } from '../errors.js';
import { classifyAgentError, freezeRecordFile, guestFreezeState, thawLeftoverFreeze } from '../domain/guest-freeze.js';
import { finishInterruptedMerges } from '../repository/merge-points.js';
import { listChains } from '../repository/chains.js';
import { withLocks, type LockRequest } from '../repository/locks.js';
import { readManifest, writeManifest, type ManifestPoint } from '../repository/manifest.js';
import { chooseEngine } from '../repository/engine-choice.js';
import { readEngineFacts } from '../repository/engine-facts.js';
import { PhaseTimer, describePhases } from '../util/phase-timer.js';
import { withDomainHooks, type ChainTarget, type HookScope } from './backup-hooks.js';
import { explainFailure } from './classify-failure.js';
import { withPowerState, type PowerState } from './domain-power.js';
import { createEngine } from './engine/create-engine.js';
import type { BackupEngine, EngineName } from './engine/types.js';
import { estimateSpace, isClearlyShort, notEnoughSpaceError } from './estimate-space.js';
import { executeBackup, type ExecutedBackup } from './execute-backup.js';
import { describeRepair } from './execute-repairs.js';
import { inspectDomain } from './inspect-domain.js';
import type { BackupInventory, SpaceEstimate } from './plan-types.js';
import { childRecordFileFor, endOrphanedChildren } from './orphaned-children.js';
import { planBackup, type DomainBackupPlan } from './plan-backup.js';
import { nameTakenBy } from './point-name.js';
import type { ProgressSink } from './progress.js';
import { checkAgentBeforeRun, createPointFreezer, quiesceRequiredError, watchFreeze, type PointFreezer, type QuiesceResult } from './quiesce.js';
import { failureNoteFileFor, failureRecorded, recordFailureOnNewestChain } from './record-failure.js';
import type { BackupOptions, DomainResult } from './types.js';

type BackupPlan = Extract<DomainBackupPlan, { action: 'backup' }>;

/** One domain's part of a run: everything its steps work with. */
export interface DomainRun {
  ctx: AppContext;
  /** The engine --engine or the config forces; undefined: auto, chosen once the domain is inspected. */
  forcedEngine: BackupEngine | undefined;
  /** Does libvirt do push-mode backup with checkpoints (asked at most once per run)? */
  pushSupported: () => Promise<boolean>;
  /** An engine's version, asked once per run. */
  versionOf: (engine: BackupEngine) => Promise<string>;
  domain: string;
  options: BackupOptions;
  settings: DomainSettings;
  toolVersions: Record<string, string>;
  progress: ProgressSink;
  hooks: HookScope;
  /** Where the domain's time goes, step by step (its --json `phases`, the point's record). */
  phases: PhaseTimer;
}

/** A domain's run once its engine is known: the steps from the plan on work with this. */
interface EngineRun extends DomainRun {
  engine: BackupEngine;
  /** Which engine and why, as the result and --dry-run say it. */
  engineInfo: { engine: EngineName; engineReason: string };
}

/** The files beside a domain's lock: its lock, a killed run's freeze and child records, a failure note. */
interface DomainFiles {
  lock: string;
  freezeRecord: string;
  childRecord: string;
  failureNote: string;
}

function domainFilesOf(run: DomainRun): DomainFiles {
  const lock = run.ctx.locks.domainLockFile(run.domain);
  return { lock, freezeRecord: freezeRecordFile(lock), childRecord: childRecordFileFor(lock), failureNote: failureNoteFileFor(lock) };
}

/** Back up one domain: hooks, then the backup under its lock and power state. */
export async function backupDomain(parts: Omit<DomainRun, 'phases'>): Promise<DomainResult> {
  const run: DomainRun = { ...parts, phases: new PhaseTimer() };
  const { ctx, domain, settings } = run;
  if (ctx.signal.aborted) return { domain, result: 'failed', reason: 'not started: interrupted' };
  const { result, hooks } = await withDomainHooks(run.hooks, domain, settings.hooks, (target) => backUpUnderLock(run, target), run.phases);
  const phases = run.phases.list();
  ctx.log.debug(`${domain}: time went to ${describePhases(phases)}`);
  return { ...result, ...(settings.layers.length > 0 ? { layers: settings.layers } : {}), ...(hooks.length > 0 ? { hooks } : {}), phases };
}

async function backUpUnderLock(run: DomainRun, target: ChainTarget): Promise<DomainResult> {
  const files = domainFilesOf(run);
  const { options } = run;
  // A dry run only checks that no other run holds the domain's lock.
  const lock: LockRequest = { domains: [run.domain], mode: options.dryRun ? 'check' : 'write', waitMs: options.lockWaitMs, why: 'no plan while it works' };
  try {
    // The wait for the locks is the lock phase: timed up to the moment they are held.
    const asked = performance.now();
    return await withLocks(run.ctx, lock, async (held) => {
      run.phases.add('lock', performance.now() - asked);
      const recordable = held.files.length > 0;
      const { value, stopped } = await withPowerState(run.ctx, run.domain, run.settings, (power) =>
        backUpSteps(run, files, power, target).catch((caught) => failedBackup(run, caught, recordable)),
      );
      return stopped ? { ...value, stopped } : value;
    });
  } catch (caught) {
    return failedBackup(run, caught, false);
  }
}

/** The steps under the lock, in order; an early result ends the domain's run without a failure record. */
async function backUpSteps(run: DomainRun, files: DomainFiles, power: PowerState, target: ChainTarget): Promise<DomainResult> {
  const { ctx, domain, options, settings, phases } = run;
  const leftoverNotes = options.dryRun ? [] : await phases.time('repairs', () => clearLeftovers(ctx, domain, files));
  const early = await phases.time('power', () => applyStopMode(run, power));
  if (early) return early;
  // A point-level prune a crash cut off between two disks' renames leaves points that refuse to
  // restore until it is finished: with the locks held, this run finishes it first.
  const mergeRepairs = options.dryRun ? [] : await phases.time('repairs', () => finishMerges(ctx, options.output, domain));
  const inspectOpts = {
    output: options.output,
    raw: settings.raw,
    disks: settings.disks,
    excludeDisks: settings.excludeDisks,
    failureNoteFile: files.failureNote,
  };
  let inv = await phases.time('read', () => inspectDomain(ctx, domain, inspectOpts));
  refuseTakenName(inv, domain, options.name);
  const engineRun = await phases.time('plan', () => chooseDomainEngine(run, inv));
  const plan = await phases.time('plan', () =>
    planBackup(inv, { groupBy: settings.groupBy, ifOlderThan: settings.ifOlderThan, engine: engineRun.engine }, ctx.now()),
  );
  if (options.dryRun) return plannedWithEngine(planned(plan), engineRun.engineInfo);
  if (plan.action === 'skip') {
    ctx.log.info(`${domain}: skipped: ${plan.reason}`);
    return { domain, result: 'skipped', reason: plan.reason };
  }
  if (plan.action === 'refuse') throw new VmkeepError('failure', plan.reason);
  if (inv.state === 'other') throw new VmkeepError('failure', `domain ${domain} is in a state vmkeep cannot back up`);
  power.adoptLeftover(plan);
  if (plan.startPaused) {
    // A shut-off domain has no QEMU to run the job; started paused it gets a real checkpoint.
    // The plan stands as made: its bitmaps were read from the images while the domain was shut
    // off (qemu-img), and a paused guest writes nothing, so no live bitmap query is needed.
    ctx.log.info(`${domain}: shut off, starting it paused for the backup`);
    await phases.time('power', () => power.startPaused());
    inv = { ...inv, state: 'paused' };
  }
  ctx.log.info(`${domain}: ${plan.level} backup into ${plan.folder} (${plan.reasons.join('; ')})`);
  for (const w of plan.warnings ?? []) ctx.log.warn(`${domain}: ${w}`);
  target.dir = join(options.output, domain, plan.folder);
  target.level = plan.level;
  const spaceEstimate = await phases.time('plan', () => checkRoom(engineRun, inv, plan));
  const point = await takePoint(engineRun, files, power, inv, plan, spaceEstimate);
  const result = doneResult(engineRun, plan, point, [...leftoverNotes, ...point.notes], mergeRepairs);
  try {
    // Only here, after this run recorded the domain's new point: a failed backup never prunes.
    if (settings.prune && options.afterBackup) result.prune = await phases.time('prune', () => options.afterBackup!(ctx, domain, options.output, settings));
  } finally {
    // The point's own record of the run (also when prune failed): its freeze, offline and name
    // fields, and where its time went up to here (the hooks after the lock are in --json only).
    await phases.time('manifest', () =>
      recordPointFields(join(options.output, domain, point.done.folder), point.done.checkpoint, { ...point.fields, phases: phases.list() }),
    );
  }
  return result;
}

/**
 * The engine for this domain's run: the forced one, or (auto) the one engine-choice.ts picks from
 * what was just read: the chain the run continues, the connection, the settings, libvirt's
 * support and QEMU's reach. Chosen after inspecting, so a chain is continued by the engine that
 * wrote it instead of a second full chain starting beside it.
 */
async function chooseDomainEngine(run: DomainRun, inv: BackupInventory): Promise<EngineRun> {
  const { ctx, domain, options, settings } = run;
  if (run.forcedEngine) {
    const engine = run.forcedEngine;
    return { ...run, engine, engineInfo: { engine: engine.name, engineReason: 'the engine setting (--engine or the config file)' } };
  }
  const facts = await readEngineFacts({
    domain,
    uri: ctx.virsh.uri,
    output: options.output,
    chains: inv.chains,
    groupBy: settings.groupBy,
    now: ctx.now(),
    forced: undefined,
    compress: settings.compress,
    rawDisk: settings.raw && inv.disks.some((d) => d.eligible && d.format === 'raw'),
    vmsnapRun: options.vmsnapRun,
    pushSupported: run.pushSupported,
  });
  const choice = chooseEngine(facts);
  const engine = createEngine(ctx, choice.engine);
  ctx.log.info(`${domain}: engine ${engine.name}: ${choice.reason}`);
  const toolVersions =
    options.dryRun || run.toolVersions[engine.name] !== undefined ? run.toolVersions : { ...run.toolVersions, [engine.name]: await run.versionOf(engine) };
  return { ...run, engine, toolVersions, engineInfo: { engine: engine.name, engineReason: choice.reason } };
}

/** What a killed run left on this domain: a tool still writing into the chain, vmkeep's own freeze. */
async function clearLeftovers(ctx: AppContext, domain: string, files: DomainFiles): Promise<string[]> {
  const notes: string[] = [];
  // A tool a killed run left running would write into the chain while this run repairs it.
  for (const ended of await endOrphanedChildren(files.childRecord, domain)) {
    ctx.log.warn(`${domain}: ${ended}`);
    notes.push(ended);
  }
  // A freeze a killed run of vmkeep left on this guest is undone first (only vmkeep's own).
  const thawed = await thawLeftoverFreeze(ctx.virsh, domain, files.freezeRecord);
  if (thawed) {
    ctx.log.warn(`${domain}: ${thawed}`);
    notes.push(thawed);
  }
  return notes;
}

/** --stop, --stop-force, --require-stopped: shut a running domain down, or say why not. */
async function applyStopMode(run: DomainRun, power: PowerState): Promise<DomainResult | undefined> {
  const { ctx, domain, options, settings } = run;
  if (settings.stop === 'live') return undefined;
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
      const r = await planOnly(run);
      return { ...r, reason: `domain runs: it would be shut down (${settings.stop}), backed up offline and started again` };
    }
    await power.stop();
  }
  return undefined;
}

function refuseTakenName(inv: BackupInventory, domain: string, name: string | undefined): void {
  if (name === undefined) return;
  const taken = nameTakenBy(inv.chains, name);
  if (taken)
    throw new VmkeepError(
      'failure',
      `restore point name ${JSON.stringify(name)} is already used by ${taken} of ${domain}: names are unique per domain; choose another`,
    );
}

/**
 * Nothing is repaired or deleted before the run is known to have what it needs: a folder the
 * engine can write into (push: QEMU must reach it) and the space. The estimate follows the
 * domain's own settings: a compressed stream has none.
 */
async function checkRoom(run: EngineRun, inv: BackupInventory, plan: BackupPlan): Promise<SpaceEstimate | undefined> {
  const { ctx, domain, engine, options, settings } = run;
  await engine.checkOutput?.(domain, ctx.virsh.uri, options.output);
  const estimate = await estimateSpace(ctx, inv, plan, options.output, settings.compress);
  if (estimate && isClearlyShort(estimate)) throw notEnoughSpaceError(domain, plan.level, join(options.output, domain), estimate);
  return estimate;
}

/** The new point, its freeze and the notes they leave. */
interface TakenPoint {
  done: ExecutedBackup;
  quiesce: QuiesceResult | undefined;
  offline: boolean;
  notes: string[];
  /** What the point's record gets beside what the engine's run wrote. */
  fields: PointFields;
}

/** Freeze (when asked), run the engine's job; the point's freeze, offline and name fields to record. */
async function takePoint(
  run: EngineRun,
  files: DomainFiles,
  power: PowerState,
  inv: BackupInventory,
  plan: BackupPlan,
  spaceEstimate: SpaceEstimate | undefined,
): Promise<TakenPoint> {
  const { ctx, engine, domain, options, settings, phases } = run;
  // The guest does not run while its point is taken: the point is offline, consistent on disk.
  const offline = plan.startPaused;
  const freeze = await phases.time('freeze', () => prepareFreeze(run, files, inv, offline));
  const freezer = freeze.freezer;
  const done = await executeBackup({ ...ctx, log: freeze.watch.log }, engine, inv, plan, {
    // The freeze and thaw are the freeze phase; the call they wrap is the engine's.
    ...(freezer ? { atPoint: <T>(begin: () => Promise<T>) => phases.time('freeze', () => freezer.atPoint(() => phases.time('engine', begin))) } : {}),
    phases,
    spaceEstimate,
    output: options.output,
    compress: settings.compress,
    raw: settings.raw,
    label: settings.label,
    toolVersions: run.toolVersions,
    // A domain --stop shut down goes back to running, never to shut off (a run after a kill too).
    startedDomain: power.startedByUs && power.stopped === undefined,
    stoppedDomain: power.stopped !== undefined,
    onProgress: (d, t) => run.progress.update(domain, d, t),
    failureNoteFile: files.failureNote,
    childRecordFile: files.childRecord,
  });
  run.progress.finish(domain);
  // Its repairs put an earlier run's note on record (close-run); a note is for one next run only.
  if (inv.failureNote) await rm(files.failureNote, { force: true });
  const quiesce = offline ? undefined : freeze.frozenByOther ? { quiesced: true } : quiesceResultOf(engine.freezesGuest, freezer, freeze.watch.event());
  const fields: PointFields = {
    ...(quiesce ? { quiesced: quiesce.quiesced } : {}),
    ...(quiesce?.reason ? { quiesceReason: quiesce.reason } : {}),
    ...(offline ? { offline: true } : {}),
    ...(options.name !== undefined ? { name: options.name } : {}),
  };
  const notes = [...freeze.notes];
  if (freeze.mode !== 'off' && quiesce?.quiesced !== true) {
    notes.push(`not quiesced: ${quiesce?.reason ?? 'no freeze reported'}; the point is crash-consistent`);
    ctx.log.warn(`${domain}: ${notes.at(-1)!}`);
  } else if (quiesce?.quiesced && quiesce.frozenMs !== undefined) {
    ctx.log.info(`${domain}: guest filesystems frozen for the point, writes blocked ${quiesce.frozenMs} ms`);
  }
  return { done, quiesce, offline, notes, fields };
}

/** How the point's guest filesystems are frozen: by vmkeep (push), by virtnbdbackup, or not at all. */
async function prepareFreeze(run: EngineRun, files: DomainFiles, inv: BackupInventory, offline: boolean) {
  const { ctx, engine, domain, settings } = run;
  // virtnbdbackup freezes the guest's filesystems for the checkpoint itself; its log says whether it could.
  const watch = watchFreeze(ctx.log);
  // No guest agent answers in a paused guest, and an offline point needs no freeze.
  const mode = offline ? 'off' : settings.quiesce;
  // A guest someone else froze: the point is consistent, but its writes are blocked, and that
  // is what must be said. vmkeep neither thaws it nor freezes it again.
  const frozenByOther = !offline && inv.state === 'running' && (await guestFreezeState(ctx.virsh, domain)) === 'frozen';
  const notes: string[] = [];
  if (frozenByOther) {
    notes.push(
      `the guest filesystems of ${domain} were already frozen, not by vmkeep: the guest's writes are blocked until whoever froze them thaws them (virsh domfsthaw ${domain}); the point is consistent`,
    );
    ctx.log.warn(`${domain}: ${notes.at(-1)!}`);
  }
  let freezer: PointFreezer | undefined;
  if (mode !== 'off' && !frozenByOther) {
    // --quiesce=require and no agent answers: the domain fails here, before the plan's repairs
    // delete anything. (vmkeep's own freeze for push asks again at the point itself.)
    if (mode === 'require') {
      const missing = await checkAgentBeforeRun(ctx.virsh, domain);
      if (missing) throw quiesceRequiredError(domain, missing);
    }
    if (!engine.freezesGuest) freezer = createPointFreezer({ virsh: ctx.virsh, domain, mode, recordFile: files.freezeRecord, now: ctx.now });
  }
  return { watch, mode, frozenByOther, freezer, notes };
}

/** The done result of a domain whose point was recorded. */
function doneResult(run: EngineRun, plan: BackupPlan, point: TakenPoint, notes: string[], mergeRepairs: string[]): DomainResult {
  const { done, quiesce, offline } = point;
  const name = run.options.name;
  return {
    domain: run.domain,
    result: 'done',
    ...run.engineInfo,
    level: done.level,
    chain: done.folder,
    checkpoint: done.checkpoint,
    ...(name !== undefined ? { name } : {}),
    dataBytes: done.dataBytes,
    durationMs: done.durationMs,
    throughputBytesPerSecond: Math.round(done.dataBytes / Math.max(done.durationMs / 1000, 0.001)),
    reasons: plan.reasons,
    repairs: [...mergeRepairs, ...done.repairs],
    ...(quiesce ? { quiesced: quiesce.quiesced } : {}),
    ...(quiesce?.reason ? { quiesceReason: quiesce.reason } : {}),
    ...(offline ? { offline: true } : {}),
    ...(done.notes.length + notes.length + (plan.warnings?.length ?? 0) > 0 ? { notes: [...(plan.warnings ?? []), ...done.notes, ...notes] } : {}),
  };
}

/**
 * A failed domain in vmkeep's words (a tool's text stays as detail), put on record in its newest
 * chain unless it is no failed backup (a lock another run holds, an interruption before the start)
 * or this run does not hold the domain's lock.
 */
async function failedBackup(run: DomainRun, caught: unknown, holdsLock: boolean): Promise<DomainResult> {
  const { ctx, domain, options } = run;
  const error =
    caught instanceof ToolError || !(caught instanceof VmkeepError)
      ? explainFailure(caught, { domain, level: 'full', folder: join(options.output, domain) })
      : caught;
  const reason = messageOf(error);
  const detail = error instanceof VmkeepError ? error.detail : undefined;
  ctx.log.warn(`${domain}: backup failed: ${reason}`);
  if (detail) ctx.log.debug(`${domain}: ${detail}`);
  const notAFailure = error instanceof VmkeepError && (error.code === 'locked' || error.code === 'interrupted');
  if (!options.dryRun && holdsLock && !notAFailure && !failureRecorded(error)) {
    await recordFailureOnNewestChain(await listChains(options.output, domain).catch(() => []), ctx.now(), `backup: ${reason}`);
  }
  return { domain, result: 'failed', reason, ...(detail ? { detail } : {}), ...(notAFailure && error.code === 'locked' ? { locked: true } : {}) };
}

/** What a point's record gets after the engine's run: its freeze, offline state, --name, and the run's phases. */
type PointFields = Partial<Pick<ManifestPoint, 'quiesced' | 'quiesceReason' | 'offline' | 'name' | 'phases'>>;

/** Record on the new point whether its checkpoint was taken with frozen filesystems, its --name and its phases. */
async function recordPointFields(chainDir: string, checkpoint: string, fields: PointFields): Promise<void> {
  const manifest = await readManifest(chainDir);
  if (!manifest) return;
  await writeManifest(chainDir, { ...manifest, points: manifest.points.map((p) => (p.checkpoint === checkpoint ? { ...p, ...fields } : p)) });
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
async function planOnly(run: DomainRun): Promise<DomainResult> {
  const { ctx, domain, options, settings } = run;
  const inv = await inspectDomain(ctx, domain, { output: options.output, raw: settings.raw, disks: settings.disks, excludeDisks: settings.excludeDisks });
  const engineRun = await chooseDomainEngine(run, inv);
  return plannedWithEngine(
    planned(planBackup(inv, { groupBy: settings.groupBy, ifOlderThan: settings.ifOlderThan, engine: engineRun.engine }, ctx.now())),
    engineRun.engineInfo,
  );
}

/** A dry run's plan with the engine it would use; a planned point's reasons start with the engine's. */
function plannedWithEngine(result: DomainResult, info: EngineRun['engineInfo']): DomainResult {
  if (result.result !== 'planned') return { ...result, ...info };
  return { ...result, ...info, reasons: [`engine ${info.engine}: ${info.engineReason}`, ...(result.reasons ?? [])] };
}

/** A dry run's answer for one domain: the plan, said as a result. */
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
