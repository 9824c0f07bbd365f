import { resolve } from 'node:path';
import { usageError } from '../../errors.js';
import { parsePointSelector } from '../../points/points.js';
import type { RestoreMode, RestoreOptions, RunRestore } from '../../points/restore-options.js';
import type { BackUpDomain } from '../../restore/run-restore.js';
import type { RestoreFromOptions } from '../../replicate/restore-from.js';
import { addRepoOptions, repoFrom } from './replicate.js';
import { LOCK_WAIT, secondsFlag, secondsToMs } from '../flag-values.js';
import { defineCommand } from './types.js';

/** --disk vda --disk vdb, or --disk vda,vdb → ['vda', 'vdb']; undefined → every disk. */
function parseDiskList(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const list = (Array.isArray(value) ? value : [value])
    .flatMap((v) => String(v).split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  if (list.length === 0) throw usageError('--disk needs a disk target such as vda');
  return [...new Set(list)];
}

function optionalString(argv: Record<string, unknown>, name: string): string | undefined {
  const v = argv[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw usageError(`--${name} needs a value`);
  return v;
}

/** A restore from a local backup folder, or (--from) from a restic repository. */
export type RestoreCliOptions = { kind: 'local'; options: RestoreOptions } | { kind: 'repo'; options: RestoreFromOptions };

export const restoreCommand = defineCommand<RestoreCliOptions>({
  name: 'restore',
  describe: 'restore a domain at a restore point: into a folder (--to), or in place under the existing domain (--in-place)',
  builder: (y) =>
    addRepoOptions(y)
      .option('from', { type: 'string', describe: 'restore from this restic repository (see vmkeep replicate) instead of --output' })
      .option('scratch-dir', { type: 'string', default: '/var/tmp', describe: 'with --from: where the chain files are restored before use' })
      .option('domain', { type: 'string', describe: 'the domain whose backups to restore (with --from: HOST/DOMAIN when hosts share the name)' })
      .option('to', { type: 'string', describe: 'empty folder, or a new one inside an existing folder, for the images and the adjusted domain XML' })
      .option('in-place', { type: 'boolean', default: false, describe: "replace the existing domain's disks with the restored ones" })
      .option('at', { type: 'string', describe: 'restore point: <chain>/<checkpoint> (see vmkeep list), a checkpoint name, a label, or latest (default)' })
      .option('at-time', { type: 'string', describe: 'the newest restore point at or before this ISO 8601 time' })
      .option('disk', { type: 'string', array: true, describe: 'only these disk targets (vda, or vda,vdb)' })
      .option('define', { type: 'string', describe: 'with --to: define the restored domain under this name' })
      .option('keep-chain', {
        type: 'boolean',
        default: false,
        describe: 'with --to, push chains: write qcow2 overlays on the point instead of flattened copies',
      })
      .option('force', { type: 'boolean', default: false, describe: 'with --in-place: shut a running domain down for the swap (and start it again)' })
      .option('checkpoint-current', { type: 'boolean', default: false, describe: 'with --in-place: back up the current state first (label before-restore)' })
      .option('discard-old', { type: 'boolean', default: false, describe: 'with --in-place: delete the replaced images instead of keeping them' })
      .option('shutdown-timeout', {
        ...secondsFlag('shutdown-timeout', { min: 0, max: 86_400 }),
        default: 120,
        describe: 'with --in-place --force: seconds to wait for a graceful shutdown before destroy',
      })
      .option('dry-run', { alias: 'dryrun', type: 'boolean', default: false, describe: 'print the plan and change nothing' })
      .option('lock-wait', { ...LOCK_WAIT, describe: 'seconds to wait for another run to finish (default 0)' }),
  buildOptions: (argv, global) => {
    const from = argv['from'];
    if (from !== undefined && global.output) throw usageError('restore takes --output DIR or --from REPO, not both');
    if (from === undefined && !global.output) throw usageError('restore needs --output DIR (the backup folder) or --from REPO (a restic repository)');
    const domain = optionalString(argv, 'domain');
    if (!domain) throw usageError('restore needs --domain NAME');
    const to = optionalString(argv, 'to');
    const inPlace = argv['in-place'] === true;
    if ((to === undefined) === !inPlace) throw usageError('restore needs exactly one of --to DIR and --in-place');
    const defineName = optionalString(argv, 'define');
    const inPlaceOnly = ['force', 'checkpoint-current', 'discard-old'].filter((o) => argv[o] === true);
    let mode: RestoreMode;
    if (to !== undefined) {
      if (inPlaceOnly.length > 0) throw usageError(`--${inPlaceOnly[0]} goes with --in-place, not --to`);
      mode = { kind: 'directory', dir: resolve(to), defineName, keepChain: argv['keep-chain'] === true };
    } else {
      if (defineName !== undefined) throw usageError('--define goes with --to DIR: an in-place restore keeps the domain');
      if (argv['keep-chain'] === true) throw usageError('--keep-chain goes with --to DIR');
      mode = {
        kind: 'in-place',
        force: argv['force'] === true,
        checkpointCurrent: argv['checkpoint-current'] === true,
        discardOld: argv['discard-old'] === true,
        shutdownTimeoutMs: secondsToMs(argv['shutdown-timeout'] ?? 120),
      };
    }
    const selector = parsePointSelector(optionalString(argv, 'at'), optionalString(argv, 'at-time'));
    const common = {
      mode: Object.freeze(mode),
      disks: parseDiskList(argv['disk']),
      dryRun: argv['dry-run'] === true,
      lockWaitMs: secondsToMs(argv['lock-wait']),
    };
    if (from !== undefined) {
      if (mode.kind === 'in-place') throw usageError('--from restores into a folder (--to DIR); restore in place from a local backup folder');
      return Object.freeze({
        kind: 'repo' as const,
        options: Object.freeze({
          repo: repoFrom(argv, from, 'restore --from', global.env, global.config?.config.restic),
          domain,
          selector,
          scratchDir: resolve(String(argv['scratch-dir'] ?? '/var/tmp')),
          restore: Object.freeze(common),
        }),
      });
    }
    if (domain.includes('/')) throw usageError(`--domain ${domain}: HOST/DOMAIN is for --from; with several hosts give --output DIR/HOST`);
    return Object.freeze({ kind: 'local' as const, options: Object.freeze({ ...common, domain, output: resolve(global.output!), selector }) });
  },
  run: async (ctx, o) => {
    const { runRestore } = await import('../../restore/run-restore.js');
    const restoreLocal: RunRestore = (c, options) => runRestore(c, options, backUpCurrentState);
    return o.kind === 'repo' ? (await import('../../replicate/restore-from.js')).runRestoreFrom(ctx, o.options, restoreLocal) : restoreLocal(ctx, o.options);
  },
});

/**
 * --checkpoint-current's backup before an in-place restore: the backup command, one domain, into
 * the restore's output folder, nothing else turned on. Built here because command folders don't
 * import each other.
 */
const backUpCurrentState: BackUpDomain = async (ctx, r) => {
  const [{ runBackup }, { fixedSettings }] = await Promise.all([import('../../backup/run-backup.js'), import('../../config/settings.js')]);
  return runBackup(ctx, {
    domains: [r.domain],
    output: r.output,
    jobs: 1,
    dryRun: false,
    lockWaitMs: r.lockWaitMs,
    settingsFor: fixedSettings({ groupBy: r.groupBy, label: r.label, engine: r.engine }),
  });
};
