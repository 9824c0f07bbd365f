import { checkHostPrefixes } from '../../app/hosts.js';
import { usageError } from '../../errors.js';
import { SCRUB_TYPES, type ScrubType } from '../../domain/plan-scrub.js';
import type { ScrubCommandOptions } from '../../scrub/run-scrub-command.js';
import { LOCK_WAIT, choiceFlag, secondsToMs } from '../flag-values.js';
import { addSelectionOptions, buildSelection } from '../selection-options.js';
import { defineCommand } from './types.js';

export const scrubCommand = defineCommand<ScrubCommandOptions>({
  name: 'scrub',
  describe: "remove vmkeep's checkpoints and/or bitmaps from domains (running or shut off)",
  builder: (y) =>
    addSelectionOptions(y)
      .option('scrubType', { ...choiceFlag('scrubType', SCRUB_TYPES), describe: 'what to remove' })
      .option('checkpointName', { type: 'string', describe: 'only this checkpoint (and its bitmap)' })
      .option('dry-run', { alias: 'dryrun', type: 'boolean', default: false, describe: 'print the plan and change nothing' })
      .option('force', { type: 'boolean', default: false, describe: 'also remove names vmkeep does not own' })
      .option('lock-wait', { ...LOCK_WAIT, describe: 'seconds to wait for a running backup of the domain (default 0)' }),
  buildOptions: (argv, global) => {
    const t = argv['scrubType'];
    if (t === undefined) throw usageError(`scrub needs --scrubType (${SCRUB_TYPES.join(', ')})`);
    if (global.domains === undefined) throw usageError("scrub needs --domains (use --domains '*' for every domain)");
    if (global.hosts.length > 1) checkHostPrefixes(global.domains, global.hosts);
    const cp = argv['checkpointName'];
    return Object.freeze({
      domains: global.domains,
      scrubType: String(t) as ScrubType,
      checkpointName: cp === undefined ? undefined : String(cp),
      dryRun: argv['dry-run'] === true,
      force: argv['force'] === true,
      lockWaitMs: secondsToMs(argv['lock-wait']),
      selection: buildSelection(argv, global),
    });
  },
  libvirt: true,
  run: async (ctx, options, global) => {
    const { runScrubCommand } = await import('../../scrub/run-scrub-command.js');
    const { mergeByDomainKey, optionsForHost, runAcrossHosts } = await import('../../fleet/index.js');
    if (global.hosts.length <= 1) return runScrubCommand(ctx, options);
    const outcomes = await runAcrossHosts(ctx, global.hosts, options.domains, (hostCtx, host, domains) =>
      runScrubCommand(hostCtx, optionsForHost(options, domains ?? options.domains)),
    );
    return mergeByDomainKey(outcomes, { ok: false });
  },
});
