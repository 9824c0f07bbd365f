/**
 * Kernel-released locks (flock(2) through fs-ext): the lock dies with the process, so a
 * kill -9 never leaves a stale lock behind. The holder's pid is written into the lock file so
 * a refused run can name it.
 */
import { closeSync, constants, mkdirSync, openSync, readFileSync, ftruncateSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { VmkeepError } from '../errors.js';
import type { Env } from './env.js';

const require = createRequire(import.meta.url);
const fsExt = require('fs-ext') as { flockSync: (fd: number, flags: 'exnb' | 'shnb' | 'un') => void };

export interface HeldLock {
  path: string;
  release(): void;
}

export interface LockOptions {
  /** How long to keep trying before giving up (ms). 0 = one try. */
  waitMs: number;
  /** What the lock protects, for the message ("output folder /backup"). */
  what: string;
  signal?: AbortSignal;
  /**
   * A shared lock: any number of readers (restore to a folder, verify) hold it together, while
   * a writer (backup, prune) needs it alone. So a long restore never runs beside a backup that
   * changes the chain it reads, and two reads never wait for each other.
   */
  shared?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function isBusy(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

function holderPid(path: string): string {
  try {
    const pid = readFileSync(path, 'utf8').trim();
    return /^\d+$/.test(pid) ? pid : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Take a lock on `path` (exclusive unless `shared`), waiting up to `waitMs`; exit code 75 when it stays busy. */
export async function acquireLock(path: string, options: LockOptions): Promise<HeldLock> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, 'a+', 0o600);
  const deadline = Date.now() + options.waitMs;
  for (;;) {
    try {
      fsExt.flockSync(fd, options.shared ? 'shnb' : 'exnb');
      break;
    } catch (e) {
      if (!isBusy(e)) {
        closeSync(fd);
        throw e;
      }
      if (options.signal?.aborted) {
        closeSync(fd);
        throw new VmkeepError('interrupted', `interrupted while waiting for the lock on ${options.what} (held by pid ${holderPid(path)})`);
      }
      if (Date.now() >= deadline) {
        closeSync(fd);
        const waited = options.waitMs > 0 ? ` after waiting ${Math.round(options.waitMs / 1000)} s` : '';
        throw new VmkeepError('locked', `${options.what} is locked by another vmkeep run (pid ${holderPid(path)})${waited}; use --lock-wait SECONDS to wait`);
      }
      await sleep(Math.min(250, Math.max(10, deadline - Date.now())));
    }
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      try {
        fsExt.flockSync(fd, 'un');
      } finally {
        closeSync(fd);
      }
    },
  };
}

/**
 * The pid holding the lock at `path` right now, or undefined when nobody does. Creates and
 * writes nothing (for --dry-run, which takes no locks but must not plan over a run in progress).
 */
export function lockHolder(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch {
    return undefined; // no lock file: no run ever held it here
  }
  try {
    fsExt.flockSync(fd, 'exnb');
    fsExt.flockSync(fd, 'un');
    return undefined;
  } catch (e) {
    if (isBusy(e)) return holderPid(path);
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** Lock folder for per-domain locks (shared by every output folder). */
export function domainLockDir(env: Env): string {
  return env['VMKEEP_LOCK_DIR'] ?? '/run/lock/vmkeep';
}

/** The output folder's lock file, inside it. */
export function outputLockFile(output: string): string {
  return join(output, '.vmkeep.lock');
}

/** A file name for a domain's lock that is safe whatever the domain is called. */
export function domainLockFile(dir: string, domain: string): string {
  return `${dir}/${fitFileName(`domain-${encodeURIComponent(domain)}`, '.lock')}`;
}

/** A file that goes with a domain's lock (`.frozen`, `.children`, `.failure.json`), in its folder. */
export function besideDomainLock(domainLock: string, suffix: string): string {
  return `${dirname(domainLock)}/${fitFileName(basename(domainLock).replace(/\.lock$/, ''), suffix)}`;
}

/**
 * `base + suffix`, or when that is longer than a file name may be (255 bytes; a domain name may
 * be longer, and it is percent-encoded here), the start of `base`, a hash of all of it, and the
 * suffix: still one name per domain.
 */
function fitFileName(base: string, suffix: string): string {
  const max = 255;
  if (Buffer.byteLength(base + suffix) <= max) return base + suffix;
  const hash = createHash('sha256').update(base).digest('hex').slice(0, 16);
  return `${base.slice(0, max - suffix.length - hash.length - 1)}-${hash}${suffix}`;
}
