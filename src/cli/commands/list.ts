import { checkHostPrefixes } from '../../app/hosts.js';
import type { ListOptions } from '../../restore/run-list.js';
import { usageError } from '../../errors.js';
import { addSelectionOptions, buildSelection } from '../selection-options.js';
import { defineCommand } from './types.js';

export const listCommand = defineCommand<ListOptions>({
  name: 'list',
  describe: 'list the restore points of each domain in an output folder (point ids for restore --at)',
  builder: (y) => addSelectionOptions(y),
  buildOptions: (argv, global) => {
    if (!global.output) throw usageError('list needs --output DIR');
    if (global.hosts.length > 1) checkHostPrefixes(global.domains, global.hosts);
    return Object.freeze({ output: global.output, domains: global.domains, selection: buildSelection(argv, global) });
  },
  run: async (ctx, options, global) => {
    const { runList } = await import('../../restore/run-list.js');
    if (global.hosts.length <= 1) return runList(ctx, options);
    // list reads each host's folder; a host's libvirt only when --tag needs its domains' tags.
    const { hostOutputDir, mergeList, optionsForHost, runAcrossHosts } = await import('../../fleet/index.js');
    const n = global.hosts.length;
    const outcomes = await runAcrossHosts(ctx, global.hosts, options.domains, (hostCtx, host, domains) =>
      runList(hostCtx, { ...optionsForHost(options, domains), output: hostOutputDir(options.output, host, n) }),
    );
    return mergeList(outcomes, options.output);
  },
});
