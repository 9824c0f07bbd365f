/**
 * withLocks on real lock files (flock(2)) in a temporary folder: two holders in one process
 * hold separate open files, so they exclude each other as two vmkeep runs do.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppContext } from '../../../src/app/context.js';
import { VmkeepError } from '../../../src/errors.js';
import { withLocks, type LockRequest } from '../../../src/repository/locks.js';
import { lockHolder } from '../../../src/util/lock.js';
import { fakeContext } from '../../helpers/fake-context.js';

let dir: string;
let ctx: AppContext;
let output: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmkeep-locks-'));
  output = join(dir, 'backup');
  ctx = fakeContext({ VMKEEP_LOCK_DIR: join(dir, 'locks') });
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Run `inner` while `outer` holds its locks; the outcome of `inner` (its value or its error). */
async function whileHeld(outer: LockRequest, inner: LockRequest): Promise<{ value?: string; error?: VmkeepError }> {
  return withLocks(ctx, outer, async () =>
    withLocks(ctx, inner, async () => 'took them').then(
      (value) => ({ value }),
      (error: unknown) => ({ error: error as VmkeepError }),
    ),
  );
}

const write = (o: Partial<LockRequest> = {}): LockRequest => ({ output, mode: 'write', waitMs: 0, ...o });
const read = (o: Partial<LockRequest> = {}): LockRequest => ({ output, mode: 'read', waitMs: 0, ...o });

describe('withLocks: the lock files', () => {
  it('takes the output folder lock, then the domains sorted, where the lock service puts them', async () => {
    const files = await withLocks(ctx, write({ domains: ['web', 'db', 'app'] }), async (held) => held.files);
    const lockDir = join(dir, 'locks');
    expect(files).toEqual([join(output, '.vmkeep.lock'), join(lockDir, 'domain-app.lock'), join(lockDir, 'domain-db.lock'), join(lockDir, 'domain-web.lock')]);
    // The holder's pid is in the file, so a refused run can name it.
    expect(readFileSync(files[0]!, 'utf8')).toBe(`${process.pid}\n`);
  });

  it('none and check take no lock and create no lock file', async () => {
    expect(await withLocks(ctx, write({ domains: ['web'], mode: 'none' }), async (held) => held.files)).toEqual([]);
    expect(await withLocks(ctx, write({ domains: ['web'], mode: 'check' }), async (held) => held.files)).toEqual([]);
    expect(existsSync(output)).toBe(false);
    expect(existsSync(join(dir, 'locks'))).toBe(false);
  });
});

describe('withLocks: two holders', () => {
  it('two writers of one output folder: the second is refused (locked, exit 75), naming the holder', async () => {
    const { error } = await whileHeld(write(), write());
    expect(error).toBeInstanceOf(VmkeepError);
    expect(error!.code).toBe('locked');
    expect(error!.message).toBe(`output folder ${output} is locked by another vmkeep run (pid ${process.pid}); use --lock-wait SECONDS to wait`);
  });

  it('two readers of one output folder hold it together', async () => {
    expect(await whileHeld(read(), read())).toEqual({ value: 'took them' });
  });

  it('a reader keeps a writer out, and a writer keeps a reader out', async () => {
    expect((await whileHeld(read(), write())).error?.code).toBe('locked');
    expect((await whileHeld(write(), read())).error?.code).toBe('locked');
  });

  it('domain locks are exclusive in every mode, also under two readers of the output folder', async () => {
    const { error } = await whileHeld(read({ domains: ['web'] }), read({ domains: ['web'] }));
    expect(error?.message).toBe(`domain web is locked by another vmkeep run (pid ${process.pid}); use --lock-wait SECONDS to wait`);
    expect(await whileHeld(write({ output: undefined, domains: ['web'] }), write({ output: undefined, domains: ['db'] }))).toEqual({ value: 'took them' });
  });

  it('a refused run holds nothing afterwards: the locks it took before the busy one are released', async () => {
    const webLock = join(dir, 'locks', 'domain-web.lock');
    const outputLock = join(output, '.vmkeep.lock');
    const seen = await withLocks(ctx, write({ output: undefined, domains: ['web'] }), async () => {
      // The output folder's lock is taken first, then the domain is busy: the output's must not stay held.
      const refused = await withLocks(ctx, write({ domains: ['web'] }), async () => 'took them').catch((e: unknown) => (e as VmkeepError).code);
      return { refused, output: lockHolder(outputLock), web: lockHolder(webLock) };
    });
    expect(seen).toEqual({ refused: 'locked', output: undefined, web: String(process.pid) });
  });

  it('check refuses while another run holds a lock, with the reason given', async () => {
    const { error } = await whileHeld(
      write({ domains: ['web'] }),
      write({ output: undefined, domains: ['web'], mode: 'check', why: 'no plan while it works' }),
    );
    expect(error?.code).toBe('locked');
    expect(error?.message).toBe(`domain web is locked by another vmkeep run (pid ${process.pid}): no plan while it works`);
  });

  it('a waiting run gets the lock once the holder lets go', async () => {
    let release!: () => void;
    const holding = new Promise<void>((r) => (release = r));
    let taken!: () => void;
    const isTaken = new Promise<void>((r) => (taken = r));
    const first = withLocks(ctx, write(), async () => {
      taken();
      await holding;
    });
    await isTaken;
    const second = withLocks(ctx, write({ waitMs: 600_000 }), async () => 'second ran');
    release();
    await first;
    expect(await second).toBe('second ran');
  });
});

describe('withLocks: release on every path', () => {
  it('releases when the work throws, and passes the error on', async () => {
    const boom = new Error('the work failed');
    await expect(withLocks(ctx, write({ domains: ['web'] }), async () => Promise.reject(boom))).rejects.toBe(boom);
    expect(lockHolder(join(output, '.vmkeep.lock'))).toBeUndefined();
    expect(lockHolder(join(dir, 'locks', 'domain-web.lock'))).toBeUndefined();
    expect(await withLocks(ctx, write({ domains: ['web'] }), async () => 'again')).toBe('again');
  });

  it('releases when the work returns', async () => {
    expect(await withLocks(ctx, write({ domains: ['web'] }), async () => 42)).toBe(42);
    expect(lockHolder(join(output, '.vmkeep.lock'))).toBeUndefined();
    expect(lockHolder(join(dir, 'locks', 'domain-web.lock'))).toBeUndefined();
  });
});
