import { checkHostPrefixes } from '../../app/hosts.js';
import type { StatusOptions } from '../../status/run-status.js';
import { addSelectionOptions, buildSelection } from '../selection-options.js';
import { defineCommand } from './types.js';

export const statusCommand = defineCommand<StatusOptions>({
  name: 'status',
  describe: 'show domains, disks, checkpoints, bitmaps and their consistency (and backups with --output)',
  builder: (y) => addSelectionOptions(y),
  buildOptions: async (argv, global) => {
    if (global.hosts.length > 1) checkHostPrefixes(global.domains, global.hosts);
    // With --output, status says which engine each domain's next backup uses: it needs the
    // config's per-domain settings (loaded only then: the resolver pulls in the policy validator).
    const settingsFor =
      global.output !== undefined && global.config ? (await import('../../config/settings.js')).createSettingsResolver(global.config.config, {}) : undefined;
    return Object.freeze({
      domains: global.domains,
      output: global.output,
      colour: process.stdout.isTTY === true && global.format === 'text' && !global.machine,
      selection: buildSelection(argv, global),
      ...(settingsFor ? { settingsFor } : {}),
      // The vmsnap command backs up in VMSnap's format unless told otherwise.
      ...(global.persona === 'vmsnap' ? { forcedEngine: { engine: 'virtnbdbackup' as const, by: 'the vmsnap command' } } : {}),
    });
  },
  libvirt: true,
  run: async (ctx, options, global) => {
    const { runStatus } = await import('../../status/run-status.js');
    // An unmounted backup disk must not read as "never backed up": a missing --output is exit 64.
    if (options.output !== undefined) await (await import('../../repository/chains.js')).requireOutputFolder(options.output);
    if (global.hosts.length <= 1) return runStatus(ctx, options);
    const { hostOutputDir, mergeStatus, optionsForHost, runAcrossHosts } = await import('../../fleet/index.js');
    const n = global.hosts.length;
    const outcomes = await runAcrossHosts(ctx, global.hosts, options.domains, (hostCtx, host, domains) =>
      runStatus(hostCtx, { ...optionsForHost(options, domains), output: options.output === undefined ? undefined : hostOutputDir(options.output, host, n) }),
    );
    return mergeStatus(outcomes);
  },
});
