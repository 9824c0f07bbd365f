/**
 * Check chain files against what the manifest recorded (present, size, sha256) and, for data
 * files, their stream structure. virtnbdrestore 1.9.15 restores a flipped byte silently with exit
 * 0, so restore checks first and verify checks everything.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { checkFileDigest, checkFileDigests, hasDigest, type FileDigest } from '../repository/file-digest.js';
import { inspectDataFile, isSparseStreamFile } from '../virtnbd/stream-format.js';
import type { ChainFile } from './types.js';
import { messageOf } from '../errors.js';

export type FileProblemKind = 'missing' | 'size' | 'checksum' | 'stream' | 'unreadable';

/** One thing wrong with one file. */
export interface FileProblem {
  /** Path relative to the chain folder. */
  file: string;
  kind: FileProblemKind;
  /** A predicate for the file: "is missing", "has sha256 …, the manifest recorded …". */
  message: string;
}

/** "vda.full.data is missing". */
export function describeFileProblem(p: FileProblem): string {
  return `${p.file} ${p.message}`;
}

export interface CheckFilesOptions {
  /** Also parse data files as virtnbdbackup streams (always done when no checksum is recorded). */
  structure: boolean;
  signal?: AbortSignal;
}

/** Check each file once; returns every problem found (empty: all good). */
export async function checkChainFiles(chainDir: string, files: readonly ChainFile[], options: CheckFilesOptions): Promise<FileProblem[]> {
  const checked: FileCheck[] = [];
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) continue;
    seen.add(f.path);
    options.signal?.throwIfAborted();
    checked.push(await checkFile(chainDir, f, options));
  }
  await checkDigests(checked, options);
  return checked.flatMap((c) => c.problems);
}

/** One file's problems so far, and the digest check left to do for all files at once. */
interface FileCheck {
  file: string;
  problems: FileProblem[];
  digest?: { path: string; recorded: FileDigest; size: number };
}

/**
 * The digest checks of every file of the chain in one pool of threads (a chain of small
 * incrementals is hashed on every core too). When a file cannot be read the pool stops: then each
 * file is checked alone, so the one that cannot be read is named and the others still checked.
 */
async function checkDigests(checked: FileCheck[], options: CheckFilesOptions): Promise<void> {
  const pending = checked.filter((c) => c.digest !== undefined);
  if (pending.length === 0) return;
  let mismatches: Array<string | undefined> | undefined;
  try {
    mismatches = await checkFileDigests(
      pending.map((c) => c.digest!),
      { signal: options.signal },
    );
  } catch (e) {
    if (options.signal?.aborted) throw e;
  }
  for (const [i, c] of pending.entries()) {
    const { path, recorded } = c.digest!;
    let mismatch: string | undefined;
    try {
      mismatch = mismatches ? mismatches[i] : await checkFileDigest(path, recorded, { signal: options.signal });
    } catch (e) {
      if (options.signal?.aborted) throw e;
      c.problems.push({ file: c.file, kind: 'unreadable', message: `could not be read: ${messageOf(e)}` });
      continue;
    }
    if (mismatch !== undefined) c.problems.push({ file: c.file, kind: 'checksum', message: mismatch });
  }
}

async function checkFile(chainDir: string, f: ChainFile, options: CheckFilesOptions): Promise<FileCheck> {
  const path = join(chainDir, f.path);
  const out: FileProblem[] = [];
  const done = (digest?: FileCheck['digest']): FileCheck => ({ file: f.path, problems: out, ...(digest ? { digest } : {}) });
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) return { file: f.path, problems: [{ file: f.path, kind: 'missing', message: 'is not a regular file' }] };
    size = s.size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    out.push({
      file: f.path,
      kind: code === 'ENOENT' ? 'missing' : 'unreadable',
      message: code === 'ENOENT' ? 'is missing' : `is unreadable (${code ?? String(e)})`,
    });
    return done();
  }
  if (f.size !== undefined && size !== f.size) {
    out.push({ file: f.path, kind: 'size', message: `is ${size} bytes, the manifest recorded ${f.size}` });
  }
  // Stream structure is virtnbdbackup's; a qcow2 point image (push chains) is checked by sha256 here, by qemu-img in verify.
  // A raw disk's copy (`--raw`) is a plain raw image, not a stream: its sha256 is all there is to check.
  const rawCopy = f.kind === 'data' && f.path.endsWith('.copy.data') && !(await isSparseStreamFile(path).catch(() => true));
  const recorded: FileDigest = { sha256: f.sha256, chunks: f.chunks };
  const parse = f.kind === 'data' && !isImageFile(f.path) && !rawCopy && (options.structure || !hasDigest(recorded));
  if (!parse) return done(hasDigest(recorded) ? { path, recorded, size } : undefined);
  try {
    // A whole-file digest is computed in the same pass as the stream check; chunks with the others.
    const whole = f.chunks === undefined && f.sha256 !== undefined;
    const report = await inspectDataFile(path, { sha256: whole, signal: options.signal, maxProblems: 5 });
    for (const p of report.problems) out.push({ file: f.path, kind: 'stream', message: `is not a sound virtnbdbackup stream: ${p}` });
    if (whole && report.sha256 !== undefined && report.sha256 !== f.sha256) {
      out.push({
        file: f.path,
        kind: 'checksum',
        message: `has sha256 ${report.sha256.slice(0, 12)}…, the manifest recorded ${f.sha256!.slice(0, 12)}… (it changed after the backup)`,
      });
    }
  } catch (e) {
    if (options.signal?.aborted) throw e;
    out.push({ file: f.path, kind: 'unreadable', message: `could not be read: ${messageOf(e)}` });
    return done();
  }
  return done(f.chunks ? { path, recorded, size } : undefined);
}

/** Is this data file a qcow2 image of a push chain (not a virtnbdbackup stream)? */
export function isImageFile(path: string): boolean {
  return path.endsWith('.qcow2');
}
