/** Every CLI command, in the order --help lists them. */
import type { CommandSpec } from './types.js';
import { backupCommand } from './backup.js';
import { bootCommand } from './boot.js';
import { mountCommand, umountCommand } from './mount.js';
import { listCommand } from './list.js';
import { restoreCommand } from './restore.js';
import { verifyCommand } from './verify.js';
import { protectCommand, pruneCommand, unprotectCommand } from './prune.js';
import { deleteCommand } from './delete.js';
import { scrubCommand } from './scrub.js';
import { statusCommand } from './status.js';
import { checkCommand } from './check.js';
import { replicateCommand } from './replicate.js';
import { completionCommand } from './completion.js';
import { configCommand } from './config.js';
import { tagCommand } from './tag.js';
import { reportCommand } from './report.js';

export const COMMAND_SPECS: readonly CommandSpec<unknown>[] = [
  statusCommand,
  backupCommand,
  scrubCommand,
  pruneCommand,
  protectCommand,
  unprotectCommand,
  deleteCommand,
  listCommand,
  restoreCommand,
  verifyCommand,
  bootCommand,
  mountCommand,
  umountCommand,
  checkCommand,
  reportCommand,
  completionCommand,
  tagCommand,
  configCommand,
  replicateCommand,
];
