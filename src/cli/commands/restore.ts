import { resolve } from 'node:path';
import { usageError } from '../../errors.js';
import { parsePointSelector } from '../../restore/points.js';
import { runRestore, type RestoreMode, type RestoreOptions } from '../../restore/run-restore.js';
import { parseLockWait } from '../parse-values.js';
import { defineCommand } from './types.js';

/** --disk vda --disk vdb, or --disk vda,vdb → ['vda', 'vdb']; undefined → every disk. */
export function parseDiskList(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const list = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
  if (list.length === 0) throw usageError('--disk needs a disk target such as vda');
  return [...new Set(list)];
}

/** --shutdown-timeout SECONDS → ms. */
export function parseShutdownTimeout(value: unknown): number {
  const n = typeof value === 'string' && value.trim() === '' ? NaN : Number(value ?? 120);
  if (!Number.isFinite(n) || n < 0 || n > 86_400) throw usageError(`--shutdown-timeout needs seconds from 0 to 86400, got ${JSON.stringify(value)}`);
  return Math.round(n * 1000);
}

function optionalString(argv: Record<string, unknown>, name: string): string | undefined {
  const v = argv[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw usageError(`--${name} needs a value`);
  return v;
}

export const restoreCommand = defineCommand<RestoreOptions>({
  name: 'restore',
  describe: 'restore a domain at a restore point: into a folder (--to), or in place under the existing domain (--in-place)',
  builder: (y) =>
    y
      .option('domain', { type: 'string', describe: 'the domain whose backups to restore' })
      .option('to', { type: 'string', describe: 'empty or new folder for the images and the adjusted domain XML' })
      .option('in-place', { type: 'boolean', default: false, describe: "replace the existing domain's disks with the restored ones" })
      .option('at', { type: 'string', describe: 'restore point: <chain>/<checkpoint> (see vmkeep list), a checkpoint name, or latest (default)' })
      .option('at-time', { type: 'string', describe: 'the newest restore point at or before this ISO 8601 time' })
      .option('disk', { type: 'string', array: true, describe: 'only these disk targets (vda, or vda,vdb)' })
      .option('define', { type: 'string', describe: 'with --to: define the restored domain under this name' })
      .option('force', { type: 'boolean', default: false, describe: 'with --in-place: shut a running domain down for the swap (and start it again)' })
      .option('checkpoint-current', { type: 'boolean', default: false, describe: 'with --in-place: back up the current state first (label before-restore)' })
      .option('discard-old', { type: 'boolean', default: false, describe: 'with --in-place: delete the replaced images instead of keeping them' })
      .option('shutdown-timeout', { type: 'string', default: '120', describe: 'with --in-place --force: seconds to wait for a graceful shutdown before destroy' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print the plan and change nothing' })
      .option('lock-wait', { type: 'string', default: '0', describe: 'seconds to wait for another run to finish' }),
  buildOptions: (argv, global) => {
    if (!global.output) throw usageError('restore needs --output DIR (the backup folder)');
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
      mode = { kind: 'directory', dir: resolve(to), defineName };
    } else {
      if (defineName !== undefined) throw usageError('--define goes with --to DIR: an in-place restore keeps the domain');
      mode = {
        kind: 'in-place',
        force: argv['force'] === true,
        checkpointCurrent: argv['checkpoint-current'] === true,
        discardOld: argv['discard-old'] === true,
        shutdownTimeoutMs: parseShutdownTimeout(argv['shutdown-timeout']),
      };
    }
    return Object.freeze({
      domain,
      output: resolve(global.output),
      mode: Object.freeze(mode),
      selector: parsePointSelector(optionalString(argv, 'at'), optionalString(argv, 'at-time')),
      disks: parseDiskList(argv['disk']),
      dryRun: argv['dry-run'] === true,
      lockWaitMs: parseLockWait(argv['lock-wait']),
      env: process.env,
    });
  },
  run: (ctx, options) => runRestore(ctx, options),
});
