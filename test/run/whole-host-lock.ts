/**
 * Setup file of the project integration-alone: each of its files holds the whole-host lock from
 * before its first hook to after its last, so two of them never run at once (one restarts
 * libvirtd; another counts on its own next command to find what a killed run left), while unit
 * files, which never touch libvirt, run beside them.
 */
import { afterAll, beforeAll } from 'vitest';
import { acquireLock, type HeldLock } from '../../src/util/lock.js';

const LOCK_FILE = '/run/vmkeep-tests/whole-host.lock';
/** The other whole-host files take about 3 minutes each: wait up to 20. */
const WAIT_MS = 20 * 60_000;

let held: HeldLock | undefined;

beforeAll(async () => {
  held = await acquireLock(LOCK_FILE, { waitMs: WAIT_MS, what: 'the whole-host test lock' });
}, WAIT_MS + 10_000);

afterAll(() => {
  held?.release();
  held = undefined;
});
