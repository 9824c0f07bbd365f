/**
 * Restore one restore point of a virtnbdbackup chain folder with virtnbdrestore itself and
 * compare it with a reference copy: an independent check of what vmkeep wrote, kept even once
 * `vmkeep restore` exists (a bug in vmkeep's restore must not hide a bug in its backup).
 *
 * Nothing here reads vmkeep's manifest: the file sequence comes from virtnbdbackup's file names
 * (`vda.full.data`, `vda.inc.virtnbdbackup.N.data`), and the chain links are checked in the
 * streams' own headers (`virtnbdrestore --action dump`). The order is always given explicitly
 * with `--sequence`, because virtnbdrestore otherwise applies files in modification-time order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VmkeepError } from '../../src/errors.js';
import { createExecaRunner, type Runner } from '../../src/runner/runner.js';

const runner: Runner = createExecaRunner();

export interface RestorePointRequest {
  /** The chain folder (OUTPUT/<domain>/<chain>). */
  chainDir: string;
  /** Disk target, e.g. vda. */
  disk: string;
  /** The restore point: virtnbdbackup.0 is the full, virtnbdbackup.N the Nth incremental. */
  checkpoint: string;
  /** A folder that does not exist yet; virtnbdrestore creates it and writes `<disk>` into it. */
  targetDir: string;
  /**
   * Take the points up to `checkpoint` from virtnbdbackup's own `<domain>.cpt` instead of
   * counting `virtnbdbackup.0..N` (a chain thinned by merges has gaps in its names).
   */
  fromCpt?: boolean;
}

/** One data file's stream header, as `virtnbdrestore --action dump` prints it. */
export interface StreamHeader {
  file: string;
  checkpointName: string;
  parentCheckpoint: string;
  incremental: boolean;
}

/** The checkpoints whose data files rebuild `checkpoint`, oldest first: counted, or read from the folder's `.cpt`. */
function pointsUpTo(chainDir: string, checkpoint: string, fromCpt: boolean): string[] {
  if (fromCpt) {
    const cpt = fs.readdirSync(chainDir).filter((f) => f.endsWith('.cpt'));
    if (cpt.length !== 1) throw new VmkeepError('failure', `${chainDir} holds ${cpt.length} .cpt files, expected one`);
    const names = JSON.parse(fs.readFileSync(path.join(chainDir, cpt[0]!), 'utf8')) as string[];
    const upTo = names.indexOf(checkpoint);
    if (upTo < 0) throw new VmkeepError('failure', `${checkpoint} is not in ${cpt[0]} (${names.join(', ')})`);
    return names.slice(0, upTo + 1);
  }
  const m = /^virtnbdbackup\.(\d+)$/.exec(checkpoint);
  if (!m) throw new VmkeepError('usage', `not a virtnbdbackup checkpoint name: ${checkpoint}`);
  return Array.from({ length: Number(m[1]) + 1 }, (_, i) => `virtnbdbackup.${i}`);
}

/** The data files that rebuild `checkpoint` of `disk`, oldest first. */
export function restoreSequence(chainDir: string, disk: string, checkpoint: string, fromCpt = false): string[] {
  const files = pointsUpTo(chainDir, checkpoint, fromCpt).map((n, i) => (i === 0 ? `${disk}.full.data` : `${disk}.inc.${n}.data`));
  for (const f of files) {
    if (!fs.existsSync(path.join(chainDir, f))) {
      throw new VmkeepError('failure', `${f} is missing from ${chainDir} (has ${fs.readdirSync(chainDir).join(', ')})`);
    }
  }
  return files;
}

/** The stream headers of `files`, read by virtnbdrestore (not by vmkeep's stream reader). */
export async function readStreamHeaders(chainDir: string, files: readonly string[]): Promise<StreamHeader[]> {
  const logDir = fs.mkdtempSync('/var/tmp/vmkeep-restore-log-');
  try {
    const { stdout, stderr } = await runner.run(
      'virtnbdrestore',
      ['--action', 'dump', '--input', chainDir, '--output', 'dump', '--sequence', files.join(','), '--logfile', path.join(logDir, 'dump.log')],
      { timeoutMs: 120_000 },
    );
    // `--action dump` prints a JSON list of the headers on stdout, one per file, in sequence order.
    const parsed = parseJsonOr(stdout, () => {
      throw new VmkeepError('failure', 'virtnbdrestore --action dump did not print JSON', { detail: `${stdout}\n${stderr}` });
    });
    if (!Array.isArray(parsed) || parsed.length !== files.length) {
      throw new VmkeepError('failure', `virtnbdrestore dump showed ${Array.isArray(parsed) ? parsed.length : 0} headers for ${files.length} files`, {
        detail: stdout,
      });
    }
    return files.map((file, i) => {
      const h = parsed[i] as Record<string, unknown>;
      return {
        file,
        checkpointName: String(h['checkpointName']),
        parentCheckpoint: String(h['parentCheckpoint'] ?? ''),
        incremental: h['incremental'] === true,
      };
    });
  } finally {
    fs.rmSync(logDir, { recursive: true, force: true });
  }
}

function parseJsonOr(text: string, onError: () => never): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return onError();
  }
}

/**
 * Restore a point into `targetDir/<disk>` (qcow2) and return that path. Before restoring,
 * checks that each stream names the checkpoint its file name says and links to the previous one.
 */
export async function restorePoint(req: RestorePointRequest): Promise<string> {
  const names = pointsUpTo(req.chainDir, req.checkpoint, req.fromCpt === true);
  const files = restoreSequence(req.chainDir, req.disk, req.checkpoint, req.fromCpt);
  const headers = await readStreamHeaders(req.chainDir, files);
  headers.forEach((h, i) => {
    const expected = names[i]!;
    const parent = i === 0 ? '' : headers[i - 1]!.checkpointName;
    if (h.checkpointName !== expected || h.parentCheckpoint !== parent || h.incremental !== i > 0) {
      throw new VmkeepError(
        'failure',
        `${h.file}: stream says checkpoint ${h.checkpointName} (parent ${JSON.stringify(h.parentCheckpoint)}), expected ${expected} (parent ${JSON.stringify(parent)})`,
      );
    }
  });
  if (fs.existsSync(req.targetDir)) throw new VmkeepError('usage', `restore target ${req.targetDir} already exists`);
  const work = fs.mkdtempSync('/var/tmp/vmkeep-restore-');
  try {
    await runner.run(
      'virtnbdrestore',
      [
        '--input',
        req.chainDir,
        '--output',
        req.targetDir,
        '--sequence',
        files.join(','),
        '--noprogress',
        '--socketfile',
        path.join(work, 'nbd.sock'),
        '--logfile',
        path.join(work, 'restore.log'),
      ],
      { timeoutMs: 600_000, env: { TMPDIR: work } },
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const image = path.join(req.targetDir, req.disk);
  if (!fs.existsSync(image)) throw new VmkeepError('failure', `virtnbdrestore wrote no ${image}`);
  await waitForImageUnlocked(image);
  return image;
}

/** virtnbdrestore's qemu-nbd may hold the image lock for about a second after it returns. */
async function waitForImageUnlocked(image: string): Promise<void> {
  for (let i = 0; i < 50; i += 1) {
    const r = await runner.run('qemu-img', ['info', image], { okExitCodes: [1] });
    if (r.exitCode === 0) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new VmkeepError('failure', `${image} stays locked after the restore`);
}

/** Restore a point and compare it with a reference image (`qemu-img compare`: 0 same, 1 differ). */
export async function restoredMatches(req: RestorePointRequest & { reference: string }): Promise<{ identical: boolean; detail: string }> {
  const image = await restorePoint(req);
  const r = await runner.run('qemu-img', ['compare', '-U', image, req.reference], { okExitCodes: [1], timeoutMs: 600_000 });
  return { identical: r.exitCode === 0, detail: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * Restore `checkpoint` of the chain in `chainDir` (disk `disk`) into a scratch folder under
 * `scratchDir`, expect it to equal `reference`, and remove the scratch folder.
 */
export async function expectPointRestores(
  chainDir: string,
  checkpoint: string,
  reference: string,
  opts: { scratchDir: string; disk?: string; fromCpt?: boolean },
): Promise<void> {
  const { expect } = await import('vitest');
  const disk = opts.disk ?? 'vda';
  const target = path.join(opts.scratchDir, `restore-${path.basename(chainDir)}-${checkpoint}-${disk}-${Date.now()}`);
  const r = await restoredMatches({ chainDir, disk, checkpoint, targetDir: target, reference, fromCpt: opts.fromCpt });
  expect(r.identical, `${path.basename(chainDir)}/${checkpoint} ${disk}: ${r.detail}`).toBe(true);
  fs.rmSync(target, { recursive: true, force: true });
}
