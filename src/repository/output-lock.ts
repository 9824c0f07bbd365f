/** The output folder's lock for commands that mostly read it (restore, verify). */
import { join } from 'node:path';
import type { AppContext } from '../app/context.js';
import { acquireLock, type HeldLock } from '../util/lock.js';

/**
 * Take the output folder's lock, shared, so no backup or prune changes a chain while it is read
 * (and readers do not wait for each other). A backup
 * folder mounted read-only cannot hold a lock file, and nothing can change it either: then go on
 * without the lock, and say so.
 */
export async function lockOutputForReading(ctx: AppContext, output: string, waitMs: number): Promise<HeldLock | undefined> {
  try {
    return await acquireLock(join(output, '.vmkeep.lock'), { waitMs, what: `output folder ${output}`, signal: ctx.signal, shared: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EROFS' && code !== 'EACCES' && code !== 'EPERM') throw e;
    ctx.log.warn(`cannot lock ${output} (${code}): reading it without the lock`);
    return undefined;
  }
}
