import type { StatusOptions } from '../../status/run-status.js';
import { addSelectionOptions, buildSelection } from '../selection-options.js';
import { defineCommand } from './types.js';

export const statusCommand = defineCommand<StatusOptions>({
  name: 'status',
  describe: 'show domains, disks, checkpoints, bitmaps and their consistency (and backups with --output)',
  builder: (y) => addSelectionOptions(y),
  buildOptions: (argv, global) =>
    Object.freeze({
      domains: global.domains,
      output: global.output,
      colour: process.stdout.isTTY === true && global.format === 'text',
      selection: buildSelection(argv, global),
    }),
  libvirt: true,
  run: async (ctx, options) => (await import('../../status/run-status.js')).runStatus(ctx, options),
});
