/** The engine a name stands for: the run builds the forced one once, a domain under auto its chosen one. */
import type { AppContext } from '../../app/context.js';
import { PushEngine } from './push.js';
import type { BackupEngine, EngineName } from './types.js';
import { VirtnbdbackupEngine } from './virtnbdbackup.js';

/** The engine --engine (or auto's choice) names. */
export function createEngine(ctx: AppContext, name: EngineName): BackupEngine {
  return name === 'push' ? new PushEngine(ctx.virsh, ctx.qemuImg) : new VirtnbdbackupEngine(ctx.runner, ctx.env);
}
