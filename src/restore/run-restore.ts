/**
 * `vmkeep restore`: read the chains, plan, print the plan (--dry-run) or carry it out, into a
 * folder (--to) or in place under the existing domain (--in-place).
 */
import { performance } from 'node:perf_hooks';
import { PhaseTimer, describePhases } from '../util/phase-timer.js';
import type { AppContext } from '../app/context.js';
import { readDomain } from '../domain/read-domain.js';
import type { CommandResult } from '../app/command-result.js';
import { parseChainFolderName } from '../repository/period-folders.js';
import type { GroupBy } from '../retention/types.js';
import { VmkeepError, usageError } from '../errors.js';
import { formatShellCommand } from '../util/shell-quote.js';
import { isNoSuchDomain } from '../virsh/client.js';
import { readRestoreChains } from '../points/chains.js';
import { withLocks } from '../repository/locks.js';
import { assertEmptyTarget, executeDirectoryRestore, type DirectoryRestoreResult } from '../points/execute-restore.js';
import { executeInPlace, type InPlaceResult } from './execute-in-place.js';
import { planInPlace, type InPlaceFacts, type InPlacePlan } from './plan-in-place.js';
import { planRestore, type RestorePlan } from '../points/plan-restore.js';
import type { PointSelector } from '../points/points.js';
import type { InPlaceRequest, RestoreOptions } from '../points/restore-options.js';
import type { RestoreChain } from '../points/types.js';

/**
 * The backup command, passed in by the CLI: `--checkpoint-current` backs the domain up before an
 * in-place restore, and command folders don't import each other.
 */
export type BackUpDomain = (ctx: AppContext, request: SafetyBackupRequest) => Promise<CommandResult>;

/** The one-domain backup --checkpoint-current asks for, into the restore's output folder. */
export interface SafetyBackupRequest {
  domain: string;
  output: string;
  groupBy: GroupBy;
  label: string;
  engine: 'virtnbdbackup' | 'push';
  lockWaitMs: number;
}

/** The part of a backup's per-domain result the safety backup reads (backup's DomainResult). */
interface BackedUpDomain {
  domain: string;
  result: string;
  chain?: string;
  checkpoint?: string;
  reason?: string;
}

/** The label of the backup --checkpoint-current takes before an in-place restore. */
export const BEFORE_RESTORE_LABEL = 'before-restore';

export async function runRestore(ctx: AppContext, options: RestoreOptions, backUp: BackUpDomain): Promise<CommandResult> {
  const chains = await readChainsOrRefuse(options);
  const plan = planRestore(chains, options.domain, requestOf(options), ctx.now());
  for (const w of plan.warnings) ctx.log.warn(w);
  if (options.mode.kind === 'directory') return restoreToDirectory(ctx, options, plan);
  return restoreInPlace(ctx, options, options.mode, chains, plan, backUp);
}

async function readChainsOrRefuse(options: RestoreOptions): Promise<RestoreChain[]> {
  const chains = await readRestoreChains(options.output, options.domain);
  if (chains.length === 0) throw usageError(`no backups of domain ${options.domain} in ${options.output}`);
  return chains;
}

function requestOf(options: RestoreOptions, selector: PointSelector = options.selector) {
  return {
    selector,
    disks: options.disks,
    destination:
      options.mode.kind === 'directory'
        ? { kind: 'directory' as const, dir: options.mode.dir, defineName: options.mode.defineName, keepChain: options.mode.keepChain === true }
        : { kind: 'in-place' as const },
  };
}

async function restoreToDirectory(ctx: AppContext, options: RestoreOptions, plan: RestorePlan): Promise<CommandResult> {
  // A dry run refuses what the real run would: a non-empty --to, or one whose parent is missing.
  await assertEmptyTarget(plan.directory!.dir);
  if (options.dryRun) {
    const document = { dryRun: true, mode: 'directory', ...describePlan(plan) };
    return { document, text: renderDirectoryPlan(plan), outcome: 'ok' };
  }
  const phases = new PhaseTimer();
  // Prune must not remove the chain while it is read.
  const asked = performance.now();
  const result = await withLocks(ctx, { output: options.output, mode: 'read', waitMs: options.lockWaitMs }, () => {
    phases.add('lock', performance.now() - asked);
    return phases.time('restore', () => executeDirectoryRestore(ctx, plan));
  });
  ctx.log.debug(`${options.domain}: time went to ${describePhases(phases.list())}`);
  const document = {
    dryRun: false,
    mode: 'directory',
    ...describePlan(plan),
    target: plan.directory!.dir,
    images: result.images,
    xml: result.xml ?? null,
    domainName: result.domainName,
    defined: result.defined ?? null,
    removedDisks: result.removedDisks,
    removedMacs: result.removedMacs,
    notes: result.notes,
    checkedFiles: result.checkedFiles,
    durationMs: result.durationMs,
    phases: phases.list(),
  };
  return { document, text: renderDirectoryResult(plan, result), outcome: 'ok' };
}

async function readFacts(ctx: AppContext, domain: string): Promise<InPlaceFacts> {
  try {
    // The persistent definition: its disks are the ones an in-place restore replaces.
    const snap = await readDomain(ctx, domain, { definition: 'inactive' });
    return { state: snap.state, checkpoints: snap.checkpointNames, disks: snap.definition.disks };
  } catch (e) {
    // Nothing was touched: the command line asked for something that cannot be done (exit 64).
    if (isNoSuchDomain(e)) throw usageError(`domain ${domain} is not defined in libvirt: restore it with --to DIR (and --define NAME)`);
    throw e;
  }
}

async function restoreInPlace(
  ctx: AppContext,
  options: RestoreOptions,
  request: InPlaceRequest,
  chains: RestoreChain[],
  firstPlan: RestorePlan,
  backUp: BackUpDomain,
): Promise<CommandResult> {
  // Plan once before anything happens, so every refusal comes before the "before-restore" backup.
  const preview = planInPlace(firstPlan, await readFacts(ctx, options.domain), request, ctx.now());
  if (options.dryRun) {
    const document = { dryRun: true, mode: 'in-place', ...describePlan(firstPlan), steps: preview.steps, disks: preview.disks };
    return { document, text: renderInPlacePlan(preview), outcome: 'ok' };
  }

  const phases = new PhaseTimer();
  let beforeRestore: { id: string; chain: string; checkpoint: string } | undefined;
  // The backup of the current state is a whole backup run: its own phases are in its point's record.
  if (request.checkpointCurrent) beforeRestore = await phases.time('engine', () => backUpCurrentState(ctx, options, chains, backUp));

  // runBackup takes and releases these locks itself; take them only now.
  // An in-place restore records nothing in the output folder but needs it unchanged meanwhile.
  const asked = performance.now();
  const locks = { output: options.output, domains: [options.domain], mode: 'read', waitMs: options.lockWaitMs } as const;
  const { plan, result } = await withLocks(ctx, locks, async () => {
    phases.add('lock', performance.now() - asked);
    // Plan again under the locks, for the same point: the backup above may have added one.
    const chainsNow = await phases.time('read', () => readChainsOrRefuse(options));
    const facts = await phases.time('read', () => readFacts(ctx, options.domain));
    const planned = await phases.time('plan', () =>
      planInPlace(planRestore(chainsNow, options.domain, requestOf(options, { kind: 'at', value: firstPlan.point.id }), ctx.now()), facts, request, ctx.now()),
    );
    return { plan: planned, result: await phases.time('restore', () => executeInPlace(ctx, planned)) };
  });
  ctx.log.debug(`${options.domain}: time went to ${describePhases(phases.list())}`);
  for (const w of result.warnings) ctx.log.warn(`${options.domain}: ${w}`);
  const document = {
    dryRun: false,
    mode: 'in-place',
    ...describePlan(plan.restore),
    beforeRestore: beforeRestore ?? null,
    steps: plan.steps,
    disks: result.disks,
    state: result.state,
    scrubbedCheckpoints: result.scrubbed,
    warnings: result.warnings,
    checkedFiles: result.checkedFiles,
    durationMs: result.durationMs,
    phases: phases.list(),
  };
  return { document, text: renderInPlaceResult(plan, result, beforeRestore), outcome: 'ok' };
}

/** --checkpoint-current: the backup code path, labelled, into the same output folder. */
async function backUpCurrentState(ctx: AppContext, options: RestoreOptions, chains: readonly RestoreChain[], backUp: BackUpDomain) {
  ctx.log.info(`${options.domain}: backing up the current state first (label "${BEFORE_RESTORE_LABEL}")`);
  const result = await backUp(ctx, {
    domain: options.domain,
    output: options.output,
    groupBy: chainGroupBy(chains),
    lockWaitMs: options.lockWaitMs,
    label: BEFORE_RESTORE_LABEL,
    // The engine of the newest chain, so the safety backup can continue it.
    engine: [...chains].reverse().find((c) => !c.legacy)?.engine ?? 'virtnbdbackup',
  });
  const r = (result.document as { results?: BackedUpDomain[] }).results?.find((x) => x.domain === options.domain);
  if (result.outcome !== 'ok' || r?.result !== 'done' || !r.chain || !r.checkpoint) {
    throw new VmkeepError('failure', `the backup of the current state of ${options.domain} failed (${r?.reason ?? result.outcome}); nothing was restored`);
  }
  return { id: `${r.chain}/${r.checkpoint}`, chain: r.chain, checkpoint: r.checkpoint };
}

/** The grouping of the domain's newest vmkeep chain, so the safety backup continues it. */
function chainGroupBy(chains: readonly RestoreChain[]): GroupBy {
  const newest = [...chains].reverse().find((c) => !c.legacy);
  return (newest && parseChainFolderName(newest.folder)?.groupBy) ?? 'month';
}

function describePlan(plan: RestorePlan) {
  return {
    domain: plan.domain,
    point: {
      id: plan.point.id,
      chain: plan.point.chain,
      checkpoint: plan.point.checkpoint,
      time: plan.point.time,
      level: plan.point.level,
      label: plan.point.label ?? null,
    },
    applied: plan.applied,
    sequences: Object.fromEntries(plan.disks.map((d) => [d.target, d.sequence])),
    checksums: !plan.legacy,
    reasons: plan.reasons,
    warnings: plan.warnings,
  };
}

function renderDirectoryPlan(plan: RestorePlan): string {
  const d = plan.directory!;
  const lines = [`would restore ${plan.point.id} of ${plan.domain} (${plan.reasons.join('; ')})`];
  lines.push(`  check ${new Set(plan.check.map((f) => f.path)).size} files against ${plan.legacy ? 'their stream structure' : 'the manifest'}`);
  for (const disk of plan.disks) {
    lines.push(`  ${disk.target}: ${disk.sequence.join(' + ')} -> ${d.images.find((i) => i.target === disk.target)!.path}`);
  }
  if (d.xmlPath) lines.push(`  domain XML for ${d.domainName} -> ${d.xmlPath}${d.define ? ' (defined with virsh)' : ''}`);
  for (const w of plan.warnings) lines.push(`  warning: ${w}`);
  return `${lines.join('\n')}\n`;
}

function renderDirectoryResult(plan: RestorePlan, r: DirectoryRestoreResult): string {
  const lines = [`restored ${plan.point.id} of ${plan.domain} in ${(r.durationMs / 1000).toFixed(1)} s (${r.checkedFiles} files checked)`];
  for (const i of r.images) lines.push(`  ${i.target}: ${i.path}`);
  if (r.xml) lines.push(`  domain XML: ${r.xml}${r.defined ? ` (defined as ${r.defined})` : ` (${formatShellCommand(['virsh', 'define', r.xml])})`}`);
  for (const n of r.notes) lines.push(`  ${n}`);
  return `${lines.join('\n')}\n`;
}

function renderInPlacePlan(plan: InPlacePlan): string {
  const lines = [`would restore ${plan.restore.point.id} in place under ${plan.domain} (${plan.restore.reasons.join('; ')}):`];
  plan.steps.forEach((s, i) => lines.push(`  ${i + 1}. ${s}`));
  return `${lines.join('\n')}\n`;
}

function renderInPlaceResult(plan: InPlacePlan, r: InPlaceResult, before: { id: string } | undefined): string {
  const lines = [`restored ${plan.restore.point.id} in place under ${plan.domain} in ${(r.durationMs / 1000).toFixed(1)} s; ${plan.domain} is ${r.state}`];
  if (before) lines.push(`  the state before the restore is restore point ${before.id}`);
  for (const d of r.disks) lines.push(`  ${d.target}: ${d.path}${d.replacedPath ? ` (previous image kept as ${d.replacedPath})` : ''}`);
  if (r.scrubbed.length > 0) lines.push(`  checkpoints deleted: ${r.scrubbed.join(', ')}; the next backup starts a new full chain`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return `${lines.join('\n')}\n`;
}
