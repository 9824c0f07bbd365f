import { runBackup, type BackupOptions } from '../../backup/run-backup.js';
import { usageError } from '../../errors.js';
import { parseDuration } from '../../retention/duration.js';
import { parseBooleanFlag } from '../vmsnap-compat.js';
import { addKeepOptions, policyFrom } from './prune.js';
import { parseGroupBy, parseLockWait } from '../parse-values.js';
import { defineCommand } from './types.js';

export const backupCommand = defineCommand<BackupOptions>({
  name: 'backup',
  describe: 'back up domains: a full to start a period chain, incrementals to continue it',
  builder: (y) =>
    addKeepOptions(y)
      .option('groupBy', { type: 'string', default: 'month', describe: 'chain period: month, quarter, bi-annual, year' })
      .option('prune', {
        type: 'boolean',
        default: false,
        describe: "after a successful backup, prune the domain: VMSnap's period rule, plus any --keep-* / -k given (as vmkeep prune)",
      })
      .option('raw', { type: 'boolean', default: false, describe: 'include raw-format disks (copied whole every time)' })
      .option('compress', { type: 'boolean', default: false, describe: 'lz4-compress the backup streams' })
      .option('jobs', { type: 'string', default: '1', describe: 'domains backed up at once' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print what would be done and change nothing' })
      .option('lock-wait', { type: 'string', default: '0', describe: 'seconds to wait for another run to finish' })
      .option('if-older-than', { type: 'string', describe: 'skip a domain whose last backup is younger than this (4h, 1d, 2w)' })
      .option('label', { type: 'string', describe: 'label stored with the new restore points' }),
  buildOptions: (argv, global) => {
    if (!global.output) throw usageError('backup needs --output DIR');
    const jobs = /^\s*\d+\s*$/.test(String(argv['jobs'])) ? Number(argv['jobs']) : NaN;
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw usageError(`--jobs must be a whole number from 1 to 64, got ${JSON.stringify(argv['jobs'])}`);
    const ifOlder = argv['if-older-than'];
    return Object.freeze({
      domains: global.domains,
      output: global.output,
      groupBy: parseGroupBy(argv['groupBy']),
      prune: parseBooleanFlag(argv['prune']),
      // The same policy `vmkeep prune --groupBy G [--keep-*]` applies.
      prunePolicy: policyFrom(argv, parseGroupBy(argv['groupBy'])),
      raw: argv['raw'] === true,
      compress: argv['compress'] === true,
      jobs,
      dryRun: argv['dry-run'] === true,
      lockWaitMs: parseLockWait(argv['lock-wait']),
      ifOlderThan: ifOlder === undefined ? undefined : parseDuration(String(ifOlder), '--if-older-than'),
      label: argv['label'] === undefined ? undefined : String(argv['label']),
      verbose: global.verbose,
      env: process.env,
    });
  },
  run: (ctx, options) => runBackup(ctx, options),
});
