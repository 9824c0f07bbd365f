import type { CheckOptions } from '../../check/run-check.js';
import { bootMaxAgeOf, minDaysLeftOf } from '../parse-values.js';
import { checkHostPrefixes } from '../../app/hosts.js';
import { usageError } from '../../errors.js';
import { nominalHours } from '../../retention/duration.js';
import { durationFlag } from '../flag-values.js';
import type { Duration } from '../../retention/types.js';
import { addSelectionOptions, buildSelection, refuseTagsAcrossHosts } from '../selection-options.js';
import { defineCommand } from './types.js';

/** A warning age at or past the critical one could never show WARNING: surely swapped flags. */
function refuseSwapped(warning: Duration | undefined, critical: Duration | undefined, flag: string): void {
  if (warning && critical && nominalHours(warning) >= nominalHours(critical)) {
    throw usageError(`--${flag}warning ${warning.text} must be shorter than --${flag}critical ${critical.text} (swapped?)`);
  }
}

export const checkCommand = defineCommand<CheckOptions>({
  name: 'check',
  describe: 'Nagios/Icinga plugin: one status line, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN',
  builder: (y) =>
    addSelectionOptions(y)
      .option('warning', { ...durationFlag('warning'), demandOption: true, describe: 'WARNING when the newest backup is older than this (e.g. 26h)' })
      .option('critical', { ...durationFlag('critical'), demandOption: true, describe: 'CRITICAL when the newest backup is older than this (e.g. 50h)' })
      .option('verify-warning', { ...durationFlag('verify-warning'), describe: 'WARNING when the last verify is older than this, or there is none' })
      .option('verify-critical', { ...durationFlag('verify-critical'), describe: 'CRITICAL when the last verify is older than this, or there is none' })
      .option('min-days-left', {
        type: 'string',
        describe: "D[,C]: WARNING when the output folder's forecast says it is full in fewer than D days, CRITICAL under C",
      })
      .option('boot-max-age', {
        ...durationFlag('boot-max-age'),
        describe:
          "WARNING when the newest boot proof (verify --boot) is older than this, or there is none (default: the config's check.bootMaxAge); a failed one is CRITICAL with or without it",
      }),
  buildOptions: (argv, global) => {
    if (!global.output) throw usageError('check needs --output DIR');
    const selection = buildSelection(argv, global);
    refuseTagsAcrossHosts(selection, global, 'check');
    if (global.hosts.length > 1) checkHostPrefixes(global.domains, global.hosts);
    const thresholds = Object.freeze({
      warning: argv['warning'] as Duration,
      critical: argv['critical'] as Duration,
      verifyWarning: argv['verify-warning'] as Duration | undefined,
      verifyCritical: argv['verify-critical'] as Duration | undefined,
      // The flag wins over the config's check.bootMaxAge; neither: only a failed boot proof is judged.
      bootMaxAge: bootMaxAgeOf(argv['boot-max-age'], global.config?.config.check?.bootMaxAge),
    });
    refuseSwapped(thresholds.warning, thresholds.critical, '');
    refuseSwapped(thresholds.verifyWarning, thresholds.verifyCritical, 'verify-');
    // The flag wins over the config's check.minDaysLeft; neither: the forecast is not judged.
    const minDaysLeft = minDaysLeftOf(argv['min-days-left'], global.config?.config.check?.minDaysLeft);
    return Object.freeze({ domains: global.domains, selection, output: global.output, thresholds, ...(minDaysLeft ? { minDaysLeft } : {}) });
  },
  run: async (ctx, options, global) => {
    const { runCheck } = await import('../../check/run-check.js');
    if (global.hosts.length <= 1) return runCheck(ctx, options);
    // Several hosts: each host's domains judged against its own folder OUTPUT/<host>, one plugin line for all.
    const { hostOutputDir, mergeCheck, optionsForHost, runAcrossHosts } = await import('../../fleet/index.js');
    const n = global.hosts.length;
    const outcomes = await runAcrossHosts(ctx, global.hosts, options.domains, (hostCtx, host, domains) =>
      runCheck(hostCtx, { ...optionsForHost(options, domains), output: hostOutputDir(options.output, host, n) }),
    );
    return mergeCheck(outcomes, options.thresholds, ctx.now());
  },
});
