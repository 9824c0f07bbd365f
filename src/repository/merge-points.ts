/**
 * Point-level prune: drop points of a chain by merging them into their child.
 *
 * Push chains (qcow2 point images) are merged as below. virtnbdbackup chains: the dropped points
 * must be incrementals (the full holds the whole disk and stays); per disk, the data files of
 * k..j and c are merged into one file that replaces c's (src/virtnbd/merge-streams.ts: the union
 * of their extents, the later data winning), checked (sound stream, right checkpoints, the same
 * ranges covered), and c's `checkpoints/<c>.xml` gets k-1 as its parent; both are recorded and
 * renamed like the push images. Finishing also takes the dropped names out of `<domain>.cpt`;
 * their `vmconfig.*.xml`, `checkpoints/*.xml` and qcow.json files go with their points.
 *
 * One merge (points k..j dropped into point c = j+1, which then rests on k-1 or stands alone):
 * 1. per disk, copy c's image to a hidden temp name in the chain folder and rebase the copy onto
 *    k-1's image (`qemu-img rebase`, safe mode: it gets every cluster where k..j gave data that
 *    k-1 does not), or flatten it when k is the full;
 * 2. verify each copy: `qemu-img compare` with c's image (the guest-visible content must be
 *    identical) and `qemu-img check`; fsync it; hash it;
 * 3. delete the dropped points' checkpoints in libvirt where they exist (their bitmaps merge
 *    into the parent; the newest point is never dropped, so the next incremental's stays);
 * 4. write the manifest with a `merging` record (the temp names and their hashes);
 * 5. rename each temp over c's image, fsync the folder;
 * 6. delete the dropped points' files, then write the manifest without them: c's files get
 *    their new size and sha256, c's parent is k-1 (or c becomes the full), a `merged` event.
 * A crash leaves each recorded point restorable, except between the renames of a multi-disk
 * merge (see docs/RETENTION.md); finishInterruptedMerges, run by the next prune or backup of the
 * domain, completes it. Fault points (tools.faults, tests only): merge-verified (after step 2),
 * merge-recorded (after step 4), merge-renamed-first (in step 5, one of several disks renamed),
 * merge-renamed (after step 5).
 */
import { constants } from 'node:fs';
import { copyFile, chmod, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FaultPoints } from '../app/context.js';
import type { QemuImgClient } from '../qemu/qemu-img.js';
import { readManifest, writeManifest, type ManifestFile } from './manifest.js';
import { applyMerge, type MergingRecord } from './merge-record.js';
import type { ChainView } from './chains.js';
import type { PointMerge, PrunePlan } from '../retention/types.js';
import type { Logger } from '../util/log.js';
import { checkFileDigest, computeFileDigests } from '../repository/file-digest.js';
import type { VirshClient } from '../virsh/client.js';
import { VmkeepError, messageOf, usageError } from '../errors.js';
import { checkMergedStream, mergeIncrementalStreams } from '../virtnbd/merge-streams.js';
import { parseCheckpointList, writeCheckpointFile } from '../virtnbd/backup-folder.js';

/** Temp names of merged images: hidden, not `.qcow2`, so no reader takes one for a point image. */
export const MERGE_TEMP_PREFIX = '.vmkeep-merge.';

export interface MergeTools {
  qemuImg: QemuImgClient;
  virsh: VirshClient;
  log: Logger;
  now: () => Date;
  /** Tests only: `merge-verified`, `merge-recorded`, `merge-renamed-first` (one disk of several renamed), `merge-renamed` (see AppContext.faults). */
  faults?: FaultPoints;
}

export interface MergeExecution {
  /** `<domain>/<chain>/<point>` of every dropped point. */
  merged: string[];
  failed: Array<{ chain: string; error: string }>;
}

/** Carry out the plan's merges, chain by chain, oldest merge first; a failed merge stops its chain. */
export async function executeMerges(tools: MergeTools, plan: PrunePlan, chains: ReadonlyMap<string, readonly ChainView[]>): Promise<MergeExecution> {
  const merged: string[] = [];
  const failed: MergeExecution['failed'] = [];
  for (const domain of plan.domains) {
    const stopped = new Set<string>();
    for (const merge of domain.merges) {
      const where = `${domain.domain}/${merge.chain}`;
      if (stopped.has(merge.chain)) continue;
      const view = (chains.get(domain.domain) ?? []).find((v) => v.folder === merge.chain);
      try {
        if (!view) throw new VmkeepError('failure', 'chain folder not found');
        await mergePoints(tools, view.dir, merge);
        merged.push(...merge.dropped.map((p) => `${where}/${p}`));
        tools.log.info(`${domain.domain}: merged ${merge.dropped.join(', ')} of ${merge.chain} into ${merge.into} (${merge.reasons.join('; ')})`);
      } catch (e) {
        stopped.add(merge.chain);
        failed.push({ chain: where, error: `merging ${merge.dropped.join(', ')} into ${merge.into}: ${messageOf(e)}` });
      }
    }
  }
  return { merged, failed };
}

/** One merge in one chain folder (steps 1 to 6 above). */
export async function mergePoints(tools: MergeTools, dir: string, merge: PointMerge): Promise<void> {
  const manifest = await readManifest(dir);
  if (!manifest) throw new VmkeepError('failure', `${dir} has no manifest`);
  if (manifest.running || manifest.merging) throw new VmkeepError('failure', `${dir} has a run or a merge that has not finished`);
  const ids = manifest.points.map((p) => p.checkpoint);
  const first = ids.indexOf(merge.dropped[0] ?? '');
  const c = ids.indexOf(merge.into);
  if (first < 0 || c !== first + merge.dropped.length || ids.slice(first, c).join() !== merge.dropped.join() || ids[first - 1] !== merge.newParent) {
    throw new VmkeepError('failure', `the manifest's points (${ids.join(', ')}) no longer match the plan`);
  }
  const into = manifest.points[c]!;
  const parent = first > 0 ? manifest.points[first - 1] : undefined;
  const record: MergingRecord = { dropped: [...merge.dropped], into: merge.into, ...(parent ? { newParent: parent.checkpoint } : {}), files: [] };
  const rewritten =
    manifest.engine === 'push' ? into.files.filter(isPointImage) : into.files.filter((f) => isStreamFile(f) || isCheckpointXml(f, into.checkpoint));
  try {
    if (manifest.engine === 'push') {
      for (const file of rewritten) {
        const base = parent?.files.find((f) => isPointImage(f) && f.disk === file.disk);
        if (parent && !base) throw new VmkeepError('failure', `${parent.checkpoint} has no image of disk ${file.disk ?? '?'}`);
        record.files.push(await writeMergedImage(tools.qemuImg, dir, file, base?.path));
      }
    } else {
      if (!parent) throw new VmkeepError('failure', `the full ${merge.dropped[0]} of a virtnbdbackup chain cannot be merged into its child`);
      const merged = manifest.points.slice(first, c + 1);
      for (const file of rewritten) {
        if (isStreamFile(file)) {
          const inputs = merged.map((p) => {
            const f = p.files.find((x) => isStreamFile(x) && x.disk === file.disk);
            if (!f) throw new VmkeepError('failure', `${p.checkpoint} has no data file of disk ${file.disk ?? '?'}`);
            return f.path;
          });
          record.files.push(await writeMergedStream(dir, inputs, file));
        } else {
          record.files.push(await writeReparentedCheckpoint(dir, file, parent.checkpoint));
        }
      }
    }
    tools.faults?.after('merge-verified');
    await deleteCheckpoints(tools, manifest.domain, merge.dropped);
  } catch (e) {
    for (const f of rewritten) await rm(join(dir, tempName(f.path)), { force: true });
    throw e;
  }
  // From here on the temps are the merge's: a failure leaves them for the next prune to finish.
  await writeManifest(dir, { ...manifest, merging: record });
  tools.faults?.after('merge-recorded');
  await finishMerge(tools, dir, record);
}

/**
 * Next to `file` (the child's image), a verified, fsynced copy that rests on `base` (a relative
 * name in the same folder) or on nothing, and shows the same guest content.
 */
async function writeMergedImage(qemuImg: QemuImgClient, dir: string, file: ManifestFile, base: string | undefined): Promise<MergingRecord['files'][number]> {
  const source = join(dir, file.path);
  const temp = tempName(file.path);
  const target = join(dir, temp);
  await rm(target, { force: true });
  // A reflink where the filesystem has them; a plain copy elsewhere.
  await copyFile(source, target, constants.COPYFILE_FICLONE);
  await chmod(target, 0o600);
  if (base === undefined) await qemuImg.flatten(target);
  else await qemuImg.rebase(target, base);
  if (!(await qemuImg.identical(target, source)))
    throw new VmkeepError('failure', `the merged copy of ${file.path} does not show the same content (qemu-img compare)`);
  const check = await qemuImg.check(target);
  if (!check.ok) throw new VmkeepError('failure', `the merged copy of ${file.path} fails qemu-img check`);
  await fsyncPath(target);
  const [[digest], size] = await Promise.all([computeFileDigests([target]), stat(target).then((s) => s.size)]);
  return { path: file.path, temp, size, ...digest! };
}

/**
 * Next to the child's data file, the merged data file of `inputs` (the dropped points' and the
 * child's data files of one disk, oldest first), checked against them, fsynced and hashed.
 */
async function writeMergedStream(dir: string, inputs: readonly string[], file: ManifestFile): Promise<MergingRecord['files'][number]> {
  const temp = tempName(file.path);
  const target = join(dir, temp);
  await rm(target, { force: true });
  const paths = inputs.map((p) => join(dir, p));
  await mergeIncrementalStreams(paths, target);
  const problems = await checkMergedStream(paths, target);
  if (problems.length > 0) throw new VmkeepError('failure', `the merged copy of ${file.path} fails its check: ${problems[0]}`);
  await keepTimes(join(dir, file.path), target);
  const [[digest], size] = await Promise.all([computeFileDigests([target]), stat(target).then((s) => s.size)]);
  return { path: file.path, temp, size, ...digest! };
}

/**
 * The child's saved checkpoint XML with its new parent: virtnbdbackup redefines checkpoints from
 * these files when libvirt lost them, and a parent that no longer exists would fail that.
 */
async function writeReparentedCheckpoint(dir: string, file: ManifestFile, parent: string): Promise<MergingRecord['files'][number]> {
  const text = await readFile(join(dir, file.path), 'utf8');
  const pattern = /(<parent>\s*<name>)[^<]*(<\/name>)/;
  if (!pattern.test(text)) throw new VmkeepError('failure', `${file.path} names no parent checkpoint`);
  const next = text.replace(pattern, (_m, open: string, close: string) => `${open}${escapeXml(parent)}${close}`);
  const temp = tempName(file.path);
  const target = join(dir, temp);
  await writeFile(target, next, { mode: 0o600 });
  await keepTimes(join(dir, file.path), target);
  await fsyncPath(target);
  const [[digest], size] = await Promise.all([computeFileDigests([target]), stat(target).then((s) => s.size)]);
  return { path: file.path, temp, size, ...digest! };
}

/** `<domain>.cpt` without the dropped checkpoints (a no-op when a crashed run already did it). */
async function dropFromCheckpointList(dir: string, domain: string, dropped: readonly string[]): Promise<void> {
  const path = join(dir, `${domain}.cpt`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const names = parseCheckpointList(text);
  if (typeof names === 'string') throw new VmkeepError('failure', `${domain}.cpt: ${names}`);
  if (!names.some((n) => dropped.includes(n))) return;
  await writeCheckpointFile(
    dir,
    domain,
    names.filter((n) => !dropped.includes(n)),
  );
}

/**
 * Refuse a merge whose inputs are not what the backup recorded: every file of the points up to
 * the child is hashed and compared with the manifest. Throws a usage error naming the first file
 * that differs (nothing has been changed yet).
 */
export async function checkMergeInputs(dir: string, merge: Pick<PointMerge, 'into' | 'chain'>): Promise<void> {
  const manifest = await readManifest(dir);
  if (!manifest) return;
  const upTo = manifest.points.findIndex((p) => p.checkpoint === merge.into);
  const seen = new Set<string>();
  for (const point of manifest.points.slice(0, upTo + 1)) {
    for (const f of point.files) {
      if (seen.has(f.path)) continue;
      seen.add(f.path);
      let problem: string | undefined;
      try {
        problem = await checkFileDigest(join(dir, f.path), f);
      } catch (e) {
        throw usageError(`${merge.chain}/${f.path} cannot be read (${messageOf(e)}): its points are not merged; run vmkeep verify`);
      }
      if (problem !== undefined) {
        throw usageError(`${merge.chain}/${f.path} does not match its recorded checksum: its points are not merged; run vmkeep verify`);
      }
    }
  }
}

/** Steps 5 and 6: temps over the child's images, the manifest without the dropped points, their files gone. */
async function finishMerge(tools: MergeTools, dir: string, record: MergingRecord): Promise<void> {
  for (const [i, f] of record.files.entries()) {
    if (i === 1) tools.faults?.after('merge-renamed-first');
    try {
      await rename(join(dir, f.temp), join(dir, f.path));
    } catch (e) {
      // Renamed before a crash: the temp is gone and the image must hold the merged content.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if ((await checkFileDigest(join(dir, f.path), f)) !== undefined) {
        throw new VmkeepError(
          'failure',
          `${f.path}: neither the merged copy ${f.temp} nor the merged image is there; the merge cannot be finished (run vmkeep verify)`,
        );
      }
    }
  }
  await fsyncPath(dir);
  tools.faults?.after('merge-renamed');
  const manifest = await readManifest(dir);
  if (!manifest) throw new VmkeepError('failure', `${dir} lost its manifest during a merge`);
  if (manifest.engine === 'virtnbdbackup') await dropFromCheckpointList(dir, manifest.domain, record.dropped);
  const { next, remove } = applyMerge(manifest, record, tools.now());
  // Readers already see the merged chain (no temp left, see resolvePendingMerge), so the dropped
  // files can go before the record does: a crash in between leaves nothing unrecorded behind.
  for (const path of remove) await rm(join(dir, path), { force: true });
  await writeManifest(dir, next);
}

/**
 * Finish what a crashed prune left in a push chain folder: a recorded merge is completed (its
 * images were verified before the record was written); temps without a record are deleted.
 * Returns what it did, one line each.
 */
export async function finishInterruptedMerges(tools: MergeTools, dir: string): Promise<string[]> {
  const done: string[] = [];
  const manifest = await readManifest(dir);
  if (!manifest) return done;
  if (manifest.merging) {
    await finishMerge(tools, dir, manifest.merging);
    done.push(`finished merging ${manifest.merging.dropped.join(', ')} into ${manifest.merging.into}`);
  }
  for (const name of await readdir(dir)) {
    if (!name.startsWith(MERGE_TEMP_PREFIX)) continue;
    await rm(join(dir, name), { force: true });
    done.push(`removed ${name}, left by an interrupted merge`);
  }
  return done;
}

/** In the chain folder itself for files in subfolders too (checkpoints/): only that folder is searched for leftovers. */
function tempName(path: string): string {
  return `${MERGE_TEMP_PREFIX}${path.replaceAll('/', '%')}.partial`;
}

function isPointImage(f: ManifestFile): boolean {
  return f.kind === 'data' && f.path.endsWith('.qcow2');
}

function isStreamFile(f: ManifestFile): boolean {
  return f.kind === 'data' && f.path.endsWith('.data');
}

function isCheckpointXml(f: ManifestFile, checkpoint: string): boolean {
  return f.kind === 'checkpoint' && f.path === `checkpoints/${checkpoint}.xml`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Delete the dropped points' checkpoints that libvirt still has; a domain that is gone has none. */
async function deleteCheckpoints(tools: MergeTools, domain: string, dropped: readonly string[]): Promise<void> {
  let existing: string[];
  try {
    existing = await tools.virsh.checkpointNames(domain);
  } catch (e) {
    tools.log.debug(`${domain}: no checkpoints to delete (${messageOf(e)})`);
    return;
  }
  for (const name of dropped.filter((d) => existing.includes(d))) await tools.virsh.deleteCheckpoint(domain, name);
}

/**
 * Give the replacement the original's modification time: virtnbdrestore without `--sequence`
 * applies a folder's data files in modification-time order, so a merged file must keep its place.
 */
async function keepTimes(original: string, replacement: string): Promise<void> {
  const s = await stat(original);
  await utimes(replacement, s.atime, s.mtime);
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
