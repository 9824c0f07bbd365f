/**
 * The one way a command takes its locks: the output folder's, then the domains', always in that
 * order and the domains sorted, so two runs that want the same locks never hold one each and wait
 * for the other. Every lock is released when the work ends, however it ends.
 */
import type { AppContext } from '../app/context.js';
import { VmkeepError } from '../errors.js';
import { acquireLock, lockHolder, type HeldLock } from '../util/lock.js';

/**
 * - write: the output folder's lock alone (backup, prune, delete, protect, replicate);
 * - read: the output folder's lock shared with other readers (restore, verify, boot, mount), and
 *   no lock at all on a folder that cannot hold one (read-only), which nothing can change either;
 * - check: take nothing, but refuse while another run holds a lock (a dry run that must not plan
 *   over a run in progress);
 * - none: take nothing (a dry run that only reads).
 * Domain locks are always exclusive: whoever holds one is changing that domain.
 */
export type LockMode = 'write' | 'read' | 'check' | 'none';

export interface LockRequest {
  /** The output folder(s) whose lock to take; none for a command that does not touch one. */
  output?: string | readonly string[] | undefined;
  /** The domains whose locks to take. */
  domains?: readonly string[] | undefined;
  mode: LockMode;
  /** How long to wait for a busy lock (ms; --lock-wait); 0 = refuse at once. */
  waitMs: number;
  /** For `check`: why a held lock stops this run (the end of the refusal message). */
  why?: string;
}

/** What `fn` is told: the locks it holds (none in `check` and `none` modes, or on a read-only folder). */
export interface HeldLocks {
  readonly files: readonly string[];
}

/** Take the locks `request` names, run `fn`, release them (in reverse order) on every path. */
export async function withLocks<T>(ctx: AppContext, request: LockRequest, fn: (held: HeldLocks) => Promise<T>): Promise<T> {
  const outputs = request.output === undefined ? [] : typeof request.output === 'string' ? [request.output] : [...new Set(request.output)].sort();
  const domains = [...new Set(request.domains ?? [])].sort();
  const wanted = [
    ...outputs.map((o) => ({ file: ctx.locks.outputLockFile(o), what: `output folder ${o}`, output: o })),
    ...domains.map((d) => ({ file: ctx.locks.domainLockFile(d), what: `domain ${d}`, output: undefined })),
  ];
  if (request.mode === 'none') return fn({ files: [] });
  if (request.mode === 'check') {
    for (const w of wanted) {
      const holder = lockHolder(w.file);
      if (holder) throw new VmkeepError('locked', `${w.what} is locked by another vmkeep run (pid ${holder})${request.why ? `: ${request.why}` : ''}`);
    }
    return fn({ files: [] });
  }
  const held: HeldLock[] = [];
  try {
    for (const w of wanted) {
      const options = { waitMs: request.waitMs, what: w.what, signal: ctx.signal };
      if (w.output !== undefined && request.mode === 'read') {
        const lock = await lockOutputForReading(ctx, w.output, w.file, options);
        if (lock) held.push(lock);
      } else {
        held.push(await acquireLock(w.file, options));
      }
    }
    return await fn({ files: held.map((l) => l.path) });
  } finally {
    for (const l of held.reverse()) l.release();
  }
}

/**
 * The output folder's lock, shared, so no backup or prune changes a chain while it is read (and
 * readers do not wait for each other). A backup folder mounted read-only cannot hold a lock
 * file, and nothing can change it either: then go on without the lock, and say so.
 */
async function lockOutputForReading(
  ctx: AppContext,
  output: string,
  file: string,
  options: { waitMs: number; what: string; signal: AbortSignal },
): Promise<HeldLock | undefined> {
  try {
    return await acquireLock(file, { ...options, shared: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EROFS' && code !== 'EACCES' && code !== 'EPERM') throw e;
    ctx.log.warn(`cannot lock ${output} (${code}): reading it without the lock`);
    return undefined;
  }
}
