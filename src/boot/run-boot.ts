/**
 * `vmkeep boot`: run a domain straight from a push chain's restore point. Each disk gets a fresh
 * qcow2 overlay (in a folder of its own) whose backing file is the point's image in the
 * repository; QEMU opens the backup images read-only, so nothing is copied and nothing in the
 * repository changes. `--finish` makes the overlays stand alone (blockpull while running, a safe
 * rebase when shut off); `--discard` removes the domain and its overlays.
 */
import { chmod, chown, mkdir, mkdtemp, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { VmkeepError, usageError } from '../errors.js';
import { withLocks } from '../repository/locks.js';
import { openChainToQemu } from '../repository/qemu-access.js';
import { isImageFile } from '../points/check-files.js';
import { readRestoreChains } from '../points/chains.js';
import { adjustDomainXml } from '../points/domain-xml.js';
import { assertEmptyTarget, checkPlanFiles } from '../points/execute-restore.js';
import { planRestore } from '../points/plan-restore.js';
import type { PointSelector } from '../points/points.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { formatShellCommand } from '../util/shell-quote.js';
import { missingDataBytes } from '../qemu/parse-qemu-img.js';
import { DEFAULT_BOOT_ROOT } from './boot-root.js';

export const BOOT_RECORD = 'vmkeep-boot.json';

const BootRecordSchema = z.object({
  format: z.literal('vmkeep-boot/1'),
  name: z.string(),
  domain: z.string(),
  point: z.string(),
  chainDir: z.string(),
  createdAt: z.string(),
  disks: z.array(z.object({ target: z.string(), overlay: z.string(), backing: z.string() })),
  // Records written before these fields existed have none of them.
  output: z.string().optional(),
  /** Files the domain's character devices write (serial log, ...), in the boot folder. */
  chardevFiles: z.array(z.string()).optional(),
  /** Owner and mode of the repository's folders and images as they were before boot changed them. */
  repositoryModes: z.array(z.object({ path: z.string(), uid: z.number().int(), gid: z.number().int(), mode: z.number().int() })).optional(),
});
export type BootRecord = z.infer<typeof BootRecordSchema>;

export type BootOptions =
  | { action: 'start'; domain: string; output: string; selector: PointSelector; name: string; dir: string; lockWaitMs: number }
  | { action: 'finish'; name: string; lockWaitMs: number }
  | { action: 'discard'; name: string; lockWaitMs: number };

export async function runBoot(ctx: AppContext, options: BootOptions): Promise<CommandResult> {
  if (options.action === 'start') return bootPoint(ctx, options);
  if (options.action === 'finish') return finishBoot(ctx, options.name, options.lockWaitMs);
  return discardBoot(ctx, options.name, options.lockWaitMs);
}

// eslint-disable-next-line max-lines-per-function -- folder being restructured by the restore-point move; split it there
async function bootPoint(ctx: AppContext, o: Extract<BootOptions, { action: 'start' }>): Promise<CommandResult> {
  const t0 = Date.now();
  const chains = await readRestoreChains(o.output, o.domain);
  if (chains.length === 0) throw usageError(`no backups of domain ${o.domain} in ${o.output}`);
  const plan = planRestore(chains, o.domain, { selector: o.selector, disks: undefined, destination: { kind: 'scratch' } }, ctx.now());
  if (!plan.disks.every((d) => d.sequence.every(isImageFile))) {
    throw usageError(
      `${plan.point.id} is a virtnbdbackup point: boot runs push chains (backup --engine push); restore it with --to DIR and start that instead`,
    );
  }
  const savedConfig = plan.config;
  if (!savedConfig) throw new VmkeepError('failure', `${plan.point.id} has no saved domain XML to boot from`);
  if ((await ctx.virsh.listDomainNames()).includes(o.name)) throw usageError(`a domain named ${o.name} already exists: choose another --name`);
  const dir = resolve(o.dir);
  // The default folder's parent (vmkeep-boot) is vmkeep's own and made on first use; any other
  // --dir is created only inside an existing folder.
  const existed =
    (await assertEmptyTarget(dir, { flag: '--dir', parent: dirname(dir) === DEFAULT_BOOT_ROOT ? dirname(DEFAULT_BOOT_ROOT) : dirname(dir) })) === 'empty';

  // The repository's folders are opened to QEMU and put back under the lock, also on failure.
  return withLocks(ctx, { output: o.output, mode: 'read', waitMs: o.lockWaitMs }, async () => {
    let defined = false;
    let repositoryModes: RepositoryMode[] = [];
    let chardevFiles: string[] = [];
    try {
      await checkPlanFiles(ctx, plan);
      const savedXml = await readFile(join(plan.chainDir, savedConfig), 'utf8');
      // QEMU (libvirt-qemu) reads the backing images in the repository: the folders above them
      // must be traversable, not listable, and libvirt gives the images to QEMU's user. Discard
      // puts back what was there before.
      const images = [...new Set(plan.disks.flatMap((d) => d.sequence.map((f) => join(plan.chainDir, f))))];
      repositoryModes = await readModes([dirname(dirname(plan.chainDir)), dirname(plan.chainDir), plan.chainDir, ...images]);
      await openChainToQemu(plan.chainDir);
      await mkdir(dir, { recursive: true, mode: 0o711 });
      await chmod(dir, 0o711);
      const disks = plan.disks.map((d) => ({ target: d.target, overlay: join(dir, `${d.target}.qcow2`), backing: join(plan.chainDir, d.sequence.at(-1)!) }));
      for (const d of disks) await ctx.qemuImg.createOverlay(d.overlay, d.backing);
      const adjusted = adjustDomainXml(savedXml, {
        name: o.name,
        images: new Map(disks.map((d) => [d.target, d.overlay])),
        checkpoint: plan.point.checkpoint,
        chardevDir: dir,
      });
      chardevFiles = adjusted.chardevFiles;
      const record: BootRecord = {
        format: 'vmkeep-boot/1',
        name: o.name,
        domain: o.domain,
        point: plan.point.id,
        chainDir: plan.chainDir,
        createdAt: ctx.now().toISOString(),
        disks,
        output: o.output,
        chardevFiles,
        repositoryModes,
      };
      await writeFileAtomic(join(dir, BOOT_RECORD), `${JSON.stringify(record, null, 2)}\n`);
      const xmlDir = await mkdtemp(join('/var/tmp', 'vmkeep-boot-'));
      try {
        const xmlFile = join(xmlDir, 'domain.xml');
        await writeFile(xmlFile, adjusted.xml, { mode: 0o600 });
        await ctx.virsh.define(xmlFile);
        defined = true;
      } finally {
        await rm(xmlDir, { recursive: true, force: true });
      }
      await ctx.virsh.start(o.name);
      ctx.log.info(`${o.name}: running from ${plan.point.id} of ${o.domain} (overlays in ${dir})`);
      const document = { action: 'boot', name: o.name, domain: o.domain, point: plan.point.id, dir, disks, notes: adjusted.notes, durationMs: Date.now() - t0 };
      const lines = [`${o.name} runs from ${plan.point.id} of ${o.domain} in ${((Date.now() - t0) / 1000).toFixed(1)} s`];
      for (const d of disks) lines.push(`  ${d.target}: ${d.overlay} (on ${d.backing})`);
      lines.push(
        `  keep it: ${formatShellCommand(['vmkeep', 'boot', '--finish', o.name])}; drop it: ${formatShellCommand(['vmkeep', 'boot', '--discard', o.name])}`,
      );
      return { document, text: `${lines.join('\n')}\n`, outcome: 'ok' };
    } catch (error) {
      if (defined) {
        await ctx.virsh.destroy(o.name).catch(() => undefined);
        await ctx.virsh.undefine(o.name).catch(() => undefined);
      }
      await restoreModes(ctx, repositoryModes);
      // Only what this run made: the overlays, logs and the record (and the folder, if it made that too).
      for (const d of plan.disks) await rm(join(dir, `${d.target}.qcow2`), { force: true }).catch(() => undefined);
      for (const f of chardevFiles) await rm(f, { force: true }).catch(() => undefined);
      await rm(join(dir, BOOT_RECORD), { force: true }).catch(() => undefined);
      if (!existed) await rmdir(dir).catch(() => undefined);
      throw error;
    }
  });
}

/** The boot record of a domain vmkeep booted, found next to its disks' overlays. */
async function readBootRecord(ctx: AppContext, name: string): Promise<BootRecord> {
  let def;
  try {
    def = await ctx.virsh.domain(name, true);
  } catch (e) {
    throw new VmkeepError('failure', `domain ${name} is not defined`, { cause: e });
  }
  for (const disk of def.disks) {
    if (!disk.path) continue;
    const file = join(dirname(disk.path), BOOT_RECORD);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    const parsed = BootRecordSchema.safeParse(JSON.parse(text));
    if (parsed.success && parsed.data.name === name) return parsed.data;
  }
  throw usageError(`${name} is not a domain vmkeep boot started (or it was finished and stands on its own now)`);
}

async function finishBoot(ctx: AppContext, name: string, lockWaitMs: number): Promise<CommandResult> {
  const t0 = Date.now();
  const record = await readBootRecord(ctx, name);
  const state = await ctx.virsh.domainState(name);
  const live = state === 'running' || state === 'paused';
  const how = live ? 'virsh blockpull (while it runs), then flushed by QEMU' : 'qemu-img rebase onto nothing (shut off)';
  const disks: Array<{ target: string; image: string; equalsPoint: boolean }> = [];
  for (const d of record.disks) {
    if (live) {
      await ctx.virsh.blockPull(name, d.target);
      // QEMU drops the backing link from the image header as the pull ends, but the tables that
      // say where the copied clusters are stay in its cache: until a flush, a crash or power cut
      // leaves an image with no backing file and no data.
      await ctx.virsh.flushDisk(name, d.overlay);
    } else {
      await ctx.qemuImg.flatten(d.overlay);
    }
    disks.push({ target: d.target, image: d.overlay, equalsPoint: await checkStandsAlone(ctx, d, how) });
  }
  // The images no longer read the backup: its folders and images get their owners and modes back.
  await restoreRepositoryModes(ctx, record, lockWaitMs);
  // Without its record the domain is no longer vmkeep's to discard.
  await rm(join(dirname(record.disks[0]!.overlay), BOOT_RECORD), { force: true });
  const document = { action: 'finish', name, state, how, point: record.point, disks, durationMs: Date.now() - t0 };
  const lines = [`${name} stands on its own images now (${how}); checked from the files on disk:`];
  for (const d of disks) {
    lines.push(
      `  ${d.target}: ${d.image}: ${d.equalsPoint ? `identical to ${record.point} of ${record.domain}` : `holds all of ${record.point} of ${record.domain}, and what the guest wrote since it booted`}`,
    );
  }
  return { document, text: `${lines.join('\n')}\n`, outcome: 'ok' };
}

/**
 * Read the finished image from disk, as a crash would leave it: no backing file, every cluster
 * where the point has data allocated in the image itself, and (answered) whether it equals the
 * point byte for byte. It differs exactly where the guest wrote since boot.
 */
async function checkStandsAlone(ctx: AppContext, d: BootRecord['disks'][number], how: string): Promise<boolean> {
  const info = await ctx.qemuImg.info(d.overlay);
  if (info.backingFilename) throw new VmkeepError('failure', `${d.overlay} still has backing file ${info.backingFilename} after ${how}`);
  const missing = missingDataBytes(await ctx.qemuImg.mapExtents(d.backing), await ctx.qemuImg.mapExtents(d.overlay));
  if (missing > 0) {
    throw new VmkeepError(
      'failure',
      `${d.overlay} lacks ${missing} bytes of the backup's data after ${how}: it does not stand alone; keep the domain running and run boot --finish again, or discard it`,
    );
  }
  return ctx.qemuImg.identical(d.overlay, d.backing);
}

async function discardBoot(ctx: AppContext, name: string, lockWaitMs: number): Promise<CommandResult> {
  const record = await readBootRecord(ctx, name);
  const state = await ctx.virsh.domainState(name);
  if (state !== 'shut off') await ctx.virsh.destroy(name);
  await ctx.virsh.undefine(name);
  const dir = dirname(record.disks[0]!.overlay);
  for (const d of record.disks) await rm(d.overlay, { force: true });
  for (const f of record.chardevFiles ?? []) await rm(f, { force: true });
  await restoreRepositoryModes(ctx, record, lockWaitMs);
  await rm(join(dir, BOOT_RECORD), { force: true });
  // The folder goes when nothing else is in it.
  await rmdir(dir).catch(() => undefined);
  const document = {
    action: 'discard',
    name,
    removed: [...record.disks.map((d) => d.overlay), ...(record.chardevFiles ?? [])],
    restoredModes: (record.repositoryModes ?? []).map((m) => m.path),
  };
  return {
    document,
    text: `${name} is gone with its overlays (${record.disks.map((d) => d.overlay).join(', ')}); the backup is as it was, with its owners and modes\n`,
    outcome: 'ok',
  };
}

/** Under the output folder's lock: a backup running now may need the folders open to QEMU. */
async function restoreRepositoryModes(ctx: AppContext, record: BootRecord, lockWaitMs: number): Promise<void> {
  const { output, repositoryModes: modes } = record;
  if (!output || !modes?.length) return;
  await withLocks(ctx, { output, mode: 'read', waitMs: lockWaitMs }, () => restoreModes(ctx, modes));
}

type RepositoryMode = NonNullable<BootRecord['repositoryModes']>[number];

async function readModes(paths: readonly string[]): Promise<RepositoryMode[]> {
  const modes: RepositoryMode[] = [];
  for (const path of paths) {
    const st = await stat(path);
    modes.push({ path, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 });
  }
  return modes;
}

/** Put owners and modes back; a file gone since (pruned) is skipped, any other failure is said. */
async function restoreModes(ctx: AppContext, modes: readonly RepositoryMode[]): Promise<void> {
  // Files first, then folders from the deepest up: the order they were read in, reversed.
  for (const m of [...modes].reverse()) {
    try {
      await chown(m.path, m.uid, m.gid);
      await chmod(m.path, m.mode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      ctx.log.warn(`could not put back owner ${m.uid}:${m.gid} and mode ${m.mode.toString(8)} of ${m.path}: ${(e as Error).message}`);
    }
  }
}
