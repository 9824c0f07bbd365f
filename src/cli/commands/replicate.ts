import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { checkHostPrefixes, hostOutputDir, patternsForHost, type HostSpec } from '../../app/hosts.js';
import { usageError } from '../../errors.js';
import type { ResticRepo } from '../../restic/client.js';
import type { ReplicateOptions } from '../../replicate/run-replicate.js';
import type { ReplicationSource } from '../../replicate/read-sources.js';
import type { RetentionPolicy } from '../../retention/types.js';
import { GROUP_BY, LOCK_WAIT, choiceFlag, secondsToMs } from '../flag-values.js';
import { addKeepOptions, policyFrom } from './prune.js';
import { addSelectionOptions, buildSelection, refuseTagsAcrossHosts } from '../selection-options.js';
import { defineCommand } from './types.js';

/** --password-file, --restic-option: how every command that talks to a restic repository is told about it. */
export function addRepoOptions(y: Argv): Argv {
  return y
    .option('password-file', { type: 'string', describe: 'file with the repository password (default: $RESTIC_PASSWORD_FILE); never give the password itself' })
    .option('restic-option', { type: 'string', array: true, describe: "restic extended option key=value (e.g. sftp.command='ssh -p 2222 ...'); repeatable" });
}

/** The repository as restic gets it: the password only as a file name, from the option or RESTIC_PASSWORD_FILE. */
export function repoFrom(
  argv: Record<string, unknown>,
  given: unknown,
  flag: string,
  env: NodeJS.ProcessEnv,
  config?: { repository?: string | undefined; passwordFile?: string | undefined },
): ResticRepo {
  // Flags first, then the environment, then the config file's restic section.
  const repository = given ?? config?.repository;
  if (typeof repository !== 'string' || repository.trim() === '')
    throw usageError(`${flag} needs a restic repository (a path, sftp:..., rest:..., s3:..., rclone:...), or restic.repository in the config file`);
  const pw = argv['password-file'] ?? env['RESTIC_PASSWORD_FILE'] ?? config?.passwordFile;
  if (typeof pw !== 'string' || pw.trim() === '') {
    throw usageError(
      `${flag} needs the repository password in a file: --password-file FILE, RESTIC_PASSWORD_FILE or restic.passwordFile in the config file (vmkeep never takes a password on the command line)`,
    );
  }
  const options = ((argv['restic-option'] as unknown[] | undefined) ?? []).map(String);
  for (const o of options) if (!/^[\w.-]+=/.test(o)) throw usageError(`--restic-option ${JSON.stringify(o)} is not key=value`);
  // A local repository path is made absolute; URLs are kept as given.
  const repo = /^[a-z0-9]+:/i.test(repository) && !repository.startsWith('/') ? repository : resolve(repository);
  return Object.freeze({ repository: repo, passwordFile: resolve(pw), options: Object.freeze(options) });
}

/** Where each host's backups are and what the host is called in the repository. */
export function replicationSources(output: string, hosts: readonly HostSpec[], domains: readonly string[] | undefined): ReplicationSource[] {
  if (hosts.length <= 1) {
    // One host keeps today's layout; unnamed, it is this machine.
    const name = hosts[0] && hosts[0].name !== 'local' ? hosts[0].name : hostname();
    return [{ host: name, output, domains }];
  }
  return hosts
    .map((h) => ({ host: h.name, output: hostOutputDir(output, h, hosts.length), domains: patternsForHost(domains, h.name) }))
    .filter((s) => s.domains === undefined || s.domains.length > 0);
}

export const replicateCommand = defineCommand<ReplicateOptions>({
  name: 'replicate',
  describe: 'copy restore points into a restic repository (one snapshot per point; only what it lacks)',
  builder: (y) =>
    addSelectionOptions(addKeepOptions(addRepoOptions(y)))
      .option('prune', {
        type: 'boolean',
        default: false,
        describe: "after sending, apply the --keep-*/-k/--groupBy policy to the repository's chains (whole chains), then restic prune",
      })
      .option('groupBy', { ...GROUP_BY, describe: "with --prune: VMSnap's period rule for the repository's chains" })
      .option('to', { type: 'string', describe: 'the restic repository' })
      .option('chains', {
        ...choiceFlag('chains', ['all', 'complete']),
        default: 'all',
        describe: 'all: every chain, including the new points of a growing one; complete: finished chains only',
      })
      .option('init', { type: 'boolean', default: false, describe: 'create the repository if it does not exist' })
      .option('dry-run', { alias: 'dryrun', type: 'boolean', default: false, describe: 'print what would be sent and send nothing' })
      .option('lock-wait', { ...LOCK_WAIT, describe: 'seconds to wait for another run to finish (default 0)' }),
  buildOptions: async (argv, global) => {
    if (!global.output) throw usageError('replicate needs --output DIR (the backup folder)');
    if (global.hosts.length > 1) checkHostPrefixes(global.domains, global.hosts);
    const chains = argv['chains'] as ReplicateOptions['chains'];
    const prune = argv['prune'] === true;
    const { hasAnyRule } = await import('../../retention/policy.js');
    const policy = await policyFrom(argv, argv['groupBy'] as RetentionPolicy['groupBy']);
    if (prune && !hasAnyRule(policy))
      throw usageError(
        'replicate --prune needs a policy: --groupBy, --keep-last/-hourly/-daily/-weekly/-monthly/-yearly N, --keep-within D or -k INTERVAL:AGE',
      );
    if (!prune && hasAnyRule(policy)) throw usageError('--keep-*, -k and --groupBy go with replicate --prune');
    const selection = buildSelection(argv, global);
    refuseTagsAcrossHosts(selection, global, 'replicate');
    return Object.freeze({
      prune: prune ? policy : undefined,
      sources: Object.freeze(
        replicationSources(resolve(global.output), global.hosts, global.domains).map((src) => ({ ...src, selection: { ...selection, domains: src.domains } })),
      ),
      repo: repoFrom(argv, argv['to'], 'replicate --to', global.env, global.config?.config.restic),
      chains,
      init: argv['init'] === true,
      dryRun: argv['dry-run'] === true,
      lockWaitMs: secondsToMs(argv['lock-wait']),
    });
  },
  run: async (ctx, options) => (await import('../../replicate/run-replicate.js')).runReplicate(ctx, options),
});
