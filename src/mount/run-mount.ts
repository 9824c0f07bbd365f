/**
 * `vmkeep mount` / `vmkeep umount`: a restore point's disk, read-only, as files.
 *
 * This machine kind has no /dev/nbd, so `qemu-nbd -c` is out. What works: a throwaway qcow2
 * overlay on the point's image, exported through FUSE as a raw file by qemu-storage-daemon (QEMU
 * opens the backing chain read-only); the filesystem is mounted writable once on it, which
 * replays its journal into the overlay, then mounted read-only (`--partition N`: by offset from
 * the partition table). A virtnbdbackup point is first restored into the scratch folder, and the
 * overlay goes on that image. `--all-disks` does this for every disk of the point, with every
 * partition (or the whole disk, where it has no partition table) on MOUNTPOINT/<disk>[-<N>].
 *
 * Every mount has a record in the state folder (/run/vmkeep/mounts, VMKEEP_MOUNT_DIR moves it),
 * written before anything starts. A record whose vmkeep died before finishing, or whose mount or
 * daemon is gone, is stale: the next mount or umount tears down whatever of it is left (mounts,
 * loop device, FUSE export, daemon, scratch folder).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { ToolError, VmkeepError, usageError } from '../errors.js';
import { withLocks } from '../repository/locks.js';
import { isImageFile } from '../points/check-files.js';
import { readRestoreChains } from '../points/chains.js';
import { checkPlanFiles, restoreDiskImages } from '../points/execute-restore.js';
import { planRestore } from '../points/plan-restore.js';
import type { PointSelector } from '../points/points.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { formatShellCommand } from '../util/shell-quote.js';
import {
  isContainerPartition,
  isMountedIn,
  mountPointsUnder,
  losetupAttachArgv,
  losetupDetachArgv,
  losetupListArgv,
  mountArgv,
  parseLoopDevices,
  parsePartitionTable,
  sfdiskJsonArgv,
  storageDaemonArgv,
  type FilesystemSource,
  type PartitionEntry,
  umountArgv,
} from './tools.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One disk's export: its raw FUSE file, the daemon serving it, and a loop device where one was attached. */
const DiskExportSchema = z.object({
  disk: z.string(),
  raw: z.string(),
  pidFile: z.string(),
  daemonPid: z.number().int().optional(),
  loop: z.string().optional(),
});
type DiskExport = z.infer<typeof DiskExportSchema>;

/** One filesystem mount of a record; written before the mount is attempted, so teardown finds it. */
const FilesystemMountSchema = z.object({
  path: z.string(),
  disk: z.string(),
  partition: z.number().int().optional(),
  journalReplayed: z.boolean().optional(),
});
type FilesystemMount = z.infer<typeof FilesystemMountSchema>;

const MountRecordSchema = z.object({
  id: z.string(),
  mountpoint: z.string(),
  ownerPid: z.number().int(),
  complete: z.boolean(),
  scratch: z.string().optional(),
  point: z.string(),
  via: z.enum(['chain', 'scratch-restore']),
  /** --all-disks: the filesystems sit in subfolders vmkeep made under the mount point. */
  allDisks: z.boolean().optional(),
  exports: z.array(DiskExportSchema),
  mounts: z.array(FilesystemMountSchema),
});
type MountRecord = z.infer<typeof MountRecordSchema>;

/** A record written by a vmkeep that mounted one disk per record (no `exports`): the same thing, reshaped. */
const SingleDiskRecordSchema = z.object({
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

function recordFromSingleDisk(r: z.infer<typeof SingleDiskRecordSchema>): MountRecord {
  return {
    id: r.id,
    mountpoint: r.mountpoint,
    ownerPid: r.ownerPid,
    complete: r.complete,
    scratch: r.scratch,
    point: r.point,
    via: r.via,
    exports: [{ disk: r.disk, raw: r.raw, pidFile: r.pidFile, daemonPid: r.daemonPid, loop: r.loop }],
    mounts: [{ path: r.mountpoint, disk: r.disk, journalReplayed: r.journalReplayed }],
  };
}

export type MountOptions =
  | {
      action: 'mount';
      domain: string;
      output: string;
      selector: PointSelector;
      mountpoint: string;
      /** One disk (`--disk`, default the first), or every disk's filesystems (`--all-disks`). */
      disks: { kind: 'one'; disk: string | undefined; partition: number | undefined } | { kind: 'all' };
      stateDir: string;
      lockWaitMs: number;
    }
  | { action: 'umount'; mountpoint: string; stateDir: string };

export async function runMount(ctx: AppContext, options: MountOptions): Promise<CommandResult> {
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  const cleaned = await cleanupStale(ctx, options.stateDir);
  if (options.action === 'umount') return unmount(ctx, options.mountpoint, options.stateDir, cleaned);
  return mountPoint(ctx, options, cleaned);
}

const recordFile = (stateDir: string, id: string) => join(stateDir, `${id}.json`);
const idOf = (mountpoint: string) => createHash('sha256').update(mountpoint).digest('hex').slice(0, 16);

/** A filesystem vmkeep could not mount under --all-disks, and why (swap, LVM, an empty disk...). */
interface SkippedFilesystem {
  disk: string;
  partition: number | null;
  reason: string;
}

/** The mount point: an existing, empty folder nothing is mounted on. */
async function assertMountableFolder(mountpoint: string): Promise<void> {
  const st = await stat(mountpoint).catch(() => undefined);
  if (!st?.isDirectory()) throw usageError(`mount point ${mountpoint} is not an existing folder`);
  if (isMountedIn(await mountinfo(), mountpoint))
    throw usageError(`${mountpoint} is mounted already (${formatShellCommand(['vmkeep', 'umount', mountpoint])} if vmkeep mounted it)`);
  if ((await readdir(mountpoint)).length > 0) throw usageError(`mount point ${mountpoint} is not empty`);
}

async function mountPoint(ctx: AppContext, o: Extract<MountOptions, { action: 'mount' }>, cleaned: string[]): Promise<CommandResult> {
  const mountpoint = resolve(o.mountpoint);
  await assertMountableFolder(mountpoint);
  const chains = await readRestoreChains(o.output, o.domain);
  if (chains.length === 0) throw usageError(`no backups of domain ${o.domain} in ${o.output}`);
  const one = o.disks.kind === 'one' ? o.disks : undefined;
  const first = planRestore(
    chains,
    o.domain,
    { selector: o.selector, disks: one?.disk === undefined ? undefined : [one.disk], destination: { kind: 'scratch' } },
    ctx.now(),
  );
  // One disk and none named: the point's first disk, planned alone so only its files are read.
  const plan =
    one !== undefined && one.disk === undefined
      ? planRestore(
          chains,
          o.domain,
          { selector: { kind: 'at', value: first.point.id }, disks: [first.disks[0]!.target], destination: { kind: 'scratch' } },
          ctx.now(),
        )
      : first;
  const viaChain = plan.disks.every((d) => d.sequence.every(isImageFile));

  const id = idOf(mountpoint);
  const record: MountRecord = {
    id,
    mountpoint,
    ownerPid: process.pid,
    complete: false,
    point: plan.point.id,
    via: viaChain ? 'chain' : 'scratch-restore',
    ...(one ? {} : { allDisks: true }),
    exports: [],
    mounts: [],
  };
  const save = () => writeFileAtomic(recordFile(o.stateDir, id), `${JSON.stringify(record, null, 2)}\n`);
  await save();
  const skipped: SkippedFilesystem[] = [];
  await withLocks(ctx, { output: o.output, mode: 'read', waitMs: o.lockWaitMs }, async () => {
    try {
      await checkPlanFiles(ctx, plan);
      // A scratch folder of this mount's own: the throwaway overlays (and a virtnbdbackup point's restore).
      record.scratch = await mkdtemp(join('/var/tmp', 'vmkeep-mount-'));
      await save();
      const scratch = record.scratch;
      let images: Array<{ disk: string; image: string }>;
      if (viaChain) {
        images = plan.disks.map((d) => ({ disk: d.target, image: join(plan.chainDir, d.sequence.at(-1)!) }));
      } else {
        const names = plan.disks.map((d) => d.target).join(', ');
        ctx.log.info(`${o.domain}: ${plan.point.id} is a virtnbdbackup point: restoring ${names} into ${scratch} first`);
        const restored = await restoreDiskImages(ctx, plan, (t) => join(scratch, `out-${t}`));
        images = plan.disks.map((d, i) => ({ disk: d.target, image: restored[i]!.path }));
      }
      // Names of this mount's own files in the state folder: one disk keeps the plain `<id>` names.
      const stem = (disk: string) => (one ? id : `${id}-${disk}`);
      for (const { disk, image } of images) {
        const exp: DiskExport = { disk, raw: join(o.stateDir, `${stem(disk)}.raw`), pidFile: join(o.stateDir, `${stem(disk)}.pid`) };
        record.exports.push(exp);
        await exportDisk(ctx, exp, image, join(scratch, `replay-${disk}.qcow2`), save);
        const what = `${disk} of ${plan.point.id}`;
        if (one) {
          const source = one.partition === undefined ? ({ kind: 'file', file: exp.raw } as const) : await partitionSource(ctx, exp, one.partition, what, save);
          await mountFilesystem(ctx, record, { path: mountpoint, disk, partition: one.partition }, source, save);
          continue;
        }
        skipped.push(...(await mountEveryFilesystem(ctx, record, exp, save)));
      }
      if (record.mounts.length === 0)
        throw new VmkeepError(
          'failure',
          `no disk of ${o.domain} at ${plan.point.id} holds a filesystem vmkeep can mount (${skipped.map(describeSkipped).join('; ')})`,
        );
      record.complete = true;
      await save();
    } catch (error) {
      await tearDown(ctx, record, o.stateDir).catch(() => undefined);
      throw error;
    }
  });
  return mountedResult(ctx, o, record, { point: plan.point.id, viaChain, skipped, cleaned });
}

/** What a finished mount reports: one disk's line, or --all-disks' list of mounts and what was left out. */
function mountedResult(
  ctx: AppContext,
  o: Extract<MountOptions, { action: 'mount' }>,
  record: MountRecord,
  r: { point: string; viaChain: boolean; skipped: SkippedFilesystem[]; cleaned: string[] },
): CommandResult {
  const { viaChain, skipped, cleaned } = r;
  const mountpoint = record.mountpoint;
  const one = o.disks.kind === 'one' ? o.disks : undefined;
  const how = viaChain ? 'the chain, through a qemu-storage-daemon FUSE export' : 'a scratch restore, through a qemu-storage-daemon FUSE export';
  const notReplayed = record.mounts.filter((m) => !m.journalReplayed);
  for (const m of notReplayed) ctx.log.warn(`${m.path}: the filesystem's journal was not replayed: what it shows may be stale`);
  const undo = formatShellCommand(['vmkeep', 'umount', mountpoint]);
  if (one) {
    const m = record.mounts[0]!;
    const replay = m.journalReplayed
      ? 'its journal replayed on a throwaway overlay (the backup is only read), so it shows what the guest had written'
      : 'its journal NOT replayed (it could not be mounted writable on a throwaway overlay): files the guest wrote last may show older contents';
    return {
      document: {
        action: 'mount',
        mountpoint,
        domain: o.domain,
        point: r.point,
        disk: m.disk,
        partition: one.partition ?? null,
        via: record.via,
        journalReplayed: m.journalReplayed,
        cleanedUp: cleaned,
      },
      text: `${r.point} ${m.disk}${one.partition ? ` partition ${one.partition}` : ''} of ${o.domain} is mounted read-only on ${mountpoint} (from ${how}), ${replay}; ${undo} undoes it\n`,
      outcome: 'ok',
    };
  }
  const listed = record.mounts.map((m) => `${m.path}${m.journalReplayed ? '' : ' (journal NOT replayed: may show older contents)'}`).join(', ');
  return {
    document: {
      action: 'mount',
      mountpoint,
      domain: o.domain,
      point: r.point,
      allDisks: true,
      via: record.via,
      mounts: record.mounts.map((m) => ({ path: m.path, disk: m.disk, partition: m.partition ?? null, journalReplayed: m.journalReplayed ?? false })),
      skipped,
      cleanedUp: cleaned,
    },
    text:
      `${r.point} of ${o.domain}: ${record.mounts.length} filesystem(s) mounted read-only under ${mountpoint} (from ${how}, journals replayed on throwaway overlays): ${listed}` +
      `${skipped.length > 0 ? `; not mounted: ${skipped.map(describeSkipped).join('; ')}` : ''}; ${undo} undoes all of it\n`,
    outcome: 'ok',
  };
}

function describeSkipped(s: SkippedFilesystem): string {
  return `${s.disk}${s.partition === null ? '' : ` partition ${s.partition}`}: ${s.reason}`;
}

/** The image under a throwaway overlay, exported as the raw file `exp.raw` by qemu-storage-daemon. */
async function exportDisk(ctx: AppContext, exp: DiskExport, image: string, overlay: string, save: () => Promise<void>): Promise<void> {
  // Every write (the journal replay) lands in this overlay; QEMU opens the point's images read-only.
  await ctx.qemuImg.createOverlay(overlay, image);
  await writeFile(exp.raw, '', { mode: 0o600 });
  await save();
  // --daemonize: returns once the export is up.
  await ctx.runner.run('qemu-storage-daemon', storageDaemonArgv(overlay, exp.raw, exp.pidFile, true), { timeoutMs: 60_000 });
  exp.daemonPid = Number((await readFile(exp.pidFile, 'utf8')).trim());
  await save();
}

/** Replay the journal, then mount read-only; the mount is in the record before it is tried. */
async function mountFilesystem(ctx: AppContext, record: MountRecord, m: FilesystemMount, source: FilesystemSource, save: () => Promise<void>): Promise<void> {
  record.mounts.push(m);
  await save();
  m.journalReplayed = await replayJournal(ctx, source, join(record.scratch!, replayDirName(m)));
  await save();
  await mountReadOnly(ctx, source, m.path, m.journalReplayed);
}

/**
 * --all-disks: each partition of the disk on MOUNTPOINT/<disk>-<N>, or the whole disk on
 * MOUNTPOINT/<disk> when it has no partition table. A partition or disk without a filesystem
 * mount can read (swap, LVM, an empty disk) is left out; answers those, with the reason.
 */
async function mountEveryFilesystem(ctx: AppContext, record: MountRecord, exp: DiskExport, save: () => Promise<void>): Promise<SkippedFilesystem[]> {
  const table = await readPartitionTable(ctx, exp.raw);
  const targets: Array<{ partition: number | undefined; source: FilesystemSource }> =
    table === undefined
      ? [{ partition: undefined, source: { kind: 'file', file: exp.raw } }]
      : table
          .filter((p) => !isContainerPartition(p))
          .map((p) => ({ partition: p.number, source: { kind: 'file', file: exp.raw, offset: p.offset, size: p.size } }));
  if (table !== undefined && targets.length === 0) return [{ disk: exp.disk, partition: null, reason: 'its partition table has no partitions' }];
  const skipped: SkippedFilesystem[] = [];
  for (const t of targets) {
    const path = join(record.mountpoint, t.partition === undefined ? exp.disk : `${exp.disk}-${t.partition}`);
    await mkdir(path, { mode: 0o755 });
    try {
      await mountFilesystem(ctx, record, { path, disk: exp.disk, partition: t.partition }, t.source, save);
    } catch (error) {
      // Only mount's own refusal means "no filesystem here"; anything else ends the run (and teardown undoes it).
      if (!(error instanceof ToolError)) throw error;
      // Not a filesystem mount reads: leave it out, and its folder with it.
      record.mounts.pop();
      await save();
      await rmdir(path).catch(() => undefined);
      skipped.push({ disk: exp.disk, partition: t.partition ?? null, reason: 'no filesystem vmkeep can mount (swap, LVM, encrypted or empty)' });
    }
  }
  return skipped;
}

/** The partition table of the exported disk (sfdisk reads MBR and GPT), or undefined where it reads none. */
async function readPartitionTable(ctx: AppContext, raw: string): Promise<PartitionEntry[] | undefined> {
  return ctx.runner.run('sfdisk', sfdiskJsonArgv(raw), { timeoutMs: 60_000 }).then(
    (r) => parsePartitionTable(r.stdout),
    () => undefined,
  );
}

/** Where a filesystem's replay mount goes, inside the mount's scratch folder. */
function replayDirName(m: FilesystemMount): string {
  return `replay-mnt-${m.disk}${m.partition === undefined ? '' : `-${m.partition}`}`;
}

/**
 * Partition N of the exported disk: its byte range from the partition table (sfdisk reads MBR
 * and GPT), mounted by offset, so no partition device is needed (loop drivers without partition
 * support make none). Where sfdisk reads no table, the kernel's own partition scan is the fallback.
 */
async function partitionSource(ctx: AppContext, exp: DiskExport, partition: number, what: string, save: () => Promise<void>): Promise<FilesystemSource> {
  const table = await readPartitionTable(ctx, exp.raw);
  if (table !== undefined) {
    const entry = table.find((p) => p.number === partition);
    if (!entry)
      throw new VmkeepError('failure', `${what} has no partition ${partition} (its partition table has ${table.map((p) => p.number).join(', ') || 'none'})`);
    return { kind: 'file', file: exp.raw, offset: entry.offset, size: entry.size };
  }
  const { stdout } = await ctx.runner.run('losetup', losetupAttachArgv(exp.raw), { timeoutMs: 60_000 });
  exp.loop = stdout.trim();
  await save();
  const device = `${exp.loop}p${partition}`;
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
  const what = record.allDisks ? `${record.mounts.length} filesystem(s) under ${mountpoint} unmounted, their folders removed` : `${mountpoint} unmounted`;
  return {
    document: { action: 'umount', mountpoint, point: record.point, unmounted: record.mounts.map((m) => m.path), cleanedUp: cleaned },
    text: `${what}; exports and loop devices gone\n`,
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
    const healthy =
      record.complete && record.mounts.every((m) => isMountedIn(info, m.path)) && (await everyAsync(record.exports, (e) => isDaemonUp(e.daemonPid)));
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
  // Without its daemon a filesystem cannot be read any more: only a lazy umount gets it off.
  const daemonsUp = await everyAsync(record.exports, (e) => isDaemonUp(e.daemonPid));
  // Replay mounts left by a vmkeep that died while mounting: off before the exports and their folder go.
  const scratchMounts = record.scratch ? mountPointsUnder(await mountinfo(), record.scratch) : [];
  for (const dir of scratchMounts) await ctx.runner.run('umount', umountArgv(dir, !daemonsUp), { timeoutMs: 60_000 });
  for (const m of [...record.mounts].reverse()) {
    if (isMountedIn(await mountinfo(), m.path)) await ctx.runner.run('umount', umountArgv(m.path, !daemonsUp), { timeoutMs: 60_000 });
    // --all-disks made these folders; rmdir leaves a folder that is not empty.
    if (record.allDisks && m.path !== record.mountpoint) await rmdir(m.path).catch(() => undefined);
  }
  for (const exp of [...record.exports].reverse()) {
    const loops = await ctx.runner.run('losetup', losetupListArgv(exp.raw), { timeoutMs: 30_000 }).then(
      (r) => parseLoopDevices(r.stdout),
      () => [],
    );
    for (const dev of new Set([...loops, ...(exp.loop ? [exp.loop] : [])])) {
      await ctx.runner.run('losetup', losetupDetachArgv(dev), { timeoutMs: 30_000 }).catch(() => undefined);
    }
    if (await isDaemonUp(exp.daemonPid)) {
      process.kill(exp.daemonPid!, 'SIGTERM');
      for (let i = 0; i < 100 && (await isStorageDaemon(exp.daemonPid!)); i += 1) await sleep(50);
      if (await isStorageDaemon(exp.daemonPid!)) process.kill(exp.daemonPid!, 'SIGKILL');
    }
    // A daemon killed hard leaves its FUSE mount on the raw file ("transport endpoint is not connected").
    if (isMountedIn(await mountinfo(), exp.raw)) await ctx.runner.run('umount', umountArgv(exp.raw, true), { timeoutMs: 30_000 });
    await rm(exp.raw, { force: true });
    await rm(exp.pidFile, { force: true });
  }
  if (record.allDisks) {
    // Folders of filesystems whose mounts were planned but not yet recorded when vmkeep died.
    for (const name of await readdir(record.mountpoint).catch(() => [])) await rmdir(join(record.mountpoint, name)).catch(() => undefined);
  }
  if (record.scratch) await rm(record.scratch, { recursive: true, force: true });
  await rm(recordFile(stateDir, record.id), { force: true });
}

async function readRecord(file: string): Promise<MountRecord | undefined> {
  try {
    const json: unknown = JSON.parse(await readFile(file, 'utf8'));
    const parsed = MountRecordSchema.safeParse(json);
    if (parsed.success) return parsed.data;
    const single = SingleDiskRecordSchema.safeParse(json);
    return single.success ? recordFromSingleDisk(single.data) : undefined;
  } catch {
    return undefined;
  }
}

async function everyAsync<T>(items: readonly T[], test: (item: T) => Promise<boolean>): Promise<boolean> {
  for (const item of items) if (!(await test(item))) return false;
  return true;
}

async function isDaemonUp(pid: number | undefined): Promise<boolean> {
  return pid !== undefined && isStorageDaemon(pid);
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
