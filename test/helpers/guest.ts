/**
 * The booting test guest: a real small Linux that boots from its own disk, runs the QEMU guest
 * agent and writes a checksummed journal, for tests about what a user sees (quiesce, restore and
 * boot, kill during a backup while the guest writes). The empty-disk domains of libvirt.ts stay
 * the fast choice wherever a booting OS adds nothing.
 *
 * Words used here:
 * - guest image: the qcow2 built by scripts/build-test-guest.sh and cached under .cache/ in the
 *   repo; each test guest boots a fresh copy of it in its own directory.
 * - ready marker: the line the guest prints on its serial console once its data partition is
 *   mounted and qemu-ga runs.
 * - journal: /data/journal.log in the guest (journal.log at the root of the ext4 partition):
 *   lines "SEQ BOOT UPTIME EPOCH PAYLOAD MD5", SEQ equal to the line's number, MD5 over the line
 *   before its last space, each line fsynced. A whole journal has every checksum valid, SEQ
 *   counting 1, 2, 3 ... and no torn last line.
 *
 * Domains are named `vmkeep-test-*` and carry the owner metadata of libvirt.ts, so cleanupAll()
 * and the leftover sweep treat them like every other test domain.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ToolError, VmkeepError, usageError } from '../../src/errors.js';
import { createExecaRunner, type Runner } from '../../src/runner/runner.js';
import {
  GUEST_DISK_MIB,
  GUEST_JOURNAL_PATH,
  GUEST_PARTITION_OFFSET,
  GUEST_READY_MARKER,
  PARTITION_JOURNAL_PATH,
  guestDomainXml,
} from '../../scripts/lib/test-guest.mjs';
import { defineDomainXml, newTestDomainName, ownerMetadataXml, referenceCopy, reserveTestDomain, startDomain, virsh, type TestDomain } from './libvirt.js';

// The definition and the journal rules live in scripts/lib/test-guest.mjs, which the demo and
// the benchmarks run from the shell as well.
export {
  GUEST_DISK_MIB,
  GUEST_JOURNAL_PATH,
  GUEST_PARTITION_OFFSET,
  GUEST_READY_MARKER,
  PARTITION_JOURNAL_PATH,
  checkJournal,
  type JournalCheck,
  type JournalLine,
} from '../../scripts/lib/test-guest.mjs';

// test/helpers/, or dist-bench/test/helpers/ when the benchmarks run it compiled.
const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..', path.basename(path.resolve(import.meta.dirname, '..', '..')) === 'dist-bench' ? '..' : '.');
const BUILD_SCRIPT = path.join(REPO_ROOT, 'scripts', 'build-test-guest.sh');

const runner: Runner = createExecaRunner();

export interface TestGuest extends TestDomain {
  /** The serial console's log file (readable by the host while the guest runs). */
  serialLog: string;
  /** Whether the domain has the guest agent channel. */
  agentChannel: boolean;
}

export interface CreateTestGuestOptions {
  /** Part of the name: `vmkeep-test-<label>-<random>`; default `guest`. */
  label?: string;
  /** Define the qemu-ga virtio-serial channel (default true). */
  agentChannel?: boolean;
  /** VNC on 127.0.0.1 and a VGA video device, for `virsh screenshot` (default false). */
  vnc?: boolean;
  /** Start it (default true). Waiting for the marker is separate: waitForGuestReady(). */
  start?: boolean;
  memoryMiB?: number;
  /**
   * Default `qemu` (TCG): an unmodified kernel does not boot under this host kind's PVM /dev/kvm.
   * `kvm` is for hosts with VMX/SVM KVM.
   */
  domainType?: 'qemu' | 'kvm';
}

// ---------------------------------------------------------------------------------------------
// Image and domain

let cachedImage: string | undefined;

/** The cached guest image, built first when the build script changed since the last build. */
export async function guestImage(): Promise<string> {
  if (cachedImage !== undefined && fs.existsSync(cachedImage)) return cachedImage;
  // Cached builds answer at once; a first build downloads ~70 MB of packages.
  const { stdout } = await runner.run('bash', [BUILD_SCRIPT], { timeoutMs: 900_000 });
  const image = stdout.trim().split('\n').at(-1) ?? '';
  if (!image.endsWith('.qcow2') || !fs.existsSync(image)) {
    throw new VmkeepError('failure', `build-test-guest.sh printed no image path`, { detail: stdout });
  }
  cachedImage = image;
  return image;
}

/** Define (and by default start) a booting guest on a fresh copy of the guest image; registered for cleanupAll(). */
export async function createTestGuest(options: CreateTestGuestOptions = {}): Promise<TestGuest> {
  const label = options.label ?? 'guest';
  if (!/^[A-Za-z0-9._-]+$/.test(label)) throw usageError(`guest label must be letters, digits, . _ -: ${JSON.stringify(label)}`);
  const image = await guestImage();
  const name = newTestDomainName(label);
  const { uuid, dir } = reserveTestDomain(name);
  const diskPath = path.join(dir, 'vda.qcow2');
  // A copy, not an overlay: the cache sits in the repo, where QEMU may not be able to read it.
  fs.copyFileSync(image, diskPath);
  const serialLog = path.join(dir, 'serial.log');
  const agentChannel = options.agentChannel ?? true;
  const xml = guestDomainXml({
    name,
    uuid,
    metadata: ownerMetadataXml(),
    diskPath,
    serialLog,
    agentChannel,
    vnc: options.vnc ?? false,
    memoryMiB: options.memoryMiB ?? 192,
    type: options.domainType ?? 'qemu',
  });
  await defineDomainXml(xml);
  const guest: TestGuest = {
    name,
    uuid,
    dir,
    disks: [{ target: 'vda', path: diskPath, alias: 'virtio-disk0', format: 'qcow2', sizeMiB: GUEST_DISK_MIB }],
    serialLog,
    agentChannel,
  };
  if (options.start ?? true) await startDomain(guest);
  return guest;
}

// ---------------------------------------------------------------------------------------------
// Console

/** Bytes in the serial log now (pass to waitForGuestReady's `since` before a restart). */
export function serialLogSize(guest: TestGuest): number {
  try {
    return fs.statSync(guest.serialLog).size;
  } catch {
    return 0;
  }
}

/** The serial log's text from byte `since` on. */
export function readSerialLog(guest: TestGuest, since = 0): string {
  try {
    return fs.readFileSync(guest.serialLog).subarray(since).toString('utf8');
  } catch {
    return '';
  }
}

/** Wait until the ready marker appears in the serial log after byte `since`; throws with the log's tail on timeout. */
export async function waitForGuestReady(guest: TestGuest, opts: { timeoutMs?: number; since?: number } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 180_000);
  for (;;) {
    if (readSerialLog(guest, opts.since ?? 0).includes(GUEST_READY_MARKER)) return;
    if (Date.now() >= deadline) {
      const state = (await virsh(['domstate', guest.uuid]).catch(() => '?')).trim();
      throw new VmkeepError('failure', `guest ${guest.name} printed no ready marker (domain ${state})`, {
        detail: `serial log tail:\n${readSerialLog(guest).slice(-3000)}`,
      });
    }
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------
// Agent

/** Run one guest agent command through `virsh qemu-agent-command`; returns its `return` value, throws on an error reply. */
export async function agentCommand<T = unknown>(
  guest: TestGuest | TestDomain,
  command: string,
  args?: Record<string, unknown>,
  opts: { timeoutSeconds?: number } = {},
): Promise<T> {
  const request = JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args });
  const stdout = await virsh(['qemu-agent-command', guest.uuid, '--timeout', String(opts.timeoutSeconds ?? 10), request]);
  const reply = JSON.parse(stdout) as { return?: T };
  return reply.return as T;
}

/** Does the agent answer guest-ping within `timeoutSeconds`? */
export async function guestPing(guest: TestGuest | TestDomain, timeoutSeconds = 5): Promise<boolean> {
  try {
    await agentCommand(guest, 'guest-ping', undefined, { timeoutSeconds });
    return true;
  } catch (error) {
    if (error instanceof ToolError) return false;
    throw error;
  }
}

/** Wait until guest-ping answers; throws on timeout. */
export async function waitForAgent(guest: TestGuest, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await guestPing(guest, 2))) {
    if (Date.now() >= deadline) throw new VmkeepError('failure', `guest agent of ${guest.name} does not answer guest-ping`);
    await sleep(250);
  }
}

/** A test guest that has booted and whose agent answers: what a test about what a user sees starts from. */
export async function bootTestGuest(options: CreateTestGuestOptions = {}): Promise<TestGuest> {
  const guest = await createTestGuest(options);
  await waitForGuestReady(guest);
  await waitForAgent(guest);
  return guest;
}

export interface GuestExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Run a program in the guest through guest-exec and wait for it (refused by qemu-ga while the guest is frozen). */
export async function guestExec(
  guest: TestGuest | TestDomain,
  program: string,
  args: string[] = [],
  opts: { timeoutMs?: number } = {},
): Promise<GuestExecResult> {
  const { pid } = await agentCommand<{ pid: number }>(guest, 'guest-exec', { path: program, arg: args, 'capture-output': true });
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const status = await agentCommand<{ exited: boolean; exitcode?: number; signal?: number; 'out-data'?: string; 'err-data'?: string }>(
      guest,
      'guest-exec-status',
      { pid },
    );
    if (status.exited) {
      return {
        exitCode: status.exitcode ?? 128 + (status.signal ?? 0),
        stdout: Buffer.from(status['out-data'] ?? '', 'base64').toString('utf8'),
        stderr: Buffer.from(status['err-data'] ?? '', 'base64').toString('utf8'),
      };
    }
    if (Date.now() >= deadline) throw new VmkeepError('failure', `${program} in guest ${guest.name} did not finish`);
    await sleep(100);
  }
}

/** Lines in the running guest's journal now. */
export async function guestJournalLines(guest: TestGuest | TestDomain): Promise<number> {
  const r = await guestExec(guest, '/bin/sh', ['-c', `wc -l < ${GUEST_JOURNAL_PATH}`]);
  const n = Number(r.stdout.trim());
  if (r.exitCode !== 0 || !Number.isInteger(n)) throw new VmkeepError('failure', `cannot count the journal of ${guest.name}`, { detail: r.stdout + r.stderr });
  return n;
}

/**
 * Write `bytes` random bytes to `file` in the running guest, fsync it, and return its sha256 as
 * the guest computes it: a data file whose restored copies must match it.
 */
export async function writeGuestDataFile(guest: TestGuest, file: string, bytes = 1024 * 1024): Promise<string> {
  const count = Math.ceil(bytes / 65536);
  const r = await guestExec(guest, '/bin/sh', [
    '-c',
    `dd if=/dev/urandom of="$1" bs=64k count=${count} 2>/dev/null && sync "$1" && sha256sum "$1"`,
    'sh',
    file,
  ]);
  const sum = /^([0-9a-f]{64})\s/.exec(r.stdout)?.[1];
  if (r.exitCode !== 0 || sum === undefined) throw new VmkeepError('failure', `cannot write ${file} in guest ${guest.name}`, { detail: r.stdout + r.stderr });
  return sum;
}

/** Wait until the running guest's journal has more than `lines` lines; returns the new count. */
export async function waitForJournalGrowth(guest: TestGuest, lines: number, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await guestJournalLines(guest);
    if (now > lines) return now;
    if (Date.now() >= deadline) throw new VmkeepError('failure', `journal of ${guest.name} stays at ${now} lines`);
    await sleep(500);
  }
}

// ---------------------------------------------------------------------------------------------
// Images

/** A crash-consistent copy of the running guest's disk as it is now (QEMU's cache flushed first). */
export async function copyGuestDisk(guest: TestGuest, destPath: string): Promise<void> {
  await referenceCopy(guest, 'vda', destPath);
}

export interface ImageJournal {
  /** The journal's text as the filesystem holds it after its ext4 journal was replayed. */
  text: string;
  /** sha256 of each file asked for (path inside the partition), undefined when it is not there. */
  digests: Record<string, string | undefined>;
  /** `e2fsck -fn` after the replay found nothing to fix. */
  fsckClean: boolean;
  fsckOutput: string;
}

/**
 * Read the guest journal from a disk image (a copy, a restored point) as a booting guest would
 * see it: a raw scratch copy is mounted read-write, which replays the ext4 journal (e2fsck -n
 * does not), then checked with e2fsck -fn. The image itself is only read.
 */
export async function readJournalFromImage(image: string, opts: { format?: 'qcow2' | 'raw'; files?: readonly string[] } = {}): Promise<ImageJournal> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkeep-guest-journal-'));
  const raw = path.join(scratch, 'disk.raw');
  const mnt = path.join(scratch, 'mnt');
  fs.mkdirSync(mnt);
  let loop: string | undefined;
  let mounted = false;
  try {
    await runner.run('qemu-img', ['convert', '-U', ...(opts.format ? ['-f', opts.format] : []), '-O', 'raw', image, raw], { timeoutMs: 300_000 });
    const partBytes = fs.statSync(raw).size - GUEST_PARTITION_OFFSET;
    // This host's loop driver may make no partition devices: attach the partition by offset.
    const attached = await runner.run('losetup', ['-f', '--show', '-o', String(GUEST_PARTITION_OFFSET), '--sizelimit', String(partBytes), raw]);
    loop = attached.stdout.trim();
    await runner.run('mount', ['-t', 'ext4', loop, mnt]);
    mounted = true;
    const journalFile = path.join(mnt, PARTITION_JOURNAL_PATH);
    const text = fs.existsSync(journalFile) ? fs.readFileSync(journalFile, 'utf8') : '';
    const digests: Record<string, string | undefined> = {};
    for (const f of opts.files ?? []) {
      const file = path.join(mnt, f);
      digests[f] = fs.existsSync(file) ? createHash('sha256').update(fs.readFileSync(file)).digest('hex') : undefined;
    }
    await runner.run('umount', [mnt]);
    mounted = false;
    const fsck = await runner.run('e2fsck', ['-fn', loop], { okExitCodes: [1, 2, 4, 8] });
    return { text, digests, fsckClean: fsck.exitCode === 0, fsckOutput: fsck.stdout + fsck.stderr };
  } finally {
    if (mounted) await runner.run('umount', [mnt], { okExitCodes: [1, 32] }).catch(() => undefined);
    if (loop) await runner.run('losetup', ['-d', loop], { okExitCodes: [1] }).catch(() => undefined);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
