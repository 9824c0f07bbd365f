/**
 * The checks of one chain folder that need no restore: every recorded file (present, size,
 * sha256), every data file's stream structure, the links between points (manifest, data file
 * headers, `<domain>.cpt`, checkpoints/*.xml), leftovers of interrupted runs and unrecorded data.
 * A chain of qcow2 point images (push engine) instead gets `qemu-img check` on every image and
 * its backing links checked: each image's backing file is the previous point's image of the
 * same disk, by a relative name inside the chain folder.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QemuImgClient } from '../qemu/qemu-img.js';
import { checkChainFiles, describeFileProblem, isImageFile } from '../points/check-files.js';
import type { RestoreChain } from '../points/types.js';
import { parseCheckpointXml } from '../virsh/parse-checkpoint-xml.js';
import { readBackupFolder, type BackupFolder } from '../virtnbd/backup-folder.js';
import type { VerifyProblem } from './broken-points.js';
import { messageOf } from '../errors.js';

/** The note on a VMSnap folder; verify --adopt replaces it once the folder has checksums. */
export const NO_MANIFEST_NOTE = 'VMSnap folder without a vmkeep manifest: no checksums are recorded, structure checked only';

export interface ChainCheck {
  problems: VerifyProblem[];
  filesChecked: number;
  notes: string[];
}

/** Is this a chain of qcow2 point images (push engine) rather than virtnbdbackup streams? */
export function isImageChain(chain: RestoreChain): boolean {
  return chain.points.some((p) => p.files.some((f) => f.kind === 'data' && isImageFile(f.path)));
}

/** Check one chain (no restore). */
export async function checkChain(chain: RestoreChain, signal?: AbortSignal, qemuImg?: QemuImgClient): Promise<ChainCheck> {
  const notes: string[] = [];
  const problems: VerifyProblem[] = [];
  const owner = new Map<string, string>();
  for (const p of chain.points) for (const f of p.files) owner.set(f.path, p.checkpoint);
  const files = chain.points.flatMap((p) => p.files);

  const imageChain = isImageChain(chain);
  // The images' qemu-img checks are processes of their own: they run while the checksum threads
  // hash (on a second core they cost no wall time), and what they say of a file the file checks
  // find missing or unreadable is dropped, as if they had skipped it.
  const images = imageChain && qemuImg ? settledImageProblems(chain, qemuImg, signal) : undefined;
  const fileProblems = await checkChainFiles(chain.dir, files, { structure: true, signal });
  for (const fp of fileProblems) problems.push({ kind: fp.kind, file: fp.file, checkpoint: owner.get(fp.file), message: describeFileProblem(fp) });
  if (imageChain) {
    problems.push(...orderProblems(chain));
    if (images) {
      const bad = new Set(fileProblems.filter((f) => f.kind === 'missing' || f.kind === 'unreadable').map((f) => f.file));
      problems.push(...(await images).filter((p) => p.file === undefined || !bad.has(p.file)));
    } else notes.push('qemu-img checks of the images were not run');
    const recorded = new Set(files.map((f) => f.path));
    const names = await readdir(chain.dir);
    for (const name of names.filter(isImageFile)) {
      if (!recorded.has(name))
        problems.push({ kind: 'unrecorded', file: name, message: `${name} belongs to no recorded restore point (a run that did not finish)` });
    }
    // Temp names of prune --merge-points (src/repository/merge-points.ts): a merge that did not finish.
    for (const name of names.filter((n) => n.startsWith('.vmkeep-merge.'))) {
      problems.push({
        kind: 'leftover',
        file: name,
        message: `${name} is left by an interrupted prune --merge-points (the next prune finishes or removes it)`,
      });
    }
    // A chain read as broken only because files are missing or resized: the file checks above name each one.
    if (chain.state === 'broken' && chain.damaged !== true)
      problems.push({ kind: 'state', message: `the chain is marked broken: ${chain.stateReason ?? 'no reason recorded'}` });
    if (chain.state === 'in-progress') problems.push({ kind: 'state', message: chain.stateReason ?? 'a backup run has not finished' });
    return { problems, filesChecked: new Set(files.map((f) => f.path)).size, notes };
  }

  let folder: BackupFolder | undefined;
  try {
    folder = await readBackupFolder(chain.dir, { headers: true });
  } catch (e) {
    problems.push({ kind: 'state', message: `the chain folder cannot be read: ${messageOf(e)}` });
  }
  if (folder) {
    problems.push(...(chain.legacy ? legacyFolderProblems(chain, folder) : linkProblems(chain, folder)));
    problems.push(...(await checkpointXmlProblems(chain)));
    for (const partial of folder.partials) {
      problems.push({ kind: 'leftover', file: partial.name, message: `${partial.name} is left by an interrupted backup run (the next backup removes it)` });
    }
    if (!chain.legacy) {
      const recorded = new Set(files.map((f) => f.path));
      for (const d of folder.dataFiles) {
        if (!recorded.has(d.name))
          problems.push({ kind: 'unrecorded', file: d.name, message: `${d.name} belongs to no recorded restore point (a run that did not finish)` });
      }
    }
  }
  if (chain.state === 'broken' && chain.damaged !== true)
    problems.push({ kind: 'state', message: `the chain is marked broken: ${chain.stateReason ?? 'no reason recorded'}` });
  if (chain.state === 'in-progress' && !chain.legacy) problems.push({ kind: 'state', message: chain.stateReason ?? 'a backup run has not finished' });
  if (chain.legacy) notes.push(NO_MANIFEST_NOTE);
  return { problems, filesChecked: new Set(files.map((f) => f.path)).size, notes };
}

/** Levels and parents as the manifest records them: a full first, each point the child of the one before. */
function orderProblems(chain: RestoreChain): VerifyProblem[] {
  const out: VerifyProblem[] = [];
  chain.points.forEach((p, i) => {
    const expectedParent = i === 0 ? undefined : chain.points[i - 1]!.checkpoint;
    if (i === 0 && p.level !== 'full')
      out.push({ kind: 'link', checkpoint: p.checkpoint, message: `the chain starts with ${p.checkpoint}, a ${p.level} backup` });
    if (i > 0 && p.level !== 'inc')
      out.push({ kind: 'link', checkpoint: p.checkpoint, message: `${p.checkpoint} is a ${p.level} backup in the middle of the chain` });
    if (p.parent !== expectedParent) {
      out.push({
        kind: 'link',
        checkpoint: p.checkpoint,
        message: `${p.checkpoint} records parent ${p.parent ?? '(none)'}, but the point before it is ${expectedParent ?? '(none)'}`,
      });
    }
  });
  return out;
}

/** imageProblems started now, with a rejection held until it is awaited (no unhandled rejection meanwhile). */
function settledImageProblems(chain: RestoreChain, qemuImg: QemuImgClient, signal: AbortSignal | undefined): Promise<VerifyProblem[]> {
  const started = imageProblems(chain, qemuImg, signal);
  started.catch(() => undefined);
  return started;
}

/**
 * `qemu-img check` on every point image, and its backing link: the previous point's image of
 * the same disk, named relative to the chain folder (a path would tie the chain to one place, or
 * read data from outside it). The caller drops what it says of files already found missing or
 * unreadable.
 */
async function imageProblems(chain: RestoreChain, qemuImg: QemuImgClient, signal?: AbortSignal): Promise<VerifyProblem[]> {
  const out: VerifyProblem[] = [];
  const previous = new Map<string, string>();
  for (const p of chain.points) {
    for (const f of p.files.filter((x) => x.kind === 'data' && isImageFile(x.path))) {
      // Cancelled (the checksums it runs beside stop too): no further qemu-img process, and never
      // a partial answer (the chain would be recorded as checked).
      signal?.throwIfAborted();
      const disk = f.disk ?? '';
      const expected = previous.get(disk);
      previous.set(disk, f.path);
      const path = join(chain.dir, f.path);
      try {
        // A point image is at rest (no QEMU holds it): its header, read directly, names its backing file.
        const info = await qemuImg.infoAtRest(path, signal);
        if (info.backingFilename !== expected) {
          const where = info.backingFilename?.includes('/') ? ' (a path, not a name inside the chain folder)' : '';
          out.push({
            kind: 'link',
            file: f.path,
            checkpoint: p.checkpoint,
            message: `${f.path} has backing file ${info.backingFilename ?? '(none)'}${where}; the point before it is ${expected ?? '(none: a full)'}`,
          });
        }
        const check = await qemuImg.check(path, signal);
        if (!check.ok) {
          out.push({
            kind: 'link',
            file: f.path,
            checkpoint: p.checkpoint,
            message: `${f.path} fails qemu-img check: ${check.corruptions} corruptions, ${check.checkErrors} check errors`,
          });
        }
      } catch (e) {
        // A qemu-img stopped by the cancel says nothing of the image.
        signal?.throwIfAborted();
        out.push({ kind: 'unreadable', file: f.path, checkpoint: p.checkpoint, message: `${f.path} cannot be read by qemu-img: ${messageOf(e)}` });
      }
    }
  }
  return out;
}

/** Manifest order vs the data files' own headers and virtnbdbackup's `.cpt`. */
function linkProblems(chain: RestoreChain, folder: BackupFolder): VerifyProblem[] {
  const out: VerifyProblem[] = orderProblems(chain);
  chain.points.forEach((p, i) => {
    const expectedParent = i === 0 ? undefined : chain.points[i - 1]!.checkpoint;
    for (const f of p.files.filter((x) => x.kind === 'data')) {
      const meta = folder.dataFiles.find((d) => d.name === f.path)?.meta;
      if (!meta) continue; // missing or unreadable: already a file problem
      if (meta.checkpointName !== p.checkpoint) {
        out.push({
          kind: 'link',
          file: f.path,
          checkpoint: p.checkpoint,
          message: `${f.path} holds checkpoint ${meta.checkpointName}, the manifest says ${p.checkpoint}`,
        });
      }
      if ((meta.parentCheckpoint || undefined) !== expectedParent) {
        out.push({
          kind: 'link',
          file: f.path,
          checkpoint: p.checkpoint,
          message: `${f.path} is relative to ${meta.parentCheckpoint || '(nothing: a full)'}, the point before it is ${expectedParent ?? '(none)'}`,
        });
      }
      if (f.disk !== undefined && meta.diskName !== f.disk) {
        out.push({ kind: 'link', file: f.path, checkpoint: p.checkpoint, message: `${f.path} holds disk ${meta.diskName}, the manifest says ${f.disk}` });
      }
    }
  });
  const cpt = folder.checkpoints;
  const recorded = chain.points.map((p) => p.checkpoint);
  if (cpt === null) {
    if (recorded.length > 0)
      out.push({
        kind: 'chain-record',
        file: `${chain.domain}.cpt`,
        message: `${chain.domain}.cpt is missing or unreadable: the next incremental backup cannot continue this chain`,
      });
  } else {
    const n = Math.min(cpt.length, recorded.length);
    for (let i = 0; i < n; i++) {
      if (cpt[i] !== recorded[i]) {
        out.push({
          kind: 'chain-record',
          file: `${chain.domain}.cpt`,
          message: `${chain.domain}.cpt lists ${cpt.join(', ')}; the manifest records ${recorded.join(', ')}`,
        });
        return out;
      }
    }
    if (cpt.length < recorded.length) {
      out.push({ kind: 'chain-record', file: `${chain.domain}.cpt`, message: `${chain.domain}.cpt lacks ${recorded.slice(cpt.length).join(', ')}` });
    } else if (cpt.length > recorded.length) {
      out.push({
        kind: 'unrecorded',
        file: `${chain.domain}.cpt`,
        message: `${chain.domain}.cpt lists ${cpt.slice(recorded.length).join(', ')}, which no finished run recorded`,
      });
    }
  }
  return out;
}

/** Each point's checkpoints/<name>.xml names the point before it as parent. */
async function checkpointXmlProblems(chain: RestoreChain): Promise<VerifyProblem[]> {
  const out: VerifyProblem[] = [];
  for (const [i, p] of chain.points.entries()) {
    const rel = `checkpoints/${p.checkpoint}.xml`;
    if (!p.files.some((f) => f.path === rel)) continue;
    let text: string;
    try {
      text = await readFile(join(chain.dir, rel), 'utf8');
    } catch {
      continue; // a file problem already says so
    }
    const expected = i === 0 ? undefined : chain.points[i - 1]!.checkpoint;
    try {
      const cp = parseCheckpointXml(text);
      if (cp.name !== p.checkpoint) out.push({ kind: 'chain-record', file: rel, checkpoint: p.checkpoint, message: `${rel} names checkpoint ${cp.name}` });
      // The full's checkpoint may have a parent from an earlier chain; only incrementals are held to it.
      if (i > 0 && cp.parent !== expected) {
        out.push({
          kind: 'chain-record',
          file: rel,
          checkpoint: p.checkpoint,
          message: `${rel} names parent ${cp.parent ?? '(none)'}, the point before it is ${expected}`,
        });
      }
    } catch (e) {
      out.push({ kind: 'chain-record', file: rel, checkpoint: p.checkpoint, message: `${rel} is not a checkpoint XML: ${messageOf(e)}` });
    }
  }
  return out;
}

/** A VMSnap folder: what virtnbdbackup's own records say, attributed to a file when they name one. */
function legacyFolderProblems(chain: RestoreChain, folder: BackupFolder): VerifyProblem[] {
  const names = new Set([...folder.dataFiles, ...folder.partials].map((f) => f.name));
  const owner = new Map<string, string>();
  for (const p of chain.points) for (const f of p.files) owner.set(f.path, p.checkpoint);
  return folder.problems
    .filter((m) => !m.startsWith('leftover '))
    .map((message) => {
      const first = /^(\S+?):/.exec(message)?.[1];
      const file = first !== undefined && names.has(first) ? first : undefined;
      // Header disagreements inside a data file break the points that apply it.
      return { kind: file ? ('link' as const) : ('chain-record' as const), file, checkpoint: file ? owner.get(file) : undefined, message };
    });
}
