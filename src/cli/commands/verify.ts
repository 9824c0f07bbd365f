import { resolve } from 'node:path';
import { checkHostPrefixes } from '../../app/hosts.js';
import { usageError } from '../../errors.js';
import type { VerifyFromOptions } from '../../replicate/verify-from.js';
import type { VerifyOptions } from '../../verify/run-verify.js';
import { parseLockWait } from '../parse-values.js';
import { addRepoOptions, replicationSources, repoFrom } from './replicate.js';
import { addSelectionOptions, buildSelection, refuseTagsAcrossHosts } from '../selection-options.js';
import { defineCommand } from './types.js';

/** A local backup folder, or (--from) a restic repository. */
export type VerifyCliOptions = { kind: 'local'; options: VerifyOptions } | { kind: 'repo'; options: VerifyFromOptions };

/** `10%`, `2.5%`, `1/5`, `500M`: what restic's --read-data-subset takes. */
export function parseReadDataSubset(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const v = String(value).trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(v);
  if (pct && Number(pct[1]) > 0 && Number(pct[1]) <= 100) return v;
  const part = /^(\d+)\/(\d+)$/.exec(v);
  if (part && Number(part[1]) >= 1 && Number(part[1]) <= Number(part[2])) return v;
  if (/^\d+[kKmMgGtT]$/.test(v)) return v;
  throw usageError(`--read-data-subset takes a share like 10%, a part like 1/5, or a size like 500M; got ${JSON.stringify(v)}`);
}

export const verifyCommand = defineCommand<VerifyCliOptions>({
  name: 'verify',
  describe:
    'check every chain (files, checksums, stream structure, checkpoint links); --deep also restores and checks images; --from checks a restic repository',
  builder: (y) =>
    addSelectionOptions(addRepoOptions(y))
      .option('deep', { type: 'boolean', default: false, describe: 'restore the newest point of each chain into a scratch folder and qemu-img check it' })
      .option('all-points', { type: 'boolean', default: false, describe: 'with --deep: restore and check every point (implies --deep)' })
      .option('scratch-dir', { type: 'string', default: '/var/tmp', describe: 'where --deep restores (a private folder inside, removed afterwards)' })
      .option('from', { type: 'string', describe: 'check this restic repository (restic check, then a sample restored and checked by vmkeep)' })
      .option('read-data-subset', { type: 'string', describe: "with --from: read back this share of the repository's data (10%, 1/5, 500M; 100% = all)" })
      .option('sample', {
        type: 'boolean',
        default: true,
        describe: 'with --from: also restore the newest point of each domain and check it against its manifest (--no-sample: restic check only)',
      })
      .option('adopt', {
        type: 'boolean',
        default: false,
        describe: 'VMSnap chains: restore and check every point, then record sha256 checksums in a new manifest (implies --all-points)',
      })
      .option('lock-wait', { type: 'string', default: '0', describe: 'seconds to wait for another run to finish' }),
  buildOptions: (argv, global) => {
    const scratch = argv['scratch-dir'];
    if (typeof scratch !== 'string' || scratch.trim() === '') throw usageError('--scratch-dir needs a folder');
    const selection = buildSelection(argv, global);
    if (argv['from'] !== undefined) {
      if (selection.tags.length > 0 || selection.exclude.length > 0)
        throw usageError('--tag and --exclude go with verify --output DIR (verify --from checks the whole repository)');
      // With --output too: the local replica marks are checked against the repository and corrected.
      const outputs = global.output
        ? replicationSources(resolve(global.output), global.hosts, undefined).map((s) => ({ host: s.host, output: s.output }))
        : undefined;
      return Object.freeze({
        kind: 'repo' as const,
        options: Object.freeze({
          repo: repoFrom(argv, argv['from'], 'verify --from', process.env, global.config?.config.restic),
          readDataSubset: parseReadDataSubset(argv['read-data-subset']),
          scratchDir: resolve(scratch),
          sample: argv['sample'] !== false,
          ...(outputs ? { outputs: Object.freeze(outputs), lockWaitMs: parseLockWait(argv['lock-wait']) } : {}),
        }),
      });
    }
    if (argv['read-data-subset'] !== undefined) throw usageError('--read-data-subset goes with --from REPO');
    if (!global.output) throw usageError('verify needs --output DIR or --from REPO');
    refuseTagsAcrossHosts(selection, global, 'verify');
    if (global.hosts.length > 1) checkHostPrefixes(global.domains, global.hosts);
    const adopt = argv['adopt'] === true;
    const allPoints = argv['all-points'] === true || adopt;
    return Object.freeze({
      kind: 'local' as const,
      options: Object.freeze({
        output: resolve(global.output),
        domains: global.domains,
        selection,
        deep: argv['deep'] === true || allPoints,
        allPoints,
        scratchDir: resolve(scratch),
        lockWaitMs: parseLockWait(argv['lock-wait']),
        adopt,
      }),
    });
  },
  run: async (ctx, o, global) => {
    if (o.kind === 'repo') return (await import('../../replicate/verify-from.js')).runVerifyFrom(ctx, o.options);
    const { runVerify } = await import('../../verify/run-verify.js');
    if (global.hosts.length <= 1) return runVerify(ctx, o.options);
    // Several hosts: each host's own folder OUTPUT/<host>, as backup wrote them.
    const { hostOutputDir, mergePerHost, optionsForHost, runAcrossHosts } = await import('../../fleet/index.js');
    const options = o.options;
    const n = global.hosts.length;
    const outcomes = await runAcrossHosts(ctx, global.hosts, options.domains, (hostCtx, host, domains) =>
      runVerify(hostCtx, { ...optionsForHost(options, domains), output: hostOutputDir(options.output, host, n) }),
    );
    return mergePerHost(outcomes, { output: options.output });
  },
});
