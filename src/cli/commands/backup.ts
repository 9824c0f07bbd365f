import { checkHostPrefixes } from '../../app/hosts.js';
import type { BackupOptions } from '../../backup/types.js';
import type { DomainOverrides, HookSpec, VmkeepConfig } from '../../config/schema.js';
import { usageError } from '../../errors.js';
import type { Duration, GroupBy } from '../../retention/types.js';
import { parseBooleanFlag } from '../vmsnap-compat.js';
import { addKeepOptions } from './prune.js';
import { GROUP_BY, JOBS, LOCK_WAIT, choiceFlag, durationFlag, secondsFlag, secondsToMs } from '../flag-values.js';
import { ENGINE_NAMES } from '../../config/engine-names.js';
import { addSelectionOptions, buildSelection } from '../selection-options.js';
import { defineCommand } from './types.js';
import { hasControlCharacter } from '../../util/printable.js';

const HOOK_FLAGS = [
  ['hook-pre-run', 'preRun'],
  ['hook-post-run', 'postRun'],
  ['hook-pre-domain', 'preDomain'],
  ['hook-post-domain', 'postDomain'],
  ['hook-on-error', 'onError'],
] as const;

/** Does any section of the config file (defaults, a tag or a domain section) say this? */
function anyConfigSection(config: VmkeepConfig | undefined, says: (section: DomainOverrides) => boolean): boolean {
  const sections = [config?.defaults, ...Object.values(config?.tags ?? {}), ...Object.values(config?.domains ?? {})];
  return sections.some((s) => s !== undefined && says(s));
}

/** Does the config file stop domains anywhere? Then --stop-timeout means something. */
const configStops = (config: VmkeepConfig | undefined) => anyConfigSection(config, (s) => s.stop === 'stop' || s.stop === 'stop-force');

/** The keep-* flags as a config `retention` block (undefined when none is given). */
function retentionFlags(argv: Record<string, unknown>): DomainOverrides['retention'] {
  const map = {
    keepLast: 'keep-last',
    keepHourly: 'keep-hourly',
    keepDaily: 'keep-daily',
    keepWeekly: 'keep-weekly',
    keepMonthly: 'keep-monthly',
    keepYearly: 'keep-yearly',
    keepWithin: 'keep-within',
    keepTiers: 'keep-tier',
  } as const;
  const out: Record<string, unknown> = {};
  for (const [key, flag] of Object.entries(map)) if (argv[flag] !== undefined) out[key] = argv[flag];
  return Object.keys(out).length === 0 ? undefined : out;
}

/** Does the config file turn pruning on anywhere? */
const configPrunes = (config: VmkeepConfig | undefined) => anyConfigSection(config, (s) => s.prune === true);

const optionalBool = (v: unknown) => (v === undefined ? undefined : parseBooleanFlag(v));

/** --quiesce (no value: on), --quiesce=require, --no-quiesce / --quiesce=false. */
export function parseQuiesceFlag(v: unknown): boolean | 'require' | undefined {
  if (v === undefined) return undefined;
  if (v === '' || v === true) return true;
  if (String(v).trim().toLowerCase() === 'require') return 'require';
  try {
    return parseBooleanFlag(v);
  } catch {
    throw usageError(`--quiesce takes no value, or =require (got ${JSON.stringify(String(v))})`);
  }
}

export const backupCommand = defineCommand<BackupOptions>({
  name: 'backup',
  describe: 'back up domains: a full to start a period chain, incrementals to continue it',
  builder: (y) =>
    addSelectionOptions(addKeepOptions(y))
      // No yargs defaults below: an option not given leaves the value to the config file.
      .option('groupBy', { ...GROUP_BY, describe: 'chain period (default month)' })
      .option('prune', {
        type: 'boolean',
        describe: "after a successful backup, prune the domain: VMSnap's period rule, plus any --keep-* / -k given (as vmkeep prune)",
      })
      .option('raw', { type: 'boolean', describe: 'include raw-format disks (copied whole every time)' })
      .option('compress', { type: 'boolean', describe: 'lz4-compress the backup streams' })
      .option('jobs', { ...JOBS, describe: 'domains backed up at once (default 1)' })
      .option('dry-run', { alias: 'dryrun', type: 'boolean', default: false, describe: 'print what would be done and change nothing' })
      .option('lock-wait', { ...LOCK_WAIT, describe: 'seconds to wait for another run to finish (default 0)' })
      .option('if-older-than', { ...durationFlag('if-older-than'), describe: 'skip a domain whose last backup is younger than this (4h, 1d, 2w)' })
      .option('name', { type: 'string', describe: 'a name for the new restore point, unique per domain (restore --at NAME)' })
      .option('label', { type: 'string', describe: 'label stored with the new restore points (restore --at LABEL finds them)' })
      .option('disks', { type: 'string', array: true, describe: 'only these disk targets (vda or vda,vdb)' })
      .option('exclude-disks', { type: 'string', array: true, describe: 'leave out these disk targets (vdb or vdb,vdc)' })
      .option('stop', { type: 'boolean', describe: 'shut a running domain down, back it up offline, start it again' })
      .option('stop-force', { type: 'boolean', describe: 'like --stop, but power the domain off when it does not shut down in time' })
      .option('stop-timeout', { ...secondsFlag('stop-timeout', { min: 0, max: 86_400 }), describe: 'seconds to wait for a graceful shutdown (default 120)' })
      .option('quiesce', {
        type: 'string',
        describe:
          'freeze the guest filesystems through the guest agent for each point, and warn when it cannot (the point is then crash-consistent); --quiesce=require fails the domain instead',
      })
      .option('require-stopped', { type: 'boolean', describe: 'back up shut-off domains only; a running one is not backed up and counts as failed' })
      .option('hook-pre-run', { type: 'string', describe: 'command run before the run (words split without a shell)' })
      .option('hook-post-run', { type: 'string', describe: 'command run after the run' })
      .option('hook-pre-domain', { type: 'string', describe: 'command run before each domain; a failure skips that domain' })
      .option('hook-post-domain', { type: 'string', describe: 'command run after each domain; a failure is a warning' })
      .option('hook-on-error', { type: 'string', describe: 'command run after a domain failed' })
      .option('hook-timeout', {
        ...secondsFlag('hook-timeout', { min: 0, max: 86_400, aboveMin: true }),
        describe: 'seconds before a hook given on the command line is killed (default 300)',
      })
      .option('engine', {
        ...choiceFlag('engine', ENGINE_NAMES),
        describe:
          "what writes the backup: auto (default: push for a new chain on local libvirt, virtnbdbackup where push cannot or a chain continues; see docs/ENGINE-CHOICE.md), virtnbdbackup (stream files) or push (libvirt's push-mode backup into a qcow2 chain)",
      }),
  // eslint-disable-next-line max-lines-per-function -- every backup flag is checked and turned into options here, once, one check per line
  buildOptions: async (argv, global) => {
    // The settings resolver pulls in the retention policy's validator: load it for backup only.
    const [{ createSettingsResolver, engineConflict, parseDiskTargets }, { checkPointName }] = await Promise.all([
      import('../../config/settings.js'),
      import('../../backup/point-name.js'),
    ]);
    if (!global.output) throw usageError('backup needs --output DIR (or defaults.output in the config file)');
    const config = global.config?.config;
    const defaults = config?.defaults ?? {};
    if (global.hosts.length > 1) checkHostPrefixes(global.domains, global.hosts);
    // The flag's value was checked as yargs read it; the config's by the config schema.
    const jobs = Number(argv['jobs'] ?? defaults.jobs ?? 1);
    // --stop --stop-force says one thing twice: the force implies the stop.
    const stopFlags = ['stop', 'stop-force', 'require-stopped'].filter((f) => argv[f] === true && !(f === 'stop' && argv['stop-force'] === true));
    if (stopFlags.length > 1) throw usageError(`--${stopFlags[0]} and --${stopFlags[1]} cannot be used together`);
    const hookTimeout = argv['hook-timeout'] === undefined ? undefined : Number(argv['hook-timeout']);
    const hookFlag = (flag: string): HookSpec | undefined => {
      const v = argv[flag];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || v.trim() === '') throw usageError(`--${flag} needs a command`);
      return hookTimeout === undefined ? v : { command: v, timeout: hookTimeout };
    };
    const hooks = Object.fromEntries(HOOK_FLAGS.map(([flag, key]): [string, HookSpec | undefined] => [key, hookFlag(flag)]).filter(([, v]) => v !== undefined));
    const stopTimeout = argv['stop-timeout'];
    // Alone it changes nothing, so it is most likely a --stop that fell off the line.
    if (stopTimeout !== undefined && stopFlags[0] !== 'stop' && stopFlags[0] !== 'stop-force' && !configStops(config)) {
      throw usageError('--stop-timeout goes with --stop or --stop-force (or a config file that sets stop): alone it changes nothing');
    }
    const label = argv['label'] === undefined ? undefined : String(argv['label']);
    if (label !== undefined && hasControlCharacter(label))
      throw usageError(`--label ${JSON.stringify(label)} holds a newline or control character: give one line of text`);
    const ifOlder = argv['if-older-than'] as Duration | undefined;
    // `vmsnap` writes what VMSnap wrote (virtnbdbackup streams) unless --engine is given, whatever the config says.
    const engineFlag =
      argv['engine'] === undefined ? (global.persona === 'vmsnap' ? 'virtnbdbackup' : undefined) : (argv['engine'] as (typeof ENGINE_NAMES)[number]);
    // auto (the flag's or the default) picks per domain; only a forced engine is checked against the other flags here.
    const engine = engineFlag === 'auto' ? undefined : engineFlag;
    // qcow2 targets are written by QEMU uncompressed, and raw disks carry no bitmaps for a checkpoint.
    const conflict = engineConflict({ engine, compress: optionalBool(argv['compress']) === true, raw: optionalBool(argv['raw']) === true });
    if (conflict === 'compress') throw usageError('--compress goes with --engine virtnbdbackup (push writes plain qcow2 images)');
    // QEMU writes a push backup on the hypervisor, into the folder it is given: local libvirt only.
    if (engine === 'push' && global.hosts.some((h) => !h.uri.startsWith('qemu:///'))) {
      throw usageError(
        '--engine push works with a local libvirt only (qemu:///system): QEMU writes the backup files on the hypervisor itself; back up remote hosts with --engine virtnbdbackup',
      );
    }
    if (conflict === 'raw') throw usageError('--raw goes with --engine virtnbdbackup (a raw disk has no bitmap for a push checkpoint)');
    // The flags are the top layer over the config's defaults, tag and domain sections.
    const flags: DomainOverrides = {
      ...(argv['groupBy'] === undefined ? {} : { groupBy: argv['groupBy'] as GroupBy }),
      ...(ifOlder === undefined ? {} : { ifOlderThan: ifOlder.text }),
      ...(optionalBool(argv['compress']) === undefined ? {} : { compress: optionalBool(argv['compress'])! }),
      ...(optionalBool(argv['raw']) === undefined ? {} : { raw: optionalBool(argv['raw'])! }),
      ...(optionalBool(argv['prune']) === undefined ? {} : { prune: optionalBool(argv['prune'])! }),
      ...(retentionFlags(argv) === undefined ? {} : { retention: retentionFlags(argv)! }),
      ...(parseDiskTargets(argv['disks'], '--disks') === undefined ? {} : { disks: parseDiskTargets(argv['disks'], '--disks')! }),
      ...(parseDiskTargets(argv['exclude-disks'], '--exclude-disks') === undefined
        ? {}
        : { excludeDisks: parseDiskTargets(argv['exclude-disks'], '--exclude-disks')! }),
      ...(argv['stop'] === true && argv['stop-force'] !== true ? { stop: 'stop' as const } : {}),
      ...(argv['stop-force'] === true ? { stop: 'stop-force' as const } : {}),
      ...(argv['require-stopped'] === true ? { stop: 'require-stopped' as const } : {}),
      ...(stopTimeout === undefined ? {} : { stopTimeout: Number(stopTimeout) }),
      ...(label === undefined ? {} : { label }),
      ...(parseQuiesceFlag(argv['quiesce']) === undefined ? {} : { quiesce: parseQuiesceFlag(argv['quiesce'])! }),
      ...(engineFlag === undefined ? {} : { engine: engineFlag }),
      hooks: Object.fromEntries(Object.entries(hooks).filter(([k]) => k !== 'preRun' && k !== 'postRun')),
    };
    // A policy on the line without --prune would be read and never applied (do-snapshot's -k
    // prunes by itself): refuse it instead of keeping everything in silence.
    if (flags.retention !== undefined && flags.prune !== true && !configPrunes(config)) {
      const given = Object.keys(flags.retention).length === 1 && flags.retention.keepTiers ? '-k/--keep-tier' : 'the --keep-* options';
      throw usageError(`backup applies ${given} only with --prune: add --prune, or run vmkeep prune`);
    }
    const settingsFor = createSettingsResolver(config, flags);
    const runHooks = {
      ...(defaults.hooks?.preRun === undefined ? {} : { preRun: defaults.hooks.preRun }),
      ...(defaults.hooks?.postRun === undefined ? {} : { postRun: defaults.hooks.postRun }),
      ...(hooks['preRun'] === undefined ? {} : { preRun: hooks['preRun'] }),
      ...(hooks['postRun'] === undefined ? {} : { postRun: hooks['postRun'] }),
    };
    return Object.freeze({
      domains: global.domains,
      output: global.output,
      jobs,
      dryRun: argv['dry-run'] === true,
      lockWaitMs: secondsToMs(argv['lock-wait'] ?? defaults.lockWait),
      // VMSnap's own command line (--groupBy with no vmkeep config): auto writes new chains in VMSnap's format.
      ...(argv['groupBy'] !== undefined && !global.config ? { vmsnapRun: '--groupBy with no vmkeep config file' } : {}),
      verbose: global.verbose,
      settingsFor,
      selection: buildSelection(argv, global),
      needTags: Object.keys(config?.tags ?? {}).length > 0,
      runHooks,
      name: argv['name'] === undefined ? undefined : checkPointName(String(argv['name'])),
    });
  },
  libvirt: true,
  run: async (ctx, options, global) => {
    const { runBackup, createEngine, prepareOutput } = await import('../../backup/run-backup.js');
    const { runWideSettings } = await import('../../backup/types.js');
    const { pruneAfterBackup } = await import('../../prune/prune-after-backup.js');
    const { hostOutputDir, mergeBackup, optionsForHost, runAcrossHosts } = await import('../../fleet/index.js');
    // backup --prune is "back up, then prune only if that backup succeeded": composed here, above
    // both commands; the backup calls it for a domain only after recording its new point.
    const withPrune: typeof options = { ...options, afterBackup: (c, domain, output, s) => pruneAfterBackup(c, domain, output, s.groupBy, s.prunePolicy) };
    const base = runWideSettings(options);
    // Alone, the context already has the host's own domain locks (cli/main.ts); with others, each host's context does.
    if (global.hosts.length <= 1) return runBackup(ctx, withPrune);
    const { default: pLimit } = await import('p-limit');
    // One limit for the whole run: --jobs bounds backups at once across all hosts.
    const limit = pLimit(options.jobs);
    const n = global.hosts.length;
    // Each host writes into OUTPUT/<host>: OUTPUT itself must be there first (only inside an
    // existing parent, as for one host).
    await prepareOutput(options.output, options.dryRun);
    const outcomes = await runAcrossHosts(ctx, global.hosts, options.domains, async (hostCtx, host, domains) => {
      // An unreachable host gets no output folder: ask libvirtd before anything is created.
      if (!options.dryRun) await hostCtx.virsh.ping();
      return runBackup(
        hostCtx,
        { ...optionsForHost(withPrune, domains), output: hostOutputDir(options.output, host, n) },
        base.engine === undefined ? undefined : createEngine(hostCtx, base.engine),
        limit,
      );
    });
    return mergeBackup(outcomes, { dryRun: options.dryRun, output: options.output, groupBy: base.groupBy });
  },
});
