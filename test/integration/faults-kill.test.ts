/**
 * Fault suite (slow): kill -9 of the whole vmkeep process group (vmkeep and virtnbdbackup) at 20
 * seeded moments across fulls and incrementals, 5 of them inside virtnbdbackup's data phase (a
 * `.partial` file growing), then SIGTERM and SIGINT mid-copy. After each fault the next backup
 * runs unaided and must succeed; then `verify` passes, every recorded point restores
 * byte-identically to the reference copy taken when it was made, and nothing vmkeep made is left.
 *
 * A fault inside the data phase must come while data is still to be read. virtnbdbackup reads a
 * run of data in NBD requests of up to 32 MiB and writes each when it completes, so its .partial
 * file only grows request by request: the data for such a fault is several runs of 4 MiB (an
 * incremental reads each in one request), the disk is written whole first (a full reads it in
 * four requests of 32 MiB), and QEMU reads the disk at a set pace meanwhile (withPacedDiskReads).
 * The fault then comes after the first request, seconds before the last, and the test checks the
 * .partial file seen then was short of the data.
 *
 * VMKEEP_FAULT_SEED changes the moments (default 13); the seed is printed with each moment.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { PointBook, expectNothingLeft, expectVerifyPasses, seededRandom } from '../helpers/fault-checks.js';
import { cleanupAll, createTestDomain, referenceCopy, withPacedDiskReads, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { startVmkeep, waitForPartial, type FinishedRun, type RunningVmkeep } from '../helpers/vmkeep-process.js';

const SEED = Number(process.env['VMKEEP_FAULT_SEED'] ?? 13);
const DISK_MIB = 128;
let lockDir: string;
let dom: TestDomain;
let out: string;
let book: PointBook;
const deadPids: number[] = [];

beforeAll(async () => {
  lockDir = makeLockDir();
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: DISK_MIB }], start: true });
  out = path.join(dom.dir, 'out');
  book = new PointBook(dom, out);
  // All of it allocated: every full reads the whole disk, in four requests (see above).
  await writeGuestData(dom, 'vda', { pattern: 0x11, offset: 0, length: DISK_MIB * MiB });
});
afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

/** A month per full: VMKEEP_NOW in a new month starts a new chain. */
const monthOf = (n: number) => `2026-${String(1 + (n % 12)).padStart(2, '0')}-15T12:00:00Z`;
const envFor = (now: string) => ({ VMKEEP_LOCK_DIR: lockDir, VMKEEP_NOW: now });
const args = () => ['backup', '--domains', dom.name, '--output', out, '--json'];

interface Moment {
  n: number;
  level: 'full' | 'inc';
  /** 'data': once the .partial file has `bytes`; 'time': `ms` after the start. */
  at: { kind: 'data'; bytes: number } | { kind: 'time'; ms: number };
}

/** 20 moments: every 4th run is a full (new month), 5 kills inside the data phase. */
function planMoments(): Moment[] {
  const rnd = seededRandom(SEED);
  const dataSlots = new Set<number>();
  while (dataSlots.size < 5) dataSlots.add(Math.floor(rnd() * 20));
  return Array.from({ length: 20 }, (_, n) => ({
    n,
    level: n % 4 === 0 ? 'full' : 'inc',
    // virtnbdbackup sleeps about 1.1 s before it connects: moments up to 1.6 s land before,
    // around and after that (lock, domain reading, repairs, the engine's start).
    at: dataSlots.has(n) ? { kind: 'data', bytes: Math.round((64 + rnd() * 960) * 1024) } : { kind: 'time', ms: Math.round(rnd() * 1600) },
  }));
}

async function writeSome(n: number, rnd: () => number, mib: number): Promise<void> {
  const offset = Math.floor(rnd() * (DISK_MIB - mib)) * MiB;
  await writeGuestData(dom, 'vda', { pattern: (0x20 + n) & 0xff, offset, length: mib * MiB });
}

/**
 * `pieces` runs of 4 MiB of `pattern` from `offset`, 1 MiB apart: an incremental reads each in
 * an NBD request of its own, and a fault after the first has the others still to come. Returns
 * the bytes written.
 */
async function writePieces(pattern: number, offset: number, pieces: number): Promise<number> {
  for (let i = 0; i < pieces; i++) await writeGuestData(dom, 'vda', { pattern, offset: offset + i * 5 * MiB, length: 4 * MiB });
  return pieces * 4 * MiB;
}

/** After a fault: a reference of the disk now, the next run unaided, then every check. */
async function recoverAndCheck(now: string, what: string): Promise<void> {
  const ref = path.join(dom.dir, `ref-${book.size}-${Date.now()}.qcow2`);
  await referenceCopy(dom, 'vda', ref);
  const next = expectDocument(await backupCli(args().slice(1), { lockDir, now }));
  expect(next.results, what).toMatchObject([{ result: 'done' }]);
  await expectNothingLeft(dom, out, 'running', deadPids);
  await expectVerifyPasses(out, { VMKEEP_LOCK_DIR: lockDir });
  const fresh = await book.checkNewPoints(ref);
  expect(fresh.length, what).toBeGreaterThanOrEqual(1);
}

/**
 * How fast QEMU may read the disk while a run to be faulted in its data phase copies: a request
 * of 4 MiB takes a second, one of 32 MiB eight. Without a limit, with KVM, virtnbdbackup copied
 * the data of such a run (24 MiB in one request, as it was written then) in about a tenth of a
 * second, and its .partial file was past the mark only between the last write and its rename: a
 * loaded test process missed that, or killed a run that had read all its data.
 */
const COPY_BYTES_PER_SEC = 4 * MiB;

/**
 * Start a backup while QEMU reads the disk at COPY_BYTES_PER_SEC, `act` on it once a new
 * `.partial` file has `minBytes` (the run is copying), and return how it ended and the size of
 * that file just before the act (Infinity when it was already renamed). A run that ends before
 * fails the test. The pace holds until the run has ended, so a signal's cleanup also meets a
 * copy still under way.
 */
async function faultWhileCopying(now: string, minBytes: number, act: (run: RunningVmkeep) => void): Promise<{ result: FinishedRun; seen: number }> {
  return withPacedDiskReads(dom, COPY_BYTES_PER_SEC, async () => {
    const run = startVmkeep(args(), { env: envFor(now) });
    deadPids.push(run.pid);
    const partial = await waitForPartial(out, minBytes, run);
    const seen = fs.statSync(partial, { throwIfNoEntry: false })?.size ?? Infinity;
    act(run);
    return { result: await run.finished, seen };
  });
}

/** Start a backup and kill its process group at moment `m`; true when the kill landed. */
async function runMoment(m: Moment, now: string, rnd: () => number, what: string): Promise<boolean> {
  if (m.at.kind === 'data') {
    // More data where the kill must land while the run copies: a full reads the whole disk.
    const offset = Math.floor(rnd() * (DISK_MIB - 29)) * MiB;
    const written = await writePieces((0x20 + m.n) & 0xff, offset, 6);
    const { result, seen } = await faultWhileCopying(now, m.at.bytes, (run) => run.killGroup());
    expect(result.signal, `${what}: ${result.stderr}`).toBe('SIGKILL');
    expect(seen, `${what}: the kill came after the run had read its data`).toBeLessThan(m.level === 'full' ? DISK_MIB * MiB : written);
    return true;
  }
  await writeSome(m.n, rnd, 2 + Math.floor(rnd() * 4));
  const run = startVmkeep(args(), { env: envFor(now) });
  deadPids.push(run.pid);
  const ms = m.at.ms;
  await Promise.race([new Promise((r) => setTimeout(r, ms)), run.finished]);
  // A time moment may fall after a quick run ended: then nothing is killed.
  let ended: FinishedRun | undefined;
  void run.finished.then((r) => (ended = r));
  await new Promise((r) => setImmediate(r));
  const killed = !ended;
  if (killed) run.killGroup();
  const result = await run.finished;
  expect(result.signal === 'SIGKILL' || result.code === 0, `${what}: ${result.stderr}`).toBe(true);
  return killed;
}

describe('slow faults: kill -9 at seeded moments', () => {
  it(`20 moments (seed ${SEED}), 5 inside the data phase: every fault recovers unaided, nothing lost`, async () => {
    const rnd = seededRandom(SEED * 7919);
    const moments = planMoments();
    expect(moments.filter((m) => m.at.kind === 'data')).toHaveLength(5);
    let month = 0;
    let killedInData = 0;
    let killedAtAll = 0;
    for (const m of moments) {
      if (m.level === 'full') month += 1;
      const now = monthOf(month);
      const what = `moment ${m.n} (seed ${SEED}): ${m.level}, ${m.at.kind === 'data' ? `at ${m.at.bytes} bytes of .partial` : `${m.at.ms} ms after the start`}`;
      if (await runMoment(m, now, rnd, what)) {
        killedAtAll += 1;
        if (m.at.kind === 'data') killedInData += 1;
      }
      await recoverAndCheck(now, what);
    }
    expect(killedInData).toBe(5);
    // A moment may fall after a run ended (a quick incremental); most must not.
    expect(killedAtAll).toBeGreaterThanOrEqual(15);
    // The repairs never hurt a point recorded before them.
    await book.restoreAll();
  });

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`${sig} mid-copy: exit 130, recorded as interrupted, the next run works`, async () => {
      // The month of the last moments: these are incrementals of its chain.
      const now = monthOf(5);
      const written = await writePieces(sig === 'SIGTERM' ? 0x71 : 0x72, 0, 8);
      const { result, seen } = await faultWhileCopying(now, 256 * 1024, (run) => run.signal(sig));
      expect(seen, `${sig} came after the run had read its data`).toBeLessThan(written);
      expect(result.code, result.stderr).toBe(130);
      expect(JSON.parse(result.stdout).results[0].reason).toMatch(/interrupted/);
      await recoverAndCheck(now, sig);
    });
  }
});
