/**
 * The booting test guest itself: it boots from its own disk under libvirt, says so on the serial
 * console, answers the guest agent, keeps writing its journal, and a crash-consistent copy of its
 * disk holds a whole journal once the ext4 journal is replayed. Other tests rely on all of this.
 * One guest for the whole file: under TCG each boot costs a core for several seconds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootTestGuest,
  checkJournal,
  copyGuestDisk,
  GUEST_READY_MARKER,
  guestExec,
  guestJournalLines,
  guestPing,
  readJournalFromImage,
  readSerialLog,
  type TestGuest,
  waitForJournalGrowth,
} from '../helpers/guest.js';
import { cleanupAll, domainState, virsh } from '../helpers/libvirt.js';

describe('booting test guest', () => {
  let guest: TestGuest;

  beforeAll(async () => {
    guest = await bootTestGuest({ label: 'guest-self' });
  }, 300_000);

  afterAll(async () => {
    await cleanupAll();
  });

  it('boots its own kernel from its disk and prints the ready marker on the serial console', async () => {
    const log = readSerialLog(guest);
    expect(log).toContain('Linux version 6.');
    expect(log).toContain(GUEST_READY_MARKER);
    expect(await domainState(guest)).toBe('running');
  });

  it('answers the guest agent and runs programs through guest-exec', async () => {
    expect(await guestPing(guest)).toBe(true);
    const mounts = await guestExec(guest, '/bin/cat', ['/proc/mounts']);
    expect(mounts.exitCode).toBe(0);
    expect(mounts.stdout).toMatch(/^\/dev\/vda1 \/data ext4 rw/m);
    const failing = await guestExec(guest, '/bin/sh', ['-c', 'exit 3']);
    expect(failing.exitCode).toBe(3);
    // libvirt's own view of the guest's filesystems comes from the agent too.
    expect(await virsh(['domfsinfo', guest.uuid])).toMatch(/\/data\s+vda1\s+ext4/);
  });

  it('keeps appending to its journal', async () => {
    const before = await guestJournalLines(guest);
    const after = await waitForJournalGrowth(guest, before + 3);
    expect(after).toBeGreaterThan(before + 3);
  });

  it('a crash-consistent copy of its disk holds a whole journal after replay', async () => {
    const copy = path.join(guest.dir, 'copy.qcow2');
    await copyGuestDisk(guest, copy);
    const liveAfterCopy = await guestJournalLines(guest);
    const journal = await readJournalFromImage(copy);
    const check = checkJournal(journal.text);
    expect(check.errors).toEqual([]);
    expect(check.tornLastLine).toBe(false);
    expect(check.lines).toBeGreaterThan(3);
    expect(check.lines).toBeLessThanOrEqual(liveAfterCopy);
    expect(journal.fsckClean, journal.fsckOutput).toBe(true);
    fs.rmSync(copy);

    // The check is one that can fail: a flipped character, a dropped line and a torn end are seen.
    const flipped = journal.text.replace(/payload-2-a/, 'payload-2-b');
    expect(checkJournal(flipped).errors).toEqual([expect.stringMatching(/^line 2: checksum mismatch/)]);
    const dropped = journal.text
      .split('\n')
      .filter((_, i) => i !== 1)
      .join('\n');
    expect(checkJournal(dropped).errors[0]).toMatch(/^line 2: numbered 3/);
    expect(checkJournal(journal.text.slice(0, -5)).tornLastLine).toBe(true);
  });

  it('powers off when asked through the agent (its /sbin/shutdown wrapper)', async () => {
    await virsh(['shutdown', guest.uuid, '--mode', 'agent']);
    const deadline = Date.now() + 60_000;
    while ((await domainState(guest)) !== 'shut off') {
      if (Date.now() > deadline) throw new Error(`guest still ${await domainState(guest)} 60 s after an agent shutdown`);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await domainState(guest)).toBe('shut off');
  });
});
