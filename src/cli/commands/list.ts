import type { ListOptions } from '../../restore/run-list.js';
import { usageError } from '../../errors.js';
import { defineCommand } from './types.js';

export const listCommand = defineCommand<ListOptions>({
  name: 'list',
  describe: 'list the restore points of each domain in an output folder (point ids for restore --at)',
  builder: (y) => y,
  buildOptions: (_argv, global) => {
    if (!global.output) throw usageError('list needs --output DIR');
    return Object.freeze({ output: global.output, domains: global.domains });
  },
  run: async (ctx, options) => (await import('../../restore/run-list.js')).runList(ctx, options),
});
