import { resolve } from 'node:path';
import { checkHostPrefixes } from '../../app/hosts.js';
import { usageError } from '../../errors.js';
import type { VerifyFromOptions } from '../../replicate/verify-from.js';
import type { VerifyOptions } from '../../verify/run-verify.js';
import type { BootVerifyOptions } from '../../verify/boot-verify.js';
import { parseBootCheck } from '../../domain/boot-checks.js';
import { JOBS, LOCK_WAIT, choiceFlag, memoryFlag, secondsFlag, secondsToMs } from '../flag-values.js';
import type { DomainOverrides } from '../../config/schema.js';
import { addRepoOptions, replicationSources, repoFrom } from './replicate.js';
import { addSelectionOptions, buildSelection, refuseTagsAcrossHosts } from '../selection-options.js';
import { defineCommand } from './types.js';
import type { GlobalOptions } from '../global-options.js';

/** A local backup folder, or (--from) a restic repository, or (--boot) points booted in isolation. */
export type VerifyCliOptions =
  { kind: 'local'; options: VerifyOptions } | { kind: 'repo'; options: VerifyFromOptions } | { kind: 'boot'; options: BootVerifyOptions };

const MAX_BOOT_TIMEOUT_S = 86_400;

/**
 * The boot flags as the top settings layer: each one given wins over the config's verify.boot
 * for every domain; the ones not given leave the config (or the built-in value) in place.
 */
function bootFlagLayer(argv: Record<string, unknown>): DomainOverrides {
  const rawChecks = argv['check'] === undefined ? [] : ([] as unknown[]).concat(argv['check']).map(String);
  // Read here so a bad check is a usage error before anything else happens.
  for (const c of rawChecks) parseBootCheck(c);
  const boot = {
    ...(rawChecks.length > 0 ? { checks: rawChecks } : {}),
    ...(argv['boot-timeout'] !== undefined ? { timeout: Number(argv['boot-timeout']) } : {}),
    ...(argv['max-memory'] !== undefined ? { maxMemory: Number(argv['max-memory']) } : {}),
  };
  return Object.keys(boot).length > 0 ? { verify: { boot } } : {};
}

async function buildBootOptions(
  argv: Record<string, unknown>,
  global: GlobalOptions,
  selection: ReturnType<typeof buildSelection>,
): Promise<BootVerifyOptions> {
  const flags = bootFlagLayer(argv);
  const domainType = argv['domain-type'] as BootVerifyOptions['domainType'];
  const at = argv['at'];
  if (at !== undefined && (typeof at !== 'string' || at.trim() === '')) throw usageError('--at needs a restore point (an id from vmkeep list, or latest)');
  if (at !== undefined && argv['all-points'] === true) throw usageError('--at and --all-points cannot be used together');
  const scratch = argv['scratch-dir'];
  if (scratch !== undefined && (typeof scratch !== 'string' || scratch.trim() === '')) throw usageError('--scratch-dir needs a folder');
  const config = global.config?.config;
  // The settings resolver pulls in the retention policy's validator (zod): loaded only for --boot.
  const { createSettingsResolver } = await import('../../config/settings.js');
  const settingsFor = createSettingsResolver(config, flags);
  return Object.freeze({
    output: resolve(global.output!),
    domains: global.domains,
    selection,
    bootSettingsFor: (domain: string, tags: readonly string[]) => settingsFor(domain, tags).bootVerify,
    // Tags only matter when a tag section could set verify.boot.
    needTags: Object.values(config?.tags ?? {}).some((t) => t.verify?.boot !== undefined),
    at: typeof at === 'string' ? at : undefined,
    allPoints: argv['all-points'] === true,
    jobs: Number(argv['jobs'] ?? 1),
    screenshot: argv['screenshot'] === true,
    domainType,
    scratchRoot: typeof scratch === 'string' ? resolve(scratch) : undefined,
    lockWaitMs: secondsToMs(argv['lock-wait']),
  });
}

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
      .option('scratch-dir', {
        type: 'string',
        alias: 'scratch',
        describe:
          'where --deep restores (default /var/tmp) and --boot puts overlays and scratch restores (default: the output folder); a private folder inside, removed afterwards',
      })
      .option('boot', {
        type: 'boolean',
        default: false,
        describe: 'boot the newest point of each domain (or --at POINT, --all-points) in an isolated verify domain and check it',
      })
      .option('check', {
        type: 'string',
        array: true,
        describe:
          'with --boot: agent (guest-ping answers), console:REGEX (the serial console matches), exec:CMD ARGS (runs in the guest, must exit 0); repeatable (default: config verify.boot.checks, else agent when the saved XML has the agent channel, else console)',
      })
      .option('at', { type: 'string', describe: 'with --boot: the restore point to boot (an id from vmkeep list, or latest)' })
      .option('boot-timeout', {
        ...secondsFlag('boot-timeout', { min: 1, max: MAX_BOOT_TIMEOUT_S, whole: true }),
        describe: 'with --boot: seconds every check has to pass, from the start of the guest (default: config verify.boot.timeout, else 300)',
      })
      .option('jobs', { ...JOBS, describe: 'with --boot: points booted at once (default 1); refused when the free memory does not hold them' })
      .option('screenshot', {
        type: 'boolean',
        default: false,
        describe: 'with --boot: save a PNG of the console with the evidence (needs a graphics device in the saved XML)',
      })
      .option('max-memory', {
        ...memoryFlag('max-memory'),
        describe: "with --boot: the verify domain's memory cap (default: config verify.boot.maxMemory, else 2G; the original's when smaller)",
      })
      .option('domain-type', {
        ...choiceFlag('domain-type', ['kvm', 'qemu']),
        describe: 'with --boot: the hypervisor type (default: kvm where the host can boot a guest with it, else qemu)',
      })
      .option('from', { type: 'string', describe: 'check this restic repository (restic check, then a sample restored and checked by vmkeep)' })
      .option('read-data-subset', {
        type: 'string',
        coerce: parseReadDataSubset,
        describe: "with --from: read back this share of the repository's data (10%, 1/5, 500M; 100% = all)",
      })
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
      .option('lock-wait', { ...LOCK_WAIT, describe: 'seconds to wait for another run to finish (default 0)' }),
  buildOptions: async (argv, global) => {
    const scratch = argv['scratch-dir'] ?? '/var/tmp';
    if (typeof scratch !== 'string' || scratch.trim() === '') throw usageError('--scratch-dir needs a folder');
    const selection = buildSelection(argv, global);
    const bootOnly = ['check', 'at', 'boot-timeout', 'jobs', 'max-memory', 'domain-type'].filter((f) => argv[f] !== undefined);
    if (argv['screenshot'] === true) bootOnly.push('screenshot');
    if (argv['boot'] === true) {
      if (argv['from'] !== undefined) throw usageError('--boot goes with --output DIR, not --from');
      if (argv['deep'] === true || argv['adopt'] === true) throw usageError('--boot cannot be combined with --deep or --adopt: run them separately');
      if (!global.output) throw usageError('verify --boot needs --output DIR');
      if (global.hosts.length > 1) throw usageError('verify --boot runs against one host at a time: give one --connect');
      return Object.freeze({ kind: 'boot' as const, options: await buildBootOptions(argv, global, selection) });
    }
    if (bootOnly.length > 0) throw usageError(`--${bootOnly[0]} goes with --boot`);
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
          repo: repoFrom(argv, argv['from'], 'verify --from', global.env, global.config?.config.restic),
          readDataSubset: argv['read-data-subset'] as string | undefined,
          scratchDir: resolve(scratch),
          sample: argv['sample'] !== false,
          ...(outputs ? { outputs: Object.freeze(outputs), lockWaitMs: secondsToMs(argv['lock-wait']) } : {}),
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
        lockWaitMs: secondsToMs(argv['lock-wait']),
        adopt,
      }),
    });
  },
  run: async (ctx, o, global) => {
    if (o.kind === 'repo') return (await import('../../replicate/verify-from.js')).runVerifyFrom(ctx, o.options);
    if (o.kind === 'boot') return (await import('../../verify/boot-verify.js')).runBootVerify(ctx, o.options);
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
