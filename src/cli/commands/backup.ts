import { checkHostPrefixes } from '../../app/hosts.js';
import type { BackupOptions } from '../../backup/run-backup.js';
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
      .option('jobs', { type: 'number', default: 1, describe: 'domains backed up at once' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print what would be done and change nothing' })
      .option('lock-wait', { type: 'number', default: 0, describe: 'seconds to wait for another run to finish' })
      .option('if-older-than', { type: 'string', describe: 'skip a domain whose last backup is younger than this (4h, 1d, 2w)' })
      .option('label', { type: 'string', describe: 'label stored with the new restore points' }),
  buildOptions: async (argv, global) => {
    if (!global.output) throw usageError('backup needs --output DIR');
    if (global.hosts.length > 1) checkHostPrefixes(global.domains, global.hosts);
    const jobs = Number(argv['jobs']);
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw usageError(`--jobs must be a whole number from 1 to 64, got ${String(argv['jobs'])}`);
    const ifOlder = argv['if-older-than'];
    return Object.freeze({
      domains: global.domains,
      output: global.output,
      groupBy: parseGroupBy(argv['groupBy']),
      prune: parseBooleanFlag(argv['prune']),
      // The same policy `vmkeep prune --groupBy G [--keep-*]` applies.
      prunePolicy: await policyFrom(argv, parseGroupBy(argv['groupBy'])),
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
  run: async (ctx, options, global) => {
    const { runBackup } = await import('../../backup/run-backup.js');
    const { hostLockEnv, hostOutputDir, mergeBackup, runAcrossHosts } = await import('../../fleet/index.js');
    // A remote host's domain locks are its own, alone or with others (see hostLockEnv).
    if (global.hosts.length <= 1) return runBackup(ctx, { ...options, env: hostLockEnv(options.env, global.hosts[0]!) });
    const [{ default: pLimit }, { VirtnbdbackupEngine }] = await Promise.all([import('p-limit'), import('../../backup/engine/virtnbdbackup.js')]);
    // One limit for the whole run: --jobs bounds backups at once across all hosts.
    const limit = pLimit(options.jobs);
    const n = global.hosts.length;
    const outcomes = await runAcrossHosts(ctx, global.hosts, options.domains, async (hostCtx, host, domains) => {
      // An unreachable host gets no output folder: ask libvirtd before anything is created.
      if (!options.dryRun) await hostCtx.virsh.ping();
      return runBackup(
        hostCtx,
        { ...options, domains, output: hostOutputDir(options.output, host, n), env: hostLockEnv(options.env, host) },
        new VirtnbdbackupEngine(hostCtx.runner),
        limit,
      );
    });
    return mergeBackup(outcomes, { dryRun: options.dryRun, output: options.output, groupBy: options.groupBy });
  },
});
