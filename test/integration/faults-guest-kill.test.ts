/**
 * Fault suite with the booting test guest: kill -9 of the whole vmkeep process group in the
 * middle of an incremental's copy, for each engine, while the guest runs and writes its journal.
 * The guest must keep running and writing through the kill; the next backup repairs what the
 * killed run left and records a point; that point restores to a disk whose journal is whole
 * (every checksum valid, numbered 1, 2, 3 ... with no torn end) up to the moment it was taken,
 * and whose data file has the sha256 the guest computed.
 *
 * One guest for the file (under TCG each boot costs a core for a while); each engine has its own
 * output folder. The incremental has a file of random bytes to copy, and QEMU reads the disk at a
 * set pace while the run to be killed copies it (throttleDiskReads), so the kill lands in it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, checkpointNames, expectDocument, makeLockDir, readManifestJson } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { expectNothingLeft } from '../helpers/fault-checks.js';
import {
  bootTestGuest,
  checkJournal,
  guestExec,
  guestJournalLines,
  readJournalFromImage,
  type TestGuest,
  waitForJournalGrowth,
  writeGuestDataFile,
} from '../helpers/guest.js';
import { cleanupAll, domainState, throttleDiskReads, virsh } from '../helpers/libvirt.js';
import { startVmkeep, waitForPartial, type FinishedRun, type RunningVmkeep } from '../helpers/vmkeep-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Engine = 'push' | 'virtnbdbackup';

/** Random bytes the incremental copies: enough that the copy lasts while the test watches it. */
const BULK_BYTES = 24 * MiB;
/** The file's path inside the guest, and inside the data partition of a restored image. */
const BULK_FILE = 'bulk.bin';

let lockDir: string;
let guest: TestGuest;
const deadPids: number[] = [];

beforeAll(async () => {
  lockDir = makeLockDir();
  guest = await bootTestGuest({ label: 'faultkill' });
}, 300_000);

afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

function backupArgs(out: string, engine: Engine): string[] {
  return ['--domains', guest.name, '--output', out, '--engine', engine, '--json'];
}

/**
 * Wait until the run is copying the incremental's data: virtnbdbackup's `.partial` file has
 * grown, or QEMU has written more than a little into the push overlay (vmkeep creates it nearly
 * empty before the job begins), then kill the run. Returns the bytes seen at that moment. The
 * copy is slowed to COPY_BYTES_PER_SEC while this runs, so the kill lands in it.
 */
async function waitForCopyAndKill(engine: Engine, out: string, chainDir: string, run: RunningVmkeep): Promise<number> {
  if (engine === 'virtnbdbackup') {
    const size = fs.statSync(await waitForPartial(out, 256 * 1024, run)).size;
    run.killGroup();
    return size;
  }
  const isOverlay = (f: string) => /^vda\.vmkeep\.[0-9a-f]{8}\.1\.qcow2$/.test(f);
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const f = fs.readdirSync(chainDir).find(isOverlay);
    const size = f === undefined ? 0 : (fs.statSync(path.join(chainDir, f), { throwIfNoEntry: false })?.size ?? 0);
    if (size >= 1 * MiB) {
      run.killGroup();
      return size;
    }
    if (await Promise.race([run.finished.then(() => true), sleep(20).then(() => false)])) break;
  }
  throw new Error(`the push incremental never copied data while it ran:\n${(await run.finished).stderr}`);
}

/**
 * How fast QEMU may read the guest's disk while the run to be killed copies: the 24 MiB take
 * about 6 s, and the kill comes after the first MiB. Without a limit, QEMU with KVM copies them
 * in tens of milliseconds, and a busy machine's test process watched the copy end before it
 * could kill the run.
 */
const COPY_BYTES_PER_SEC = 4 * MiB;

interface KilledRun {
  out: string;
  chainDir: string;
  chain: string;
  bulkSha: string;
  linesAtStart: number;
}

/** A full, new data, and a run killed while it copies that data. */
async function killMidCopy(engine: Engine): Promise<KilledRun> {
  const out = path.join(guest.dir, `backups-${engine}`);
  const env = { VMKEEP_LOCK_DIR: lockDir };
  // The other engine's case left its checkpoints: start from a guest with none, so the end state
  // can be compared with this case's chain alone.
  for (const name of (await checkpointNames(guest)).reverse()) await virsh(['checkpoint-delete', guest.uuid, name]);
  const full = expectDocument(await backupCli(backupArgs(out, engine), { lockDir }));
  expect(full.results[0], JSON.stringify(full.results[0])).toMatchObject({ result: 'done', level: 'full' });
  const chainDir = path.join(out, guest.name, full.results[0]!.chain!);

  // New random bytes the guest writes and fsyncs: the incremental's data, and a file to compare
  // after the restore (an earlier file goes first: the guest's small disk has room for one).
  await guestExec(guest, '/bin/rm', ['-f', `/data/${BULK_FILE}`]);
  const bulkSha = await writeGuestDataFile(guest, `/data/${BULK_FILE}`, BULK_BYTES);
  const linesAtStart = await guestJournalLines(guest);

  await throttleDiskReads(guest, COPY_BYTES_PER_SEC);
  let seen: number;
  let killed: FinishedRun;
  try {
    const run = startVmkeep(['backup', ...backupArgs(out, engine)], { env });
    deadPids.push(run.pid);
    seen = await waitForCopyAndKill(engine, out, chainDir, run);
    killed = await run.finished;
  } finally {
    await throttleDiskReads(guest, 0);
  }
  expect(killed.signal, `${engine}: the run ended by itself: ${killed.stderr}`).toBe('SIGKILL');
  // It died before recording the point: the manifest still holds the run.
  expect(readManifestJson(chainDir).running).toBeDefined();
  // Killed while copying: less than the new data had been written.
  expect(seen, `${engine}: the copy was over before the kill`).toBeLessThan(BULK_BYTES);
  return { out, chainDir, chain: full.results[0]!.chain!, bulkSha, linesAtStart };
}

/** The next run repairs and records an incremental; its point restores with a whole journal. */
async function recoverAndRestore(engine: Engine, { out, chain, bulkSha, linesAtStart }: KilledRun): Promise<void> {
  const env = { VMKEEP_LOCK_DIR: lockDir };
  // The guest ran on, writing, through the run and the kill, and goes on writing.
  expect(await domainState(guest)).toBe('running');
  const linesAfterKill = await guestJournalLines(guest);
  expect(linesAfterKill).toBeGreaterThan(linesAtStart);
  await waitForJournalGrowth(guest, linesAfterKill);
  const linesBeforeNext = await guestJournalLines(guest);

  const next = expectDocument(await backupCli(backupArgs(out, engine), { lockDir }));
  const linesAfterNext = await guestJournalLines(guest);
  expect(next.results[0], JSON.stringify(next.results[0])).toMatchObject({ result: 'done', level: 'inc', chain });
  expect(next.results[0]!.repairs?.length ?? 0, `${engine}: the next run repaired nothing`).toBeGreaterThan(0);
  await expectNothingLeft(guest, out, 'running', deadPids);

  // The newest point restores to a disk holding the whole journal up to the moment it was taken.
  const to = path.join(guest.dir, `restore-${engine}`);
  const restored = await runVmkeep(['restore', '--domain', guest.name, '--output', out, '--at', 'latest', '--to', to, '--json'], {
    env,
    timeoutMs: 600_000,
  });
  expect(restored.code, restored.stderr).toBe(0);
  const image = parseJsonOutput<{ images: Array<{ path: string }> }>(restored).images[0]!.path;
  const journal = await readJournalFromImage(image, { files: [BULK_FILE] });
  const check = checkJournal(journal.text);
  expect(check.errors, `${engine}: the restored journal`).toEqual([]);
  expect(check.tornLastLine, `${engine}: the restored journal's last line`).toBe(false);
  expect(check.lines).toBeGreaterThanOrEqual(linesBeforeNext);
  expect(check.lines).toBeLessThanOrEqual(linesAfterNext);
  expect(journal.digests[BULK_FILE]).toBe(bulkSha);
  expect(journal.fsckClean, journal.fsckOutput).toBe(true);
  fs.rmSync(to, { recursive: true, force: true });
}

describe('kill -9 mid-copy while the guest writes its journal', () => {
  it('virtnbdbackup: the guest writes on through the kill; the next backup repairs; the newest point restores with a whole journal', async () => {
    await recoverAndRestore('virtnbdbackup', await killMidCopy('virtnbdbackup'));
  });

  it('push: the guest writes on through the kill; the next backup repairs; the newest point restores with a whole journal', async () => {
    await recoverAndRestore('push', await killMidCopy('push'));
  });
});
