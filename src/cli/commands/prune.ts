import type { Argv } from 'yargs';
import { checkHostPrefixes } from '../../app/hosts.js';
import { usageError } from '../../errors.js';
import type { ProtectOptions } from '../../prune/protect.js';
import type { PruneOptions, SimulateOptions } from '../../prune/run-prune.js';
import { parseDuration } from '../../retention/duration.js';
import type { Duration, RetentionPolicy, SimulatedEngine } from '../../retention/types.js';
import { GROUP_BY, LOCK_WAIT, choiceFlag, durationFlag, secondsToMs } from '../flag-values.js';
import { addSelectionOptions, buildSelection, refuseTagsAcrossHosts } from '../selection-options.js';
import type { GlobalOptions } from '../global-options.js';
import type { LoadedConfig } from '../../config/load-config.js';
import { defineCommand } from './types.js';

/** The retention policy options, shared by prune and simulate. */
function addPolicyOptions(y: Argv): Argv {
  return addKeepOptions(
    y.option('groupBy', { ...GROUP_BY, describe: "VMSnap's period rule: drop the previous period once the current one is 15/45/90/180 days old" }),
  );
}

/** The keep-* and tier options (backup --prune takes these too; its --groupBy is its own). */
export function addKeepOptions(y: Argv): Argv {
  return y
    .option('keep-last', { type: 'number', describe: 'keep the N newest points' })
    .option('keep-hourly', { type: 'number', describe: 'keep the newest point of each of the N newest hours' })
    .option('keep-daily', { type: 'number', describe: 'keep the newest point of each of the N newest days' })
    .option('keep-weekly', { type: 'number', describe: 'keep the newest point of each of the N newest ISO weeks' })
    .option('keep-monthly', { type: 'number', describe: 'keep the newest point of each of the N newest months' })
    .option('keep-yearly', { type: 'number', describe: 'keep the newest point of each of the N newest years' })
    .option('keep-within', { type: 'string', describe: 'keep every point younger than this (3d, 2w, 1m)' })
    .option('keep-tier', { alias: ['k', 'keep'], type: 'string', array: true, describe: 'do-snapshot tier INTERVAL:AGE (repeatable), e.g. -k 1w:1m' });
}

const POLICY_FLAGS = ['groupBy', 'keep-last', 'keep-hourly', 'keep-daily', 'keep-weekly', 'keep-monthly', 'keep-yearly', 'keep-within', 'keep-tier'];
const NAME_A_POLICY = '--groupBy, --keep-last/-hourly/-daily/-weekly/-monthly/-yearly N, --keep-within D or -k INTERVAL:AGE';

/**
 * argv → a validated, frozen policy from the policy flags; undefined when none is given (then
 * each domain's policy comes from the config file). Flags given: they are the whole policy.
 */
async function buildPolicy(argv: Record<string, unknown>): Promise<RetentionPolicy | undefined> {
  if (POLICY_FLAGS.every((f) => argv[f] === undefined)) return undefined;
  const groupBy = argv['groupBy'] as RetentionPolicy['groupBy'];
  const policy = await policyFrom(argv, groupBy);
  const { hasAnyRule } = await import('../../retention/policy.js');
  if (!hasAnyRule(policy)) throw usageError(`name a retention policy: ${NAME_A_POLICY}`);
  return policy;
}

/** VMSnap's period rule for `groupBy` (when given) plus the keep-* and tier options. */
export async function policyFrom(argv: Record<string, unknown>, groupBy: RetentionPolicy['groupBy']): Promise<RetentionPolicy> {
  // The policy schema (zod) loads only for the commands that take a policy.
  const { parsePolicy } = await import('../../retention/policy.js');
  return parsePolicy({
    groupBy,
    vmsnapRule: groupBy !== undefined,
    keepLast: argv['keep-last'],
    keepHourly: argv['keep-hourly'],
    keepDaily: argv['keep-daily'],
    keepWeekly: argv['keep-weekly'],
    keepMonthly: argv['keep-monthly'],
    keepYearly: argv['keep-yearly'],
    keepWithin: argv['keep-within'],
    keepTiers: argv['keep-tier'],
  });
}

/** The config's settings resolver for prune (no flags: prune takes no per-domain setting flags). */
async function configPolicySettings(config: LoadedConfig, global: GlobalOptions): Promise<Pick<PruneOptions, 'settingsFor' | 'needTags' | 'configSource'>> {
  const tagSections = Object.keys(config.config.tags ?? {}).length > 0;
  // Tag sections need each domain's tags, from the one libvirt prune talks to.
  if (tagSections && global.hosts.length > 1) {
    throw usageError(
      `prune with the config's tag sections reads tags from one host: give one --connect (the host whose backups these are) with --output OUTPUT/HOST, or give the policy as flags`,
    );
  }
  const { createSettingsResolver } = await import('../../config/settings.js');
  return { settingsFor: createSettingsResolver(config.config, {}), needTags: tagSections, configSource: config.source };
}

const SIMULATED_ENGINES: readonly SimulatedEngine[] = ['virtnbdbackup', 'push'];

/** `--simulate` with `--domains NAME` starts from that domain's chains in the output folder. */
function simulationSource(global: GlobalOptions): SimulateOptions['from'] {
  const domains = global.domains;
  if (domains === undefined || domains.length === 0) return undefined;
  if (domains.length > 1 || domains[0]!.includes(',')) throw usageError("--simulate starts from one domain's chains: give one --domains NAME");
  if (!global.output) throw usageError(`--simulate --domains ${domains[0]} reads that domain's chains: give --output DIR`);
  return { output: global.output, domain: domains[0]! };
}

type PruneOrSimulate = { kind: 'prune'; prune: PruneOptions } | { kind: 'simulate'; simulate: SimulateOptions };

export const pruneCommand = defineCommand<PruneOrSimulate>({
  name: 'prune',
  describe:
    "remove old chains by retention policy: the --keep-*/-k/--groupBy flags, or without them each domain's policy from the config file (--dry-run shows the plan; --simulate runs a schedule in memory)",
  builder: (y) =>
    addSelectionOptions(addPolicyOptions(y))
      .option('dry-run', { alias: 'dryrun', type: 'boolean', default: false, describe: 'print the plan with its reasons; remove nothing' })
      .option('force', { type: 'boolean', default: false, describe: 'prune even a domain whose latest backup failed' })
      .option('merge-points', {
        type: 'boolean',
        default: false,
        describe: 'drop single points no rule keeps by merging each into its child (virtnbdbackup chains: incrementals only)',
      })
      .option('lock-wait', { ...LOCK_WAIT, describe: 'seconds to wait for another run to finish (default 0)' })
      .option('simulate', {
        type: 'string',
        describe:
          "INTERVAL:DURATION: simulate backup+prune every INTERVAL over DURATION (no libvirt needed); with --domains NAME, from that domain's chains in --output (the first run is the prune that would happen now); nothing is changed",
      })
      .option('if-older-than', { ...durationFlag('if-older-than'), describe: 'with --simulate: skip a backup when the last one is younger than this' })
      .option('engine', {
        ...choiceFlag('engine', SIMULATED_ENGINES),
        describe: 'with --simulate: the engine of the simulated chains (default virtnbdbackup; --merge-points never merges a full)',
      }),
  buildOptions: async (argv, global) => {
    const policy = await buildPolicy(argv);
    const sim = argv['simulate'];
    if (sim !== undefined) {
      if (policy === undefined)
        throw usageError(`--simulate takes its policy from the command line only (not from the config file): name one with ${NAME_A_POLICY}`);
      const m = /^([^:]+):([^:]+)$/.exec(String(sim));
      if (!m) throw usageError(`--simulate needs INTERVAL:DURATION (e.g. 4h:3m), got ${JSON.stringify(sim)}`);
      return Object.freeze({
        kind: 'simulate' as const,
        simulate: Object.freeze({
          every: parseDuration(m[1]!, '--simulate interval'),
          over: parseDuration(m[2]!, '--simulate duration'),
          policy,
          ifOlderThan: argv['if-older-than'] as Duration | undefined,
          groupBy: policy.groupBy,
          mergePoints: argv['merge-points'] === true,
          engine: argv['engine'] as SimulatedEngine | undefined,
          from: simulationSource(global),
        }),
      });
    }
    if (argv['engine'] !== undefined) throw usageError('--engine is for --simulate: prune acts on each chain as its own engine wrote it');
    if (!global.output) throw usageError('prune needs --output DIR (or --simulate INTERVAL:DURATION)');
    const selection = buildSelection(argv, global);
    refuseTagsAcrossHosts(selection, global, 'prune');
    if (global.hosts.length > 1) checkHostPrefixes(global.domains, global.hosts);
    const config = global.config;
    if (policy === undefined && config === undefined) {
      throw usageError(`name a retention policy: ${NAME_A_POLICY}, or set retention in the config file (docs/CONFIG.md)`);
    }
    // No policy flags: each domain gets the policy its config layers give it (as backup --prune).
    const fromConfig = policy === undefined ? await configPolicySettings(config!, global) : {};
    return Object.freeze({
      kind: 'prune' as const,
      prune: Object.freeze({
        output: global.output,
        domains: global.domains,
        selection,
        policy,
        ...fromConfig,
        dryRun: argv['dry-run'] === true,
        force: argv['force'] === true,
        mergePoints: argv['merge-points'] === true,
        lockWaitMs: secondsToMs(argv['lock-wait']),
      }),
    });
  },
  run: async (ctx, options, global) => {
    const { runPrune, runSimulation } = await import('../../prune/run-prune.js');
    if (options.kind === 'simulate') return runSimulation(ctx, options.simulate);
    const prune = options.prune;
    if (global.hosts.length <= 1) return runPrune(ctx, prune);
    // Several hosts: each host's own folder OUTPUT/<host> and its own domain locks, as backup uses them.
    const { hostOutputDir, mergePerHost, optionsForHost, runAcrossHosts } = await import('../../fleet/index.js');
    const n = global.hosts.length;
    const outcomes = await runAcrossHosts(ctx, global.hosts, prune.domains, (hostCtx, host, domains) =>
      runPrune(hostCtx, { ...optionsForHost(prune, domains), output: hostOutputDir(prune.output, host, n) }),
    );
    return mergePerHost(outcomes, { output: prune.output, dryRun: prune.dryRun });
  },
});

function protectSpec(protect: boolean) {
  return defineCommand<ProtectOptions>({
    name: `${protect ? 'protect' : 'unprotect'} <target>`,
    describe: protect
      ? 'protect a chain (FOLDER), a point (FOLDER/CHECKPOINT) or the point with a label from pruning'
      : 'remove the protection of a chain, a point or the point with a label',
    builder: (y) =>
      y
        .positional('target', { type: 'string', describe: 'FOLDER, FOLDER/CHECKPOINT (see vmkeep list) or a LABEL' })
        .option('domain', { type: 'string', describe: 'the domain whose backup it is' })
        .option('lock-wait', { ...LOCK_WAIT, describe: 'seconds to wait for another run to finish (default 0)' }),
    buildOptions: (argv, global) => {
      if (!global.output) throw usageError(`${protect ? 'protect' : 'unprotect'} needs --output DIR`);
      const domain = argv['domain'] ?? (global.domains?.length === 1 && !global.domains[0]!.includes(',') ? global.domains[0] : undefined);
      if (typeof domain !== 'string' || domain === '') throw usageError('name the domain with --domain NAME');
      return Object.freeze({
        output: global.output,
        domain,
        target: String(argv['target']),
        protect,
        lockWaitMs: secondsToMs(argv['lock-wait']),
      });
    },
    run: async (ctx, options) => (await import('../../prune/protect.js')).runProtect(ctx, options),
  });
}

export const protectCommand = protectSpec(true);
export const unprotectCommand = protectSpec(false);
