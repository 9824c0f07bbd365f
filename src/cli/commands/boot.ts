import { join, resolve } from 'node:path';
import { DEFAULT_BOOT_ROOT } from '../../boot/boot-root.js';
import type { BootOptions } from '../../boot/run-boot.js';
import { usageError } from '../../errors.js';
import { parsePointSelector } from '../../points/points.js';
import { LOCK_WAIT, secondsToMs } from '../flag-values.js';
import { defineCommand } from './types.js';

function optionalString(argv: Record<string, unknown>, name: string): string | undefined {
  const v = argv[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw usageError(`--${name} needs a value`);
  return v;
}

export const bootCommand = defineCommand<BootOptions>({
  name: 'boot',
  describe: 'run a domain straight from a push-chain restore point on fresh overlays (--finish keeps it, --discard drops it)',
  builder: (y) =>
    y
      .option('domain', { type: 'string', describe: 'the domain whose backup to boot' })
      .option('at', { type: 'string', describe: 'restore point: <chain>/<checkpoint>, a checkpoint name, or latest (default)' })
      .option('at-time', { type: 'string', describe: 'the newest restore point at or before this ISO 8601 time' })
      .option('name', { type: 'string', describe: 'name of the new domain' })
      .option('dir', { type: 'string', describe: `empty or new folder (in an existing one) for the overlays (default ${DEFAULT_BOOT_ROOT}/NAME)` })
      .option('finish', { type: 'string', describe: 'NAME: copy the backup data into its overlays so it stands alone' })
      .option('discard', { type: 'string', describe: 'NAME: destroy and undefine it and remove its overlays' })
      .option('lock-wait', { ...LOCK_WAIT, describe: 'seconds to wait for another run to finish (default 0)' }),
  buildOptions: (argv, global) => {
    const finish = optionalString(argv, 'finish');
    const discard = optionalString(argv, 'discard');
    if (finish !== undefined && discard !== undefined) throw usageError('boot takes --finish NAME or --discard NAME, not both');
    if (finish !== undefined) return Object.freeze({ action: 'finish' as const, name: finish, lockWaitMs: secondsToMs(argv['lock-wait']) });
    if (discard !== undefined) return Object.freeze({ action: 'discard' as const, name: discard, lockWaitMs: secondsToMs(argv['lock-wait']) });
    if (!global.output) throw usageError('boot needs --output DIR (the backup folder)');
    const domain = optionalString(argv, 'domain');
    if (!domain) throw usageError('boot needs --domain NAME');
    const name = optionalString(argv, 'name');
    if (!name) throw usageError('boot needs --name NEW (the new domain)');
    if (name.includes('/')) throw usageError(`--name ${name} cannot hold '/'`);
    return Object.freeze({
      action: 'start' as const,
      domain,
      output: resolve(global.output),
      selector: parsePointSelector(optionalString(argv, 'at'), optionalString(argv, 'at-time')),
      name,
      dir: resolve(optionalString(argv, 'dir') ?? join(DEFAULT_BOOT_ROOT, name)),
      lockWaitMs: secondsToMs(argv['lock-wait']),
    });
  },
  run: async (ctx, options) => (await import('../../boot/run-boot.js')).runBoot(ctx, options),
});
