/**
 * `vmkeep mount` / `vmkeep umount`: a restore point's disk, read-only, as files.
 *
 * This machine kind has no /dev/nbd, so `qemu-nbd -c` is out. What works: qemu-storage-daemon
 * opens the point's qcow2 image (and its backing chain) read-only and exports it through FUSE as
 * a raw file; a read-only loop mount of that file (`ro,loop,noload`; or a `losetup --partscan`
 * device for `--partition N`) shows the filesystem. A virtnbdbackup point is first restored into
 * a scratch folder, and that image is exported.
 *
 * Every mount has a record in the state folder (/run/vmkeep/mounts, VMKEEP_MOUNT_DIR moves it),
 * written before anything starts. A record whose vmkeep died before finishing, or whose mount or
 * daemon is gone, is stale: the next mount or umount tears down whatever of it is left (mount,
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
import { isImageFile } from '../restore/check-files.js';
import { readRestoreChains } from '../restore/chains.js';
import { checkPlanFiles, restoreDiskImages } from '../restore/execute-restore.js';
import { planRestore } from '../restore/plan-restore.js';
import type { PointSelector } from '../restore/points.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { formatShellCommand } from '../util/shell-quote.js';
import {
  isMountedIn,
  losetupAttachArgv,
  losetupDetachArgv,
  losetupListArgv,
  mountDeviceArgv,
  mountFileArgv,
  parseLoopDevices,
  storageDaemonArgv,
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
});
type MountRecord = z.infer<typeof MountRecordSchema>;

export type MountOptions =
  | { action: 'mount'; domain: string; output: string; selector: PointSelector; mountpoint: string; disk: string | undefined; partition: number | undefined; stateDir: string; lockWaitMs: number }
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

async function mountPoint(ctx: AppContext, o: Extract<MountOptions, { action: 'mount' }>, cleaned: string[]): Promise<CommandResult> {
  const mountpoint = resolve(o.mountpoint);
  const st = await stat(mountpoint).catch(() => undefined);
  if (!st?.isDirectory()) throw usageError(`mount point ${mountpoint} is not an existing folder`);
  if (isMountedIn(await mountinfo(), mountpoint)) throw usageError(`${mountpoint} is mounted already (${formatShellCommand(['vmkeep', 'umount', mountpoint])} if vmkeep mounted it)`);
  if ((await readdir(mountpoint)).length > 0) throw usageError(`mount point ${mountpoint} is not empty`);

  const chains = await readRestoreChains(o.output, o.domain);
  if (chains.length === 0) throw usageError(`no backups of domain ${o.domain} in ${o.output}`);
  const first = planRestore(chains, o.domain, { selector: o.selector, disks: o.disk === undefined ? undefined : [o.disk], destination: { kind: 'scratch' } }, ctx.now());
  const disk = o.disk ?? first.disks[0]!.target;
  const plan = o.disk === undefined ? planRestore(chains, o.domain, { selector: { kind: 'at', value: first.point.id }, disks: [disk], destination: { kind: 'scratch' } }, ctx.now()) : first;
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
    let image: string;
    if (viaChain) {
      image = join(plan.chainDir, sequence.at(-1)!);
    } else {
      record.scratch = await mkdtemp(join('/var/tmp', 'vmkeep-mount-'));
      await save();
      ctx.log.info(`${o.domain}: ${plan.point.id} is a virtnbdbackup point: restoring ${disk} into ${record.scratch} first`);
      image = (await restoreDiskImages(ctx, plan, (t) => join(record.scratch!, `out-${t}`)))[0]!.path;
    }
    await writeFile(record.raw, '', { mode: 0o600 });
    // --daemonize: returns once the export is up.
    await ctx.runner.run('qemu-storage-daemon', storageDaemonArgv(image, record.raw, record.pidFile), { timeoutMs: 60_000 });
    record.daemonPid = Number((await readFile(record.pidFile, 'utf8')).trim());
    await save();
    if (o.partition !== undefined) {
      const { stdout } = await ctx.runner.run('losetup', losetupAttachArgv(record.raw), { timeoutMs: 60_000 });
      record.loop = stdout.trim();
      await save();
      const device = `${record.loop}p${o.partition}`;
      if (!(await waitForFile(device, 5_000))) throw new VmkeepError('failure', `${disk} of ${plan.point.id} has no partition ${o.partition} (${device} did not appear)`);
      await mountReadOnly(ctx, (noload) => mountDeviceArgv(device, mountpoint, noload));
    } else {
      await mountReadOnly(ctx, (noload) => mountFileArgv(record.raw, mountpoint, noload));
    }
    record.complete = true;
    await save();
  } catch (error) {
    await tearDown(ctx, record, o.stateDir).catch(() => undefined);
    throw error;
  } finally {
    lock?.release();
  }
  const how = viaChain ? 'the chain, read-only through a qemu-storage-daemon FUSE export' : 'a scratch restore, exported read-only through qemu-storage-daemon FUSE';
  const document = { action: 'mount', mountpoint, domain: o.domain, point: plan.point.id, disk, partition: o.partition ?? null, via: record.via, cleanedUp: cleaned };
  return { document, text: `${plan.point.id} ${disk}${o.partition ? ` partition ${o.partition}` : ''} of ${o.domain} is mounted read-only on ${mountpoint} (from ${how}); ${formatShellCommand(['vmkeep', 'umount', mountpoint])} undoes it\n`, outcome: 'ok' };
}

/** `ro,...,noload` first (ext3/4 without journal replay); filesystems that do not know noload without it. */
async function mountReadOnly(ctx: AppContext, argv: (noload: boolean) => string[]): Promise<void> {
  try {
    await ctx.runner.run('mount', argv(true), { timeoutMs: 60_000 });
  } catch {
    await ctx.runner.run('mount', argv(false), { timeoutMs: 60_000 });
  }
}

async function unmount(ctx: AppContext, target: string, stateDir: string, cleaned: string[]): Promise<CommandResult> {
  const mountpoint = resolve(target);
  const record = await readRecord(recordFile(stateDir, idOf(mountpoint)));
  if (!record) {
    if (cleaned.includes(mountpoint)) {
      return { document: { action: 'umount', mountpoint, cleanedUp: cleaned }, text: `${mountpoint} was a broken vmkeep mount; it is cleaned up\n`, outcome: 'ok' };
    }
    throw usageError(`${mountpoint} is not a vmkeep mount`);
  }
  await tearDown(ctx, record, stateDir);
  return { document: { action: 'umount', mountpoint, point: record.point, cleanedUp: cleaned }, text: `${mountpoint} unmounted; export and loop device gone\n`, outcome: 'ok' };
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
    ctx.log.info(`cleaning up the broken vmkeep mount on ${record.mountpoint} (${record.complete ? 'its export or mount is gone' : 'vmkeep stopped while mounting it'})`);
    await tearDown(ctx, record, stateDir);
    cleaned.push(record.mountpoint);
  }
  return cleaned;
}

/** Undo a mount in reverse order, each step only if its piece is there. */
async function tearDown(ctx: AppContext, record: MountRecord, stateDir: string): Promise<void> {
  const daemonUp = record.daemonPid !== undefined && (await isStorageDaemon(record.daemonPid));
  if (isMountedIn(await mountinfo(), record.mountpoint)) {
    // Without its daemon the filesystem cannot be read any more: only a lazy umount gets it off.
    await ctx.runner.run('umount', umountArgv(record.mountpoint, !daemonUp), { timeoutMs: 60_000 });
  }
  const loops = await ctx.runner.run('losetup', losetupListArgv(record.raw), { timeoutMs: 30_000 }).then((r) => parseLoopDevices(r.stdout), () => []);
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
    if (await stat(path).then(() => true, () => false)) return true;
    await sleep(50);
  }
  return false;
}
