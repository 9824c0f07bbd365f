/** `vmkeep prune`: plan with the pure retention planner, print the plan, then remove whole chains. */
import { join } from 'node:path';
import { VmkeepError, usageError } from '../errors.js';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { listBackedUpDomains, listChains, requireOutputFolder, type ChainView } from '../repository/chains.js';
import { findGoneDomains, readDomainFolderUuids } from '../repository/domain-folders.js';
import { listRemovalLeftovers } from '../repository/removal-leftovers.js';
import { withLocks } from '../repository/locks.js';
import { namesOnly, selectAmong, type SelectionRequest } from '../domain/select-by-tags.js';
import { planPrune } from '../retention/plan-prune.js';
import { renderPrunePlan, renderSimulation } from '../retention/render.js';
import { simulate } from '../retention/simulate.js';
import type { DomainHistory, Duration, GroupBy, PolicyFor, PrunePlan, RetentionPolicy, SimulatedEngine } from '../retention/types.js';
import type { SettingsFor } from '../config/settings.js';
import { executePrune, finishInterruptedRemovals } from './execute-prune.js';
import { readHistories } from './history.js';
import { checkMergeInputs, executeMerges, finishInterruptedMerges } from '../repository/merge-points.js';

export interface PruneOptions {
  output: string;
  domains: readonly string[] | undefined;
  /** --tag / --tag-any / --exclude over `domains`. */
  selection?: SelectionRequest;
  /**
   * The policy flags, the whole policy for every domain; undefined: each domain's own policy
   * from the config file (`settingsFor`), as backup --prune would apply it.
   */
  policy: RetentionPolicy | undefined;
  /** Each domain's settings from the config layers (used when `policy` is undefined). */
  settingsFor?: SettingsFor;
  /** The config file has tag sections: read the domains' tags to pick them. */
  needTags?: boolean;
  /** Where the config came from, for the advice to a domain without a policy. */
  configSource?: string;
  dryRun: boolean;
  force: boolean;
  /** Drop single points of kept chains by merging them into their child (virtnbdbackup chains: incrementals only). */
  mergePoints: boolean;
  lockWaitMs: number;
}

export interface SimulateOptions {
  every: Duration;
  over: Duration;
  policy: RetentionPolicy;
  ifOlderThan: Duration | undefined;
  groupBy: GroupBy | undefined;
  /** Model point-level prune: merges inside chains, each as its engine allows. */
  mergePoints: boolean;
  /** The engine later backups use (default: the newest recorded chain's, else virtnbdbackup). */
  engine: SimulatedEngine | undefined;
  /** Start from this domain's recorded chains in `output` (read only) instead of nothing. */
  from: { output: string; domain: string } | undefined;
}

export async function runPrune(ctx: AppContext, options: PruneOptions): Promise<CommandResult> {
  // A missing output folder is a typo, not an empty repository: nothing is created for it.
  await requireOutputFolder(options.output);
  const existing = await listBackedUpDomains(options.output);
  const fromConfig = options.policy === undefined;
  const selection = await selectAmong(ctx, existing, options.selection ?? namesOnly(options.domains), { needTags: fromConfig && options.needTags === true });
  const policy = options.policy ?? configPolicies(options, selection.tagsOf);
  for (const name of selection.unknown) ctx.log.warn(`no backups of ${JSON.stringify(name)} in ${options.output}`);
  // Nothing selected: no lock file written into a folder this run has no business in.
  const lockMode = options.dryRun || selection.selected.length === 0 ? 'none' : 'write';
  return withLocks(ctx, { output: options.output, domains: selection.selected, mode: lockMode, waitMs: options.lockWaitMs }, async () => {
    const repaired: string[] = [];
    if (!options.dryRun) {
      const finished = await finishInterruptedRemovals(options.output, selection.selected, ctx.log);
      repaired.push(...finished.map((f) => f.line));
      for (const d of selection.selected) {
        for (const view of await listChains(options.output, d)) {
          for (const line of await finishInterruptedMerges(ctx, view.dir)) repaired.push(`${d}/${view.folder}: ${line}`);
        }
      }
      for (const line of repaired.slice(finished.length)) ctx.log.info(line);
    }
    // Read the tree only once the locks are held: a backup finishing meanwhile is then seen.
    const { histories, chains } = await readHistories(options.output, selection.selected);
    const planned = planPrune(histories, policy, ctx.now(), {
      force: options.force,
      mergePoints: options.mergePoints,
      noPolicyHint: `set retention (or groupBy) for it in the config file${options.configSource ? ` ${options.configSource}` : ''}, or give --keep-*/--groupBy`,
    });
    const gone = await goneDomainWarnings(ctx, options.output, selection.selected);
    const plan = gone.length === 0 ? planned : { ...planned, warnings: [...planned.warnings, ...gone] };
    const planText = renderPrunePlan(plan);
    if (options.dryRun) {
      const leftovers = await pendingRemovals(options.output, selection.selected);
      return {
        document: { dryRun: true, plan, unknown: selection.unknown, filteredOut: selection.filteredOut, pendingRemovals: leftovers },
        text: [
          ...leftovers.map((l) => `would finish removing ${l.domain}/${l.name} (${l.bytes} bytes), left by an interrupted prune`),
          planText,
          '(dry run: nothing removed)',
        ].join('\n'),
        outcome: selection.unknown.length > 0 ? 'partial' : 'ok',
      };
    }
    await checkPlannedMergeInputs(plan, chains);
    const removal = await executePrune(plan, chains, ctx.log, ctx.faults, ctx.now);
    const merging = await executeMerges(ctx, plan, chains);
    const done = { removed: removal.removed, merged: merging.merged, failed: [...removal.failed, ...merging.failed] };
    const lines = [
      ...repaired,
      planText,
      ...done.removed.map((r) => `removed ${r}`),
      ...done.merged.map((m) => `merged ${m} into its child`),
      ...removal.failed.map((f) => `FAILED to remove ${f.chain}: ${f.error}`),
      ...merging.failed.map((f) => `FAILED in ${f.chain}: ${f.error}`),
    ];
    const failed = done.failed.length > 0 || selection.unknown.length > 0;
    return {
      document: {
        dryRun: false,
        plan,
        removed: done.removed,
        merged: done.merged,
        repaired,
        failed: done.failed,
        unknown: selection.unknown,
        filteredOut: selection.filteredOut,
      },
      text: lines.join('\n'),
      outcome: failed ? (done.removed.length > 0 || selection.selected.length > 0 ? 'partial' : 'failure') : 'ok',
    };
  });
}

/**
 * A merge reads and rewrites files: ones that are not what the backup recorded stop the whole
 * prune before anything changes (a usage error naming the file).
 */
async function checkPlannedMergeInputs(plan: PrunePlan, chains: ReadonlyMap<string, readonly ChainView[]>): Promise<void> {
  for (const d of plan.domains) {
    for (const m of d.merges) {
      const view = (chains.get(d.domain) ?? []).find((v) => v.folder === m.chain);
      if (view) await checkMergeInputs(view.dir, { chain: `${d.domain}/${m.chain}`, into: m.into });
    }
  }
}

/** The leftovers of interrupted removals a real prune would finish now. */
async function pendingRemovals(output: string, domains: readonly string[]): Promise<Array<{ domain: string; name: string; bytes: number }>> {
  const out: Array<{ domain: string; name: string; bytes: number }> = [];
  for (const d of domains) for (const l of await listRemovalLeftovers(output, d)) out.push({ domain: d, name: l.name, bytes: l.bytes });
  return out;
}

/**
 * Say which domains libvirt no longer defines: their folders are pruned by the same policy (the
 * name's own, from the config layers or the flags), and the newest complete chain stays whatever
 * it says: after an undefine by mistake it may be the only copy of the domain. Nothing is said
 * when libvirt cannot be asked (a copy of the repository on another machine).
 */
async function goneDomainWarnings(ctx: AppContext, output: string, selected: readonly string[]): Promise<string[]> {
  let names: string[];
  try {
    names = await ctx.virsh.listDomainNames();
  } catch {
    return [];
  }
  const defined = new Map(names.map((n) => [n, ctx.virsh.knownUuid(n)] as const));
  return findGoneDomains(await readDomainFolderUuids(output), defined)
    .filter((g) => selected.includes(g.domain))
    .map(
      (g) =>
        `${g.domain} is no longer defined in libvirt (${g.renamedTo !== undefined ? `renamed to ${g.renamedTo}` : 'renamed or undefined'}): ` +
        `its backups are pruned by the same rules, and its newest complete chain is kept; remove ${join(output, g.domain)} by hand once it is no longer needed`,
    );
}

/**
 * Each domain's policy from the config layers (defaults < tag sections < domain sections): the
 * one backup --prune applies. A domain no layer says anything about retention for gets none.
 */
function configPolicies(options: PruneOptions, tagsOf: ReadonlyMap<string, readonly string[]>): PolicyFor {
  const settingsFor = options.settingsFor;
  if (settingsFor === undefined) throw new VmkeepError('failure', "prune was given neither a policy nor the config file's settings");
  return (domain) => {
    const settings = settingsFor(domain, tagsOf.get(domain) ?? []);
    return settings.retentionSet === true ? settings.prunePolicy : undefined;
  };
}

/**
 * do-snapshot's --simulate: backup + prune every INTERVAL over DURATION, in memory. From a
 * domain's recorded chains, the first run is the prune `prune` would make now; nothing is
 * written and no lock is taken (as --dry-run).
 */
export async function runSimulation(ctx: AppContext, options: SimulateOptions): Promise<CommandResult> {
  let history: DomainHistory | undefined;
  let groupBy = options.groupBy;
  if (options.from) {
    const { output, domain } = options.from;
    await requireOutputFolder(output);
    const read = await readHistories(output, [domain]);
    history = read.histories[0]!;
    if (history.chains.length === 0) throw usageError(`no backups of ${JSON.stringify(domain)} in ${output}: nothing to simulate from`);
    // Later backups group their chains as the newest recorded one was grouped.
    groupBy ??= (read.chains.get(domain) ?? []).at(-1)?.period?.groupBy;
  }
  const result = simulate({
    every: options.every,
    over: options.over,
    policy: options.policy,
    ifOlderThan: options.ifOlderThan,
    groupBy,
    mergePoints: options.mergePoints,
    engine: options.engine,
    history,
    start: ctx.now(),
  });
  return { document: result, text: renderSimulation(result), outcome: 'ok' };
}
