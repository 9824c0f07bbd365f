import { resolve } from 'node:path';
import { usageError } from '../../errors.js';
import { mountStateDir } from '../../mount/state-dir.js';
import type { MountOptions } from '../../mount/run-mount.js';
import { parsePointSelector } from '../../points/points.js';
import { LOCK_WAIT, secondsToMs, wholeNumberFlag } from '../flag-values.js';
import { defineCommand } from './types.js';

function optionalString(argv: Record<string, unknown>, name: string): string | undefined {
  const v = argv[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw usageError(`--${name} needs a value`);
  return v;
}

function mountpointArg(argv: Record<string, unknown>, command: string): string {
  const mp = argv['mountpoint'];
  if (typeof mp !== 'string' || mp.trim() === '') throw usageError(`${command} needs a MOUNTPOINT (a folder)`);
  return resolve(mp);
}

export const mountCommand = defineCommand<MountOptions>({
  name: 'mount <mountpoint>',
  describe: "mount a restore point's disk read-only on MOUNTPOINT (qemu-storage-daemon FUSE export + loop mount)",
  builder: (y) =>
    y
      .option('domain', { type: 'string', describe: 'the domain whose backup to mount' })
      .option('at', { type: 'string', describe: 'restore point: <chain>/<checkpoint>, a checkpoint name, or latest (default)' })
      .option('at-time', { type: 'string', describe: 'the newest restore point at or before this ISO 8601 time' })
      .option('disk', { type: 'string', describe: 'disk target (default: the first disk)' })
      .option('partition', {
        ...wholeNumberFlag('partition', 1, 128),
        describe: 'mount partition N of the disk (default: the whole disk holds the filesystem)',
      })
      .option('all-disks', {
        type: 'boolean',
        describe: "mount every disk's filesystems, each on MOUNTPOINT/<disk> or MOUNTPOINT/<disk>-<partition> (as Snaptastic's mount-snapshots)",
      })
      .option('lock-wait', { ...LOCK_WAIT, describe: 'seconds to wait for another run to finish (default 0)' }),
  buildOptions: (argv, global) => {
    if (!global.output) throw usageError('mount needs --output DIR (the backup folder)');
    const domain = optionalString(argv, 'domain');
    if (!domain) throw usageError('mount needs --domain NAME');
    const partition = argv['partition'] as number | undefined;
    const disk = optionalString(argv, 'disk');
    const allDisks = argv['all-disks'] === true;
    if (allDisks && (disk !== undefined || partition !== undefined))
      throw usageError(`--all-disks mounts every disk and partition: drop ${disk !== undefined ? '--disk' : '--partition'}, or drop --all-disks to mount one`);
    return Object.freeze({
      action: 'mount' as const,
      domain,
      output: resolve(global.output),
      selector: parsePointSelector(optionalString(argv, 'at'), optionalString(argv, 'at-time')),
      mountpoint: mountpointArg(argv, 'mount'),
      disks: allDisks ? ({ kind: 'all' } as const) : ({ kind: 'one', disk, partition } as const),
      stateDir: mountStateDir(global.env),
      lockWaitMs: secondsToMs(argv['lock-wait']),
    });
  },
  run: async (ctx, options) => (await import('../../mount/run-mount.js')).runMount(ctx, options),
});

export const umountCommand = defineCommand<MountOptions>({
  name: 'umount <mountpoint>',
  describe: 'undo vmkeep mount: unmount, detach the loop device, end the export (also cleans up after a crash)',
  builder: (y) => y,
  buildOptions: (argv, global) => Object.freeze({ action: 'umount' as const, mountpoint: mountpointArg(argv, 'umount'), stateDir: mountStateDir(global.env) }),
  run: async (ctx, options) => (await import('../../mount/run-mount.js')).runMount(ctx, options),
});
