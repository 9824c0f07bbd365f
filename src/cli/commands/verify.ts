import { resolve } from 'node:path';
import { usageError } from '../../errors.js';
import { runVerify, type VerifyOptions } from '../../verify/run-verify.js';
import { parseLockWait } from '../parse-values.js';
import { defineCommand } from './types.js';

export const verifyCommand = defineCommand<VerifyOptions>({
  name: 'verify',
  describe: 'check every chain (files, checksums, stream structure, checkpoint links); --deep also restores and checks images',
  builder: (y) =>
    y
      .option('deep', { type: 'boolean', default: false, describe: 'restore the newest point of each chain into a scratch folder and qemu-img check it' })
      .option('all-points', { type: 'boolean', default: false, describe: 'with --deep: restore and check every point (implies --deep)' })
      .option('scratch-dir', { type: 'string', default: '/var/tmp', describe: 'where --deep restores (a private folder inside, removed afterwards)' })
      .option('adopt', { type: 'boolean', default: false, describe: 'VMSnap chains: restore and check every point, then record sha256 checksums in a new manifest (implies --all-points)' })
      .option('lock-wait', { type: 'string', default: '0', describe: 'seconds to wait for another run to finish' }),
  buildOptions: (argv, global) => {
    if (!global.output) throw usageError('verify needs --output DIR');
    const scratch = argv['scratch-dir'];
    if (typeof scratch !== 'string' || scratch.trim() === '') throw usageError('--scratch-dir needs a folder');
    const adopt = argv['adopt'] === true;
    const allPoints = argv['all-points'] === true || adopt;
    return Object.freeze({
      output: resolve(global.output),
      domains: global.domains,
      deep: argv['deep'] === true || allPoints,
      allPoints,
      scratchDir: resolve(scratch),
      lockWaitMs: parseLockWait(argv['lock-wait']),
      adopt,
    });
  },
  run: (ctx, options) => runVerify(ctx, options),
});
