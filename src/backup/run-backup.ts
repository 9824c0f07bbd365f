/**
 * `vmkeep backup`: every selected domain gets a result (done, skipped, failed); one domain's
 * failure never stops the others; exit 0 only when every requested domain succeeded. The run
 * loop: check the output, select, lock the output, run hooks around the domains' backups, sum up.
 */
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import pLimit, { type LimitFunction } from 'p-limit';
import type { AppContext } from '../app/context.js';
import { outcomeOf, type CommandResult } from '../app/command-result.js';
import { settingsProblem, type DomainSettings } from '../config/settings.js';
import { resolveSelection, type SelectionRequest, type TaggedSelection } from '../domain/select-by-tags.js';
import { sweepVerifyLeftovers } from '../domain/verify-domains.js';
import { VmkeepError, messageOf } from '../errors.js';
import { withLocks, type LockRequest } from '../repository/locks.js';
import { backupDomain } from './backup-domain.js';
import { withRunHooks, type HookScope } from './backup-hooks.js';
import { createEngine } from './engine/create-engine.js';
import type { BackupEngine } from './engine/types.js';
import { createProgressSink } from './progress.js';
import { renderSummary } from './render-backup.js';
import { runWideSettings, type BackupOptions, type DomainResult } from './types.js';

export type { BackupOptions, DomainResult } from './types.js';
export { renderSummary } from './render-backup.js';
export { createEngine } from './engine/create-engine.js';

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

/** The run-wide forced engine; undefined under auto, where each domain's is chosen once its chains are read. */
function forcedEngine(ctx: AppContext, options: BackupOptions): BackupEngine | undefined {
  const name = runWideSettings(options).engine;
  return name === undefined ? undefined : createEngine(ctx, name);
}

/**
 * Back up the selected domains of one host. `limit` bounds the backups running at once; several
 * hosts in one run share one, so --jobs bounds the whole run. `engine`: the run's forced engine,
 * undefined for auto.
 */
export async function runBackup(
  ctx: AppContext,
  options: BackupOptions,
  engine: BackupEngine | undefined = forcedEngine(ctx, options),
  limit: LimitFunction = pLimit(Math.max(1, options.jobs)),
): Promise<CommandResult> {
  // Checked before anything is created; created only once a requested domain exists.
  await prepareOutput(options.output, true);
  // Each engine's version is asked once per run, however many domains it writes (virtnbdbackup
  // is a Python program: each ask costs a start-up).
  const versions = new Map<string, Promise<string>>();
  const versionOf = (e: BackupEngine): Promise<string> => {
    const known = versions.get(e.name) ?? e.version();
    versions.set(e.name, known);
    return known;
  };
  // Both take a moment: ask at once.
  const request: SelectionRequest = options.selection ?? { domains: options.domains, tags: [], tagAny: false, exclude: [] };
  const [selection, toolVersions] = await Promise.all([
    resolveSelection(ctx, request, options.needTags ?? false),
    options.dryRun || !engine ? Promise.resolve({}) : versionOf(engine).then((v): Record<string, string> => ({ [engine.name]: v })),
  ]);
  if (selection.selected.length > 0) await prepareOutput(options.output, options.dryRun);
  // A killed verify --boot may have left a booted copy running on this host: the nightly backup
  // is the run most sure to come next, so it removes it (a dry run changes nothing).
  const leftoversRemoved = options.dryRun ? [] : await sweepVerifyLeftovers(ctx.virsh, [options.output]);
  for (const line of leftoversRemoved) ctx.log.warn(line);
  // No lock file for a run that selected nothing: it would write into a folder it has no
  // business in. A dry run takes none, but makes no plan while another run works: that run's
  // work in progress would show as leftovers to repair.
  const locks: LockRequest = {
    output: selection.selected.length > 0 || options.dryRun ? options.output : undefined,
    mode: options.dryRun ? 'check' : 'write',
    waitMs: options.lockWaitMs,
    why: 'a plan now would show its work in progress as leftovers; try again when it is done',
  };
  return withLocks(ctx, locks, async () => {
    // One id for the run: the one log lines and notifications carry (a fresh one outside the CLI).
    const hooks: HookScope = { ctx, runId: ctx.runId ?? randomUUID(), output: options.output, dryRun: options.dryRun };
    // Under auto, libvirt is asked once per run (not per domain) whether it does push backup.
    let pushSupport: Promise<boolean> | undefined;
    const pushSupported = () => (pushSupport ??= ctx.virsh.supportsPushBackup().catch(() => false));
    const run = await withRunHooks(hooks, options.runHooks, selection.selected, async () => [
      ...(await backUpSelected(ctx, options, selection, { engine, toolVersions, versionOf, limit, hooks, pushSupported })),
      ...selection.unknown.map((name): DomainResult => ({ domain: name, result: 'failed', reason: 'unknown domain' })),
      ...selection.emptyPatterns.map((p): DomainResult => ({ domain: p, result: 'failed', reason: 'no domain matches this pattern' })),
    ]);
    return summarize(ctx, options, selection, hooks.runId, run, leftoversRemoved);
  });
}

/** What every domain of the run shares. */
interface RunShared {
  /** The run's forced engine; undefined: auto. */
  engine: BackupEngine | undefined;
  toolVersions: Record<string, string>;
  versionOf: (engine: BackupEngine) => Promise<string>;
  pushSupported: () => Promise<boolean>;
  limit: LimitFunction;
  hooks: HookScope;
}

/** Each selected domain's backup, at most `limit` at once, with progress shown while they run. */
async function backUpSelected(ctx: AppContext, options: BackupOptions, selection: TaggedSelection, shared: RunShared): Promise<DomainResult[]> {
  const progress = createProgressSink(ctx.interactive && !options.dryRun, ctx.log);
  const runCtx: AppContext = { ...ctx, log: progress.logger(ctx.log, options.verbose ?? false) };
  try {
    return await Promise.all(
      selection.selected.map((domain) =>
        shared.limit(async (): Promise<DomainResult> => {
          const tags = selection.tagsOf.get(domain);
          let settings: DomainSettings;
          try {
            settings = options.settingsFor(domain, tags ?? []);
          } catch (e) {
            // Layers that are each valid can still combine into a policy the validator refuses.
            return { domain, result: 'failed', reason: `settings: ${messageOf(e)}` };
          }
          // The config may name another engine for this domain, with options it cannot take.
          const problem = settingsProblem(settings);
          if (problem) return { domain, result: 'failed', reason: `settings: ${problem}` };
          // A domain whose settings force no engine (auto) gets its engine once its chains are read.
          const engine =
            settings.engine === undefined ? undefined : settings.engine === shared.engine?.name ? shared.engine : createEngine(ctx, settings.engine);
          const toolVersions =
            !engine || engine === shared.engine || options.dryRun
              ? shared.toolVersions
              : { ...shared.toolVersions, [engine.name]: await shared.versionOf(engine) };
          const r = await backupDomain({
            ctx: runCtx,
            forcedEngine: engine,
            pushSupported: shared.pushSupported,
            versionOf: shared.versionOf,
            domain,
            options,
            settings,
            toolVersions,
            progress,
            hooks: shared.hooks,
          });
          return { ...r, ...(tags === undefined ? {} : { tags }) };
        }),
      ),
    );
  } finally {
    progress.stop();
  }
}

/** The run's document, text and outcome. */
function summarize(
  ctx: AppContext,
  options: BackupOptions,
  selection: TaggedSelection,
  runId: string,
  run: Awaited<ReturnType<typeof withRunHooks>>,
  leftoversRemoved: readonly string[],
): CommandResult {
  const { results, hooks } = run;
  const groupBy = runWideSettings(options).groupBy;
  if (run.gated) {
    // Nothing was backed up: the pre-run hook is the gate for the whole run.
    return {
      document: { dryRun: false, output: options.output, groupBy, runId, hooks, results },
      text: renderSummary(results, false),
      outcome: 'failure',
    };
  }
  const ok = results.filter((r) => r.result !== 'failed').length;
  // Nothing done only because other runs hold the locks: "locked" (75), as for the output lock.
  const onlyLocked = ok === 0 && results.some((r) => r.locked) && results.every((r) => r.result !== 'failed' || r.locked);
  return {
    document: {
      dryRun: options.dryRun,
      output: options.output,
      groupBy,
      ...(hooks.length > 0 ? { runId, hooks } : {}),
      ...(selection.filteredOut.length > 0 ? { filteredOut: selection.filteredOut } : {}),
      ...(leftoversRemoved.length > 0 ? { leftoversRemoved } : {}),
      results,
    },
    text: renderSummary(results, options.dryRun),
    // Interrupted only if the signal left something undone: every domain done is a whole run.
    outcome: ctx.signal.aborted && ok < results.length ? 'interrupted' : onlyLocked ? 'locked' : outcomeOf(ok, results.length),
  };
}
