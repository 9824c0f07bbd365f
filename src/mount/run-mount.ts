/**
 * `vmkeep mount` / `vmkeep umount`: a restore point's disk, read-only, as files.
 *
 * This machine kind has no /dev/nbd, so `qemu-nbd -c` is out. What works: a throwaway qcow2
 * overlay on the point's image, exported through FUSE as a raw file by qemu-storage-daemon (QEMU
 * opens the backing chain read-only); the filesystem is mounted writable once on it, which
 * replays its journal into the overlay, then mounted read-only (`--partition N`: by offset from
 * the partition table). A virtnbdbackup point is first restored into the scratch folder, and the
 * overlay goes on that image.
 *
 * Every mount has a record in the state folder (/run/vmkeep/mounts, VMKEEP_MOUNT_DIR moves it),
 * written before anything starts. A record whose vmkeep died before finishing, or whose mount or
 * daemon is gone, is stale: the next mount or umount tears down whatever of it is left (mounts,
 * loop device, FUSE export, daemon, scratch folder).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { VmkeepError, usageError } from '../errors.js';
import { lockOutputForReading } from '../repository/output-lock.js';
import { isImageFile } from '../points/check-files.js';
import { readRestoreChains } from '../points/chains.js';
import { checkPlanFiles, restoreDiskImages } from '../points/execute-restore.js';
import { planRestore } from '../points/plan-restore.js';
import type { PointSelector } from '../points/points.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { formatShellCommand } from '../util/shell-quote.js';
import {
  isMountedIn,
  losetupAttachArgv,
  losetupDetachArgv,
  losetupListArgv,
  mountArgv,
  parseLoopDevices,
  parsePartitionTable,
  sfdiskJsonArgv,
  storageDaemonArgv,
  type FilesystemSource,
  umountArgv,
} from './tools.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const MountRecordSchema = z.object({
  id: z.string(),
  mountpoint: z.string(),
  ownerPid: z.number().int(),
  complete: z.boolean(),
  raw: z.string(),
  pidFile: z.string(),
  daemonPid: z.number().int().optional(),
  loop: z.string().optional(),
  scratch: z.string().optional(),
  point: z.string(),
  disk: z.string(),
  via: z.enum(['chain', 'scratch-restore']),
  journalReplayed: z.boolean().optional(),
});
type MountRecord = z.infer<typeof MountRecordSchema>;

export type MountOptions =
  | {
      action: 'mount';
      domain: string;
      output: string;
      selector: PointSelector;
      mountpoint: string;
      disk: string | undefined;
      partition: number | undefined;
      stateDir: string;
      lockWaitMs: number;
    }
  | { action: 'umount'; mountpoint: string; stateDir: string };

export function mountStateDir(env: NodeJS.ProcessEnv): string {
  return env['VMKEEP_MOUNT_DIR'] ?? '/run/vmkeep/mounts';
}

export async function runMount(ctx: AppContext, options: MountOptions): Promise<CommandResult> {
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  const cleaned = await cleanupStale(ctx, options.stateDir);
  if (options.action === 'umount') return unmount(ctx, options.mountpoint, options.stateDir, cleaned);
  return mountPoint(ctx, options, cleaned);
}

const recordFile = (stateDir: string, id: string) => join(stateDir, `${id}.json`);
const idOf = (mountpoint: string) => createHash('sha256').update(mountpoint).digest('hex').slice(0, 16);

// eslint-disable-next-line max-lines-per-function -- folder being restructured by the restore-point move; split it there
async function mountPoint(ctx: AppContext, o: Extract<MountOptions, { action: 'mount' }>, cleaned: string[]): Promise<CommandResult> {
  const mountpoint = resolve(o.mountpoint);
  const st = await stat(mountpoint).catch(() => undefined);
  if (!st?.isDirectory()) throw usageError(`mount point ${mountpoint} is not an existing folder`);
  if (isMountedIn(await mountinfo(), mountpoint))
    throw usageError(`${mountpoint} is mounted already (${formatShellCommand(['vmkeep', 'umount', mountpoint])} if vmkeep mounted it)`);
  if ((await readdir(mountpoint)).length > 0) throw usageError(`mount point ${mountpoint} is not empty`);

  const chains = await readRestoreChains(o.output, o.domain);
  if (chains.length === 0) throw usageError(`no backups of domain ${o.domain} in ${o.output}`);
  const first = planRestore(
    chains,
    o.domain,
    { selector: o.selector, disks: o.disk === undefined ? undefined : [o.disk], destination: { kind: 'scratch' } },
    ctx.now(),
  );
  const disk = o.disk ?? first.disks[0]!.target;
  const plan =
    o.disk === undefined
      ? planRestore(chains, o.domain, { selector: { kind: 'at', value: first.point.id }, disks: [disk], destination: { kind: 'scratch' } }, ctx.now())
      : first;
  const sequence = plan.disks[0]!.sequence;
  const viaChain = sequence.every(isImageFile);

  const id = idOf(mountpoint);
  const record: MountRecord = {
    id,
    mountpoint,
    ownerPid: process.pid,
    complete: false,
    raw: join(o.stateDir, `${id}.raw`),
    pidFile: join(o.stateDir, `${id}.pid`),
    point: plan.point.id,
    disk,
    via: viaChain ? 'chain' : 'scratch-restore',
  };
  const save = () => writeFileAtomic(recordFile(o.stateDir, id), `${JSON.stringify(record, null, 2)}\n`);
  await save();
  const lock = await lockOutputForReading(ctx, o.output, o.lockWaitMs);
  try {
    await checkPlanFiles(ctx, plan);
    // A scratch folder of this mount's own: the throwaway overlay (and a virtnbdbackup point's restore).
    record.scratch = await mkdtemp(join('/var/tmp', 'vmkeep-mount-'));
    await save();
    let image: string;
    if (viaChain) {
      image = join(plan.chainDir, sequence.at(-1)!);
    } else {
      ctx.log.info(`${o.domain}: ${plan.point.id} is a virtnbdbackup point: restoring ${disk} into ${record.scratch} first`);
      image = (await restoreDiskImages(ctx, plan, (t) => join(record.scratch!, `out-${t}`)))[0]!.path;
    }
    // Every write (the journal replay) lands in this overlay; QEMU opens the point's images read-only.
    const overlay = join(record.scratch, 'replay.qcow2');
    await ctx.qemuImg.createOverlay(overlay, image);
    await writeFile(record.raw, '', { mode: 0o600 });
    // --daemonize: returns once the export is up.
    await ctx.runner.run('qemu-storage-daemon', storageDaemonArgv(overlay, record.raw, record.pidFile, true), { timeoutMs: 60_000 });
    record.daemonPid = Number((await readFile(record.pidFile, 'utf8')).trim());
    await save();
    const source =
      o.partition === undefined
        ? ({ kind: 'file', file: record.raw } as const)
        : await partitionSource(ctx, record, o.partition, `${disk} of ${plan.point.id}`, save);
    record.journalReplayed = await replayJournal(ctx, source, join(record.scratch, REPLAY_MOUNT));
    await save();
    await mountReadOnly(ctx, source, mountpoint, record.journalReplayed);
    record.complete = true;
    await save();
  } catch (error) {
    await tearDown(ctx, record, o.stateDir).catch(() => undefined);
    throw error;
  } finally {
    lock?.release();
  }
  const how = viaChain ? 'the chain, through a qemu-storage-daemon FUSE export' : 'a scratch restore, through a qemu-storage-daemon FUSE export';
  const replay = record.journalReplayed
    ? 'its journal replayed on a throwaway overlay (the backup is only read), so it shows what the guest had written'
    : 'its journal NOT replayed (it could not be mounted writable on a throwaway overlay): files the guest wrote last may show older contents';
  const document = {
    action: 'mount',
    mountpoint,
    domain: o.domain,
    point: plan.point.id,
    disk,
    partition: o.partition ?? null,
    via: record.via,
    journalReplayed: record.journalReplayed,
    cleanedUp: cleaned,
  };
  if (!record.journalReplayed) ctx.log.warn(`${mountpoint}: the filesystem's journal was not replayed: what it shows may be stale`);
  return {
    document,
    text: `${plan.point.id} ${disk}${o.partition ? ` partition ${o.partition}` : ''} of ${o.domain} is mounted read-only on ${mountpoint} (from ${how}), ${replay}; ${formatShellCommand(['vmkeep', 'umount', mountpoint])} undoes it\n`,
    outcome: 'ok',
  };
}

/** Where the replay mount goes, inside the mount's scratch folder. */
const REPLAY_MOUNT = 'replay-mnt';

/**
 * Partition N of the exported disk: its byte range from the partition table (sfdisk reads MBR
 * and GPT), mounted by offset, so no partition device is needed (loop drivers without partition
 * support make none). Where sfdisk reads no table, the kernel's own partition scan is the fallback.
 */
async function partitionSource(ctx: AppContext, record: MountRecord, partition: number, what: string, save: () => Promise<void>): Promise<FilesystemSource> {
  const table = await ctx.runner.run('sfdisk', sfdiskJsonArgv(record.raw), { timeoutMs: 60_000 }).then(
    (r) => parsePartitionTable(r.stdout),
    () => undefined,
  );
  if (table !== undefined) {
    const entry = table.find((p) => p.number === partition);
    if (!entry)
      throw new VmkeepError('failure', `${what} has no partition ${partition} (its partition table has ${table.map((p) => p.number).join(', ') || 'none'})`);
    return { kind: 'file', file: record.raw, offset: entry.offset, size: entry.size };
  }
  const { stdout } = await ctx.runner.run('losetup', losetupAttachArgv(record.raw), { timeoutMs: 60_000 });
  record.loop = stdout.trim();
  await save();
  const device = `${record.loop}p${partition}`;
  if (!(await waitForFile(device, 5_000)))
    throw new VmkeepError('failure', `${what} has no partition ${partition} (no partition table vmkeep can read, and ${device} did not appear)`);
  return { kind: 'device', device };
}

/**
 * Mount the filesystem writable once on the throwaway overlay and unmount it: ext3/4, XFS and
 * the like replay their journal on a writable mount. Answers whether that worked; where it did
 * not (a filesystem with read-only tooling, an unknown type), the read-only mount shows the
 * filesystem without its journal's last writes.
 */
async function replayJournal(ctx: AppContext, source: FilesystemSource, dir: string): Promise<boolean> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await ctx.runner.run('mount', mountArgv(source, dir, ['rw']), { timeoutMs: 600_000 });
  } catch {
    return false;
  }
  await ctx.runner.run('umount', umountArgv(dir, false), { timeoutMs: 600_000 });
  return true;
}

/** Read-only; without a replayed journal `noload` first (ext3/4 refuse a dirty journal otherwise on a read-only device), then without it. */
async function mountReadOnly(ctx: AppContext, source: FilesystemSource, mountpoint: string, replayed: boolean): Promise<void> {
  if (replayed) {
    await ctx.runner.run('mount', mountArgv(source, mountpoint, ['ro']), { timeoutMs: 60_000 });
    return;
  }
  try {
    await ctx.runner.run('mount', mountArgv(source, mountpoint, ['ro', 'noload']), { timeoutMs: 60_000 });
  } catch {
    await ctx.runner.run('mount', mountArgv(source, mountpoint, ['ro']), { timeoutMs: 60_000 });
  }
}

async function unmount(ctx: AppContext, target: string, stateDir: string, cleaned: string[]): Promise<CommandResult> {
  const mountpoint = resolve(target);
  const record = await readRecord(recordFile(stateDir, idOf(mountpoint)));
  if (!record) {
    if (cleaned.includes(mountpoint)) {
      return {
        document: { action: 'umount', mountpoint, cleanedUp: cleaned },
        text: `${mountpoint} was a broken vmkeep mount; it is cleaned up\n`,
        outcome: 'ok',
      };
    }
    throw usageError(`${mountpoint} is not a vmkeep mount`);
  }
  await tearDown(ctx, record, stateDir);
  return {
    document: { action: 'umount', mountpoint, point: record.point, cleanedUp: cleaned },
    text: `${mountpoint} unmounted; export and loop device gone\n`,
    outcome: 'ok',
  };
}

/** Tear down whatever is left of stale records; returns their mount points. */
async function cleanupStale(ctx: AppContext, stateDir: string): Promise<string[]> {
  const cleaned: string[] = [];
  const info = await mountinfo();
  for (const name of (await readdir(stateDir)).filter((n) => n.endsWith('.json'))) {
    const record = await readRecord(join(stateDir, name));
    if (!record) continue;
    const inProgress = !record.complete && record.ownerPid !== process.pid && alive(record.ownerPid);
    if (inProgress) continue;
    const healthy = record.complete && isMountedIn(info, record.mountpoint) && record.daemonPid !== undefined && (await isStorageDaemon(record.daemonPid));
    if (healthy) continue;
    ctx.log.info(
      `cleaning up the broken vmkeep mount on ${record.mountpoint} (${record.complete ? 'its export or mount is gone' : 'vmkeep stopped while mounting it'})`,
    );
    await tearDown(ctx, record, stateDir);
    cleaned.push(record.mountpoint);
  }
  return cleaned;
}

/** Undo a mount in reverse order, each step only if its piece is there. */
async function tearDown(ctx: AppContext, record: MountRecord, stateDir: string): Promise<void> {
  const daemonUp = record.daemonPid !== undefined && (await isStorageDaemon(record.daemonPid));
  // A replay mount left by a vmkeep that died while mounting: off before the export and its folder go.
  const replay = record.scratch ? join(record.scratch, REPLAY_MOUNT) : undefined;
  if (replay && isMountedIn(await mountinfo(), replay)) await ctx.runner.run('umount', umountArgv(replay, !daemonUp), { timeoutMs: 60_000 });
  if (isMountedIn(await mountinfo(), record.mountpoint)) {
    // Without its daemon the filesystem cannot be read any more: only a lazy umount gets it off.
    await ctx.runner.run('umount', umountArgv(record.mountpoint, !daemonUp), { timeoutMs: 60_000 });
  }
  const loops = await ctx.runner.run('losetup', losetupListArgv(record.raw), { timeoutMs: 30_000 }).then(
    (r) => parseLoopDevices(r.stdout),
    () => [],
  );
  for (const dev of new Set([...loops, ...(record.loop ? [record.loop] : [])])) {
    await ctx.runner.run('losetup', losetupDetachArgv(dev), { timeoutMs: 30_000 }).catch(() => undefined);
  }
  if (daemonUp) {
    process.kill(record.daemonPid!, 'SIGTERM');
    for (let i = 0; i < 100 && (await isStorageDaemon(record.daemonPid!)); i += 1) await sleep(50);
    if (await isStorageDaemon(record.daemonPid!)) process.kill(record.daemonPid!, 'SIGKILL');
  }
  // A daemon killed hard leaves its FUSE mount on the raw file ("transport endpoint is not connected").
  if (isMountedIn(await mountinfo(), record.raw)) await ctx.runner.run('umount', umountArgv(record.raw, true), { timeoutMs: 30_000 });
  await rm(record.raw, { force: true });
  await rm(record.pidFile, { force: true });
  if (record.scratch) await rm(record.scratch, { recursive: true, force: true });
  await rm(recordFile(stateDir, record.id), { force: true });
}

async function readRecord(file: string): Promise<MountRecord | undefined> {
  try {
    const parsed = MountRecordSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function mountinfo(): Promise<string> {
  return readFile('/proc/self/mountinfo', 'utf8');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Is `pid` a live qemu-storage-daemon (not a recycled pid)? */
async function isStorageDaemon(pid: number): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // A zombie is not serving anything.
    return cmdline.includes('qemu-storage-daemon') && !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

async function waitForFile(path: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (
      await stat(path).then(
        () => true,
        () => false,
      )
    )
      return true;
    await sleep(50);
  }
  return false;
}
