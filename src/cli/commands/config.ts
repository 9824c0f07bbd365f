import type { ConfigCheckOptions } from '../../config/run-config-check.js';
import { usageError } from '../../errors.js';
import { addSelectionOptions, buildSelection } from '../selection-options.js';
import { defineCommand } from './types.js';

export const configCommand = defineCommand<ConfigCheckOptions>({
  name: 'config <action>',
  describe: 'config check: validate the config file and show the effective settings per domain',
  builder: (y) => addSelectionOptions(y.positional('action', { type: 'string', choices: ['check'], describe: 'check' })),
  buildOptions: (argv, global) => {
    if (argv['action'] !== 'check') throw usageError('config needs an action: check');
    return Object.freeze({ config: global.config, selection: buildSelection(argv, global), connect: global.connect, output: global.output });
  },
  libvirt: true,
  run: async (ctx, options) => (await import('../../config/run-config-check.js')).runConfigCheck(ctx, options),
});
