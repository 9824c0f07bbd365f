/** Locks on real files in a temp folder: flock is per open file, so one process can test both sides. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, domainLockFile, lockHolder } from '../../../src/util/lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmkeep-lock-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('locks', () => {
  it('a second taker is refused with the holder pid and exit code 75', async () => {
    const path = join(dir, '.vmkeep.lock');
    const held = await acquireLock(path, { waitMs: 0, what: 'output folder /backup' });
    await expect(acquireLock(path, { waitMs: 0, what: 'output folder /backup' })).rejects.toMatchObject({
      code: 'locked',
      message: `output folder /backup is locked by another vmkeep run (pid ${process.pid}); use --lock-wait SECONDS to wait`,
    });
    held.release();
    (await acquireLock(path, { waitMs: 0, what: 'x' })).release();
  });

  it('readers share the lock; a writer waits for all of them, and readers wait for a writer', async () => {
    const path = join(dir, '.vmkeep.lock');
    const reader1 = await acquireLock(path, { waitMs: 0, what: 'out', shared: true });
    const reader2 = await acquireLock(path, { waitMs: 0, what: 'out', shared: true });
    await expect(acquireLock(path, { waitMs: 0, what: 'out' })).rejects.toMatchObject({ code: 'locked' });
    reader1.release();
    await expect(acquireLock(path, { waitMs: 0, what: 'out' })).rejects.toMatchObject({ code: 'locked' });
    reader2.release();
    const writer = await acquireLock(path, { waitMs: 0, what: 'out' });
    await expect(acquireLock(path, { waitMs: 0, what: 'out', shared: true })).rejects.toMatchObject({ code: 'locked' });
    writer.release();
  });

  it('an interrupted wait ends as an interruption, not as a busy lock', async () => {
    const path = join(dir, '.vmkeep.lock');
    const held = await acquireLock(path, { waitMs: 0, what: 'x' });
    const abort = new AbortController();
    const waiting = acquireLock(path, { waitMs: 60_000, what: 'output folder /backup', signal: abort.signal });
    abort.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'interrupted' });
    held.release();
  });

  it('lockHolder names the holder and creates nothing', async () => {
    const path = join(dir, '.vmkeep.lock');
    expect(lockHolder(path)).toBeUndefined();
    expect(existsSync(path)).toBe(false);
    const held = await acquireLock(path, { waitMs: 0, what: 'x' });
    expect(lockHolder(path)).toBe(String(process.pid));
    held.release();
    expect(lockHolder(path)).toBeUndefined();
  });

  it('domain lock files are safe for any domain name', () => {
    expect(domainLockFile('/run/lock/vmkeep', `web 1/$(x);'`)).toBe("/run/lock/vmkeep/domain-web%201%2F%24(x)%3B'.lock");
  });
});

describe('file names that go with a domain lock', () => {
  it('stay as they were for ordinary names, and fit in 255 bytes for a 243-character name, one per domain', async () => {
    const { besideDomainLock, domainLockFile } = await import('../../../src/util/lock.js');
    expect(domainLockFile('/run/lock/vmkeep', 'web 1')).toBe('/run/lock/vmkeep/domain-web%201.lock');
    expect(besideDomainLock('/run/lock/vmkeep/domain-web%201.lock', '.frozen')).toBe('/run/lock/vmkeep/domain-web%201.frozen');
    const long = `vmkeep-test-${'n'.repeat(231)}`;
    const other = `${long.slice(0, -1)}m`;
    for (const suffix of ['.frozen', '.children', '.failure.json']) {
      const a = besideDomainLock(domainLockFile('/d', long), suffix);
      const b = besideDomainLock(domainLockFile('/d', other), suffix);
      expect(Buffer.byteLength(a.slice(3))).toBeLessThanOrEqual(255);
      expect(a.endsWith(suffix)).toBe(true);
      expect(a).not.toBe(b);
    }
    expect(Buffer.byteLength(domainLockFile('/d', `${long}${'é'.repeat(40)}`).slice(3))).toBeLessThanOrEqual(255);
  });
});
