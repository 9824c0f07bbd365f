/**
 * Carry out a restore plan into a folder: check the files, restore each disk through
 * virtnbdrestore into a temporary folder inside the target, write the adjusted domain XML, move
 * everything into place without overwriting anything, and define the domain when asked.
 * On any failure, everything this run created is removed again.
 */
import { chmod, link, mkdir, mkdtemp, readdir, readFile, rm, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { AppContext } from '../app/context.js';
import { VmkeepError, usageError } from '../errors.js';
import { checkChainFiles, describeFileProblem, isImageFile, type FileProblem } from './check-files.js';
import { adjustDomainXml } from './domain-xml.js';
import { openChainToQemu } from '../repository/qemu-access.js';
import { readManifest } from '../repository/manifest.js';
import type { RestorePlan } from './plan-restore.js';
import { runVirtnbdrestore, stageInput, waitForImageRelease } from './virtnbdrestore.js';
import { isSparseStreamFile } from '../virtnbd/stream-format.js';

/** A restored image. */
export interface RestoredImage {
  target: string;
  path: string;
  /** Data files applied, in order (relative to the chain folder). */
  sequence: string[];
}

export interface DirectoryRestoreResult {
  images: RestoredImage[];
  xml: string | undefined;
  defined: string | undefined;
  domainName: string;
  removedDisks: string[];
  removedMacs: string[];
  notes: string[];
  checkedFiles: number;
  durationMs: number;
}

/** Refuse bad files with one error that lists every problem found (exit 2). */
export function badFilesError(plan: Pick<RestorePlan, 'point'>, problems: readonly FileProblem[]): VmkeepError {
  const listed = problems.length === 1 ? describeFileProblem(problems[0]!) : `${problems.length} problems: ${problems.map(describeFileProblem).join('; ')}`;
  return new VmkeepError('failure', `refusing to restore ${plan.point.id}: ${listed}`, {
    detail: problems.map(describeFileProblem).join('\n'),
  });
}

/** Check every file the plan reads; throws badFilesError when one does not match. */
export async function checkPlanFiles(ctx: AppContext, plan: RestorePlan): Promise<number> {
  const problems = await checkChainFiles(plan.chainDir, plan.check, { structure: plan.legacy, signal: ctx.signal });
  if (problems.length > 0) {
    // Not damage: a merge a crashed prune left between two disks' renames (docs/RETENTION.md).
    const merging = plan.legacy ? undefined : (await readManifest(plan.chainDir).catch(() => undefined))?.merging;
    if (merging) {
      throw new VmkeepError(
        'failure',
        `refusing to restore ${plan.point.id} for now: an interrupted prune left ${merging.dropped.join(', ')} half merged into ${merging.into} in ${plan.chainDir}; nothing is lost: run vmkeep prune --merge-points (or the next vmkeep backup) for ${plan.point.domain} to finish the merge, then restore`,
        { detail: problems.map(describeFileProblem).join('\n') },
      );
    }
    throw badFilesError(plan, problems);
  }
  return new Set(plan.check.map((f) => f.path)).size;
}

/**
 * Is `dir` an empty folder, or absent inside an existing folder (`parent`, by default the one
 * above it)? Throws a usage error otherwise. Only the last folder is ever created: a missing
 * parent is a typo or an unmounted disk, and writing images under / would fill the root file system.
 */
export async function assertEmptyTarget(dir: string, options: { flag?: string; parent?: string } = {}): Promise<'absent' | 'empty'> {
  const flag = options.flag ?? '--to';
  let entries: string[];
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw usageError(`${flag} ${dir} exists and is not a folder`);
    entries = await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
    const parent = options.parent ?? dirname(dir);
    const p = await stat(parent).catch(() => undefined);
    if (!p)
      throw usageError(
        `${flag} ${dir} cannot be created: its parent folder ${parent} does not exist (vmkeep creates only the last folder; is the disk mounted?)`,
      );
    if (!p.isDirectory()) throw usageError(`${flag} ${dir} cannot be created: ${parent} is not a folder`);
    return 'absent';
  }
  if (entries.length > 0) throw usageError(`${flag} ${dir} is not empty (${entries.length} entries): restore never overwrites, give an empty or new folder`);
  return 'empty';
}

/** Refuse early when the target file system cannot even hold the full backups' data. */
async function checkFreeSpace(ctx: AppContext, plan: RestorePlan, dir: string): Promise<void> {
  let free: number;
  try {
    const s = await statfs(dir);
    free = s.bavail * s.bsize;
  } catch {
    return; // no answer is no reason to refuse
  }
  let least = 0;
  let most = 0;
  for (const d of plan.disks) {
    for (const [i, rel] of d.sequence.entries()) {
      const size = plan.check.find((f) => f.path === rel)?.size ?? (await stat(join(plan.chainDir, rel)).catch(() => ({ size: 0 }))).size;
      most += size;
      if (i === 0) least += size;
    }
  }
  if (free < least) {
    throw new VmkeepError('failure', `not enough free space in ${dir}: ${free} bytes free, the full backups alone hold ${least} bytes of data`);
  }
  if (free < most) ctx.log.warn(`${dir} has ${free} bytes free; the restore may need up to ${most}`);
}

/**
 * Restore each disk of the plan. `outputFor(target)` names a folder that does not exist yet:
 * virtnbdrestore creates it and writes the image there as `<target>`. Returns the image paths.
 */
export async function restoreDiskImages(ctx: AppContext, plan: RestorePlan, outputFor: (target: string) => string): Promise<RestoredImage[]> {
  // Short socket paths: a unix socket path holds at most 107 bytes, a target folder can be longer.
  const workDir = await mkdtemp(join('/var/tmp', 'vmkeep-restore-'));
  try {
    const images: RestoredImage[] = [];
    for (const disk of plan.disks) {
      ctx.signal.throwIfAborted();
      if (disk.sequence.every(isImageFile)) {
        images.push(await flattenImageChain(ctx, plan, disk.target, disk.sequence, outputFor(disk.target)));
        continue;
      }
      if (disk.sequence.length === 1 && /\.copy\.data$/.test(disk.sequence[0]!) && !(await isSparseStreamFile(join(plan.chainDir, disk.sequence[0]!)))) {
        images.push(await copyRawImage(ctx, plan, disk.target, disk.sequence[0]!, outputFor(disk.target)));
        continue;
      }
      const stage = join(workDir, `in-${disk.target}`);
      const sequence = await stageInput(stage, plan.chainDir, disk.sequence, disk.qcowInfo);
      const out = outputFor(disk.target);
      await mkdir(dirname(out), { recursive: true });
      ctx.log.info(`${plan.domain}: restoring ${disk.target} from ${disk.sequence.join(', ')}`);
      await runVirtnbdrestore(
        ctx.runner,
        {
          input: stage,
          output: out,
          sequence,
          socketFile: join(workDir, `${disk.target}.sock`),
          logFile: join(workDir, `${disk.target}.log`),
          uri: ctx.virsh.uri,
        },
        {
          workDir,
          signal: ctx.signal,
          env: ctx.env,
          onLog: (line) => ctx.log.debug(`virtnbdrestore ${disk.target}: ${line}`),
          onEnded: (message) => ctx.log.warn(`${plan.domain}: ${message}`),
        },
      );
      const path = join(out, disk.target);
      await waitForImageRelease(ctx.runner, path);
      images.push({ target: disk.target, path, sequence: disk.sequence });
    }
    return images;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * A push chain's point: each image's backing file must be the previous point's image of the
 * chain, by its relative name, so that nothing outside the checked files is read; then
 * `qemu-img convert` flattens the chain up to the point into one standalone qcow2 `<out>/<target>`.
 */
async function flattenImageChain(ctx: AppContext, plan: RestorePlan, target: string, sequence: readonly string[], out: string): Promise<RestoredImage> {
  for (const [i, rel] of sequence.entries()) {
    const info = await ctx.qemuImg.info(join(plan.chainDir, rel));
    const expected = i === 0 ? undefined : sequence[i - 1];
    if (info.backingFilename !== expected) {
      throw new VmkeepError(
        'failure',
        `refusing to restore ${plan.point.id}: ${rel} has backing file ${info.backingFilename ?? 'none'}, the chain needs ${expected ?? 'none'}`,
      );
    }
  }
  await mkdir(out, { recursive: true });
  const path = join(out, target);
  if (plan.keepChain) {
    // A new overlay on the point's image: nothing copied; QEMU must reach the chain to use it.
    ctx.log.info(`${plan.domain}: restoring ${target} as an overlay on ${sequence.at(-1)!}`);
    await openChainToQemu(plan.chainDir);
    await ctx.qemuImg.createOverlay(path, join(plan.chainDir, sequence.at(-1)!));
    return { target, path, sequence: [...sequence] };
  }
  ctx.log.info(`${plan.domain}: restoring ${target} by flattening ${sequence.join(' <- ')}`);
  await ctx.qemuImg.convert(join(plan.chainDir, sequence.at(-1)!), path, 'qcow2', ctx.signal);
  return { target, path, sequence: [...sequence] };
}

/**
 * A raw disk backed up with --raw: virtnbdbackup kept it as a plain raw image, which
 * virtnbdrestore cannot replay with a sequence; it is copied as it is (sparse, named raw).
 */
async function copyRawImage(ctx: AppContext, plan: RestorePlan, target: string, file: string, out: string): Promise<RestoredImage> {
  await mkdir(out, { recursive: true });
  const path = join(out, target);
  ctx.log.info(`${plan.domain}: restoring ${target} by copying the raw image ${file}`);
  await ctx.qemuImg.convert(join(plan.chainDir, file), path, 'raw', ctx.signal, 'raw');
  return { target, path, sequence: [file] };
}

/** Restore into a folder (plan.directory). The caller holds the output lock. */
export async function executeDirectoryRestore(ctx: AppContext, plan: RestorePlan): Promise<DirectoryRestoreResult> {
  const dest = plan.directory;
  if (!dest) throw new VmkeepError('failure', 'not a restore into a folder');
  const t0 = Date.now();
  const dir = resolve(dest.dir);
  const existed = (await assertEmptyTarget(dir)) === 'empty';
  if (dest.define && (await ctx.virsh.listDomainNames()).includes(dest.domainName)) {
    throw usageError(`a domain named ${dest.domainName} already exists: choose another --define NAME`);
  }
  const checkedFiles = await checkPlanFiles(ctx, plan);
  let xmlText: string | undefined;
  if (plan.config) xmlText = await readFile(join(plan.chainDir, plan.config), 'utf8');

  const created: string[] = [];
  let tempDir: string | undefined;
  try {
    if (!existed) {
      // 0711: QEMU (libvirt-qemu) must reach the images of a defined domain, not list the folder.
      // Not recursive: assertEmptyTarget saw the parent folder.
      await mkdir(dir, { mode: 0o711 });
      created.push(dir);
    }
    await checkFreeSpace(ctx, plan, dir);
    tempDir = await mkdtemp(join(dir, '.vmkeep-restore-'));
    const restored = await restoreDiskImages(ctx, plan, (target) => join(tempDir!, `out-${target}`));

    // Every final file is prepared in the temp folder first, then linked into place.
    const moves: Array<{ from: string; to: string }> = [];
    const images: RestoredImage[] = [];
    for (const r of restored) {
      const final = dest.images.find((i) => i.target === r.target)!.path;
      // A guest's disk: readable by root only, as the backups are (libvirt's dynamic ownership
      // hands it to QEMU when a domain defined on it starts).
      await chmod(r.path, 0o600);
      moves.push({ from: r.path, to: final });
      images.push({ ...r, path: final });
    }
    let adjusted: ReturnType<typeof adjustDomainXml> | undefined;
    if (xmlText !== undefined && dest.xmlPath) {
      adjusted = adjustDomainXml(xmlText, {
        name: dest.domainName,
        images: new Map(images.map((i) => [i.target, i.path])),
        checkpoint: plan.point.checkpoint,
        // The new domain's serial log and other file character devices go beside its disks:
        // sharing the original's file would mix (or truncate) the original's log.
        chardevDir: dir,
      });
      const tmpXml = join(tempDir, 'domain.xml');
      await writeFile(tmpXml, adjusted.xml, { mode: 0o600 });
      moves.push({ from: tmpXml, to: dest.xmlPath });
    }
    for (const m of moves) {
      // link() fails when the name exists: nothing that appeared meanwhile is overwritten.
      await link(m.from, m.to);
      created.push(m.to);
      await unlink(m.from);
    }
    await rm(tempDir, { recursive: true, force: true });
    tempDir = undefined;

    let defined: string | undefined;
    if (dest.define && dest.xmlPath) {
      await ctx.virsh.define(dest.xmlPath);
      defined = dest.domainName;
      ctx.log.info(`${plan.domain}: defined domain ${defined}`);
    }
    return {
      images,
      xml: adjusted ? dest.xmlPath : undefined,
      defined,
      domainName: dest.domainName,
      removedDisks: adjusted?.removedDisks ?? [],
      removedMacs: adjusted?.removedMacs ?? [],
      notes: adjusted?.notes ?? [],
      checkedFiles,
      durationMs: Date.now() - t0,
    };
  } catch (error) {
    if (tempDir) await rm(tempDir, { recursive: true, force: true }).catch(() => undefined);
    for (const path of [...created].reverse()) await rm(path, { recursive: true, force: true }).catch(() => undefined);
    if (ctx.signal.aborted) throw new VmkeepError('interrupted', `restore of ${plan.point.id} interrupted; nothing was left in ${dir}`, { cause: error });
    throw error;
  }
}
