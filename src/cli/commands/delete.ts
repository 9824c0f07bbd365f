import { usageError } from '../../errors.js';
import type { DeleteOptions } from '../../delete/run-delete.js';
import { LOCK_WAIT, secondsToMs } from '../flag-values.js';
import { defineCommand } from './types.js';

/** A repeatable string option as a list (absent: empty). */
function stringList(value: unknown, flag: string): string[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => {
    if (typeof v !== 'string' || v === '') throw usageError(`${flag} needs a value`);
    return v;
  });
}

export const deleteCommand = defineCommand<DeleteOptions>({
  name: 'delete',
  describe:
    'delete chosen restore points of a domain: an inner point is merged into its child, the newest goes with its libvirt checkpoint, --chain removes a whole chain (--dry-run shows what would happen)',
  builder: (y) =>
    y
      .option('domain', { type: 'string', describe: 'the domain whose points they are' })
      .option('at', { type: 'string', array: true, describe: 'a point to delete: FOLDER/CHECKPOINT (see vmkeep list); repeatable' })
      .option('chain', { type: 'string', array: true, describe: 'a chain folder to delete whole; repeatable' })
      .option('dry-run', { alias: 'dryrun', type: 'boolean', default: false, describe: 'print what would be deleted; change nothing' })
      .option('lock-wait', { ...LOCK_WAIT, describe: 'seconds to wait for another run to finish (default 0)' }),
  buildOptions: (argv, global) => {
    if (!global.output) throw usageError('delete needs --output DIR');
    const domain = argv['domain'] ?? (global.domains?.length === 1 && !global.domains[0]!.includes(',') ? global.domains[0] : undefined);
    if (typeof domain !== 'string' || domain === '') throw usageError('name the domain with --domain NAME');
    const at = stringList(argv['at'], '--at');
    const chains = stringList(argv['chain'], '--chain');
    if (at.length === 0 && chains.length === 0) throw usageError('name what to delete: --at FOLDER/CHECKPOINT (see vmkeep list) or --chain FOLDER');
    return Object.freeze({
      output: global.output,
      domain,
      at,
      chains,
      dryRun: argv['dry-run'] === true,
      lockWaitMs: secondsToMs(argv['lock-wait']),
    });
  },
  run: async (ctx, options) => (await import('../../delete/run-delete.js')).runDelete(ctx, options),
});
