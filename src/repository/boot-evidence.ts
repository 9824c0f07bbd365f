/**
 * Evidence of a boot proof (`verify --boot`), kept in the chain folder beside the verify record:
 * `.boot-verify/<checkpoint>/` holds `result.json`, `console-tail.txt`, `exec-N.stdout` and
 * `exec-N.stderr` per exec check, and `screenshot.png` with `screenshot-thumbnail.png` (the HTML
 * report's thumbnail of it). The manifest's `bootVerify[checkpoint]`
 * is the record status, list, check and the metrics read.
 *
 * File names are vmkeep's, never the guest's: the guest decides only what is inside the console
 * tail and exec output. The folder is written fresh under a temporary name (files created with
 * O_EXCL, so nothing can be a link planted beforehand) and renamed into place whole.
 */
import { constants } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { VmkeepError, messageOf } from '../errors.js';
import { readManifest, writeManifest, type BootVerifyRecord } from './manifest.js';
import { MAX_THUMBNAIL_BYTES, makeThumbnail, readThumbnail } from '../util/png-thumbnail.js';

export const EVIDENCE_DIR = '.boot-verify';
/** The screenshot shrunk for the HTML report (src/util/png-thumbnail.ts), beside screenshot.png. */
export const THUMBNAIL_FILE = 'screenshot-thumbnail.png';

export interface BootEvidence {
  record: BootVerifyRecord;
  consoleTail: string;
  /** Output of the exec checks; `place` is the check's 1-based place among the checks. */
  exec: ReadonlyArray<{ place: number; stdout: string; stderr: string }>;
  /** A PNG vmkeep saved in its scratch folder, copied in. */
  screenshotFile?: string | undefined;
}

/** The evidence folder of a point, relative to its chain folder. */
export function evidenceFolder(checkpoint: string): string {
  if (checkpoint === '' || checkpoint.includes('/') || checkpoint === '.' || checkpoint === '..' || checkpoint.includes('\0')) {
    throw new VmkeepError('failure', `${JSON.stringify(checkpoint)} cannot name an evidence folder`);
  }
  return join(EVIDENCE_DIR, checkpoint);
}

/** Write a point's evidence and its record in the manifest (call under the output's lock). */
export async function writeBootEvidence(chainDir: string, checkpoint: string, evidence: BootEvidence): Promise<void> {
  const rel = evidenceFolder(checkpoint);
  const parent = join(chainDir, EVIDENCE_DIR);
  await mkdir(parent, { recursive: true, mode: 0o700 });
  const temp = await mkdtemp(join(parent, '.new-'));
  try {
    const put = (name: string, text: string) => writeFile(join(temp, name), text, { flag: 'wx', mode: 0o600 });
    await put('result.json', `${JSON.stringify(evidence.record, null, 2)}\n`);
    await put('console-tail.txt', evidence.consoleTail);
    for (const e of evidence.exec) {
      if (!Number.isInteger(e.place) || e.place < 1) throw new VmkeepError('failure', `exec check place ${e.place} cannot name an evidence file`);
      await put(`exec-${e.place}.stdout`, e.stdout);
      await put(`exec-${e.place}.stderr`, e.stderr);
    }
    if (evidence.screenshotFile) {
      await copyFile(evidence.screenshotFile, join(temp, 'screenshot.png'));
      // The report's thumbnail, made once here rather than by every report; a screen that makes
      // none (a photo) is shrunk again by the report, which then says why there is none.
      const thumbnail = await readFile(evidence.screenshotFile).then(
        (png) => makeThumbnail(png).png,
        () => undefined,
      );
      if (thumbnail) await writeFile(join(temp, THUMBNAIL_FILE), thumbnail, { flag: 'wx', mode: 0o600 });
    }
    const final = join(chainDir, rel);
    await rm(final, { recursive: true, force: true });
    await rename(temp, final);
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
  const manifest = await readManifest(chainDir);
  if (manifest) await writeManifest(chainDir, { ...manifest, bootVerify: { ...manifest.bootVerify, [checkpoint]: evidence.record } });
}

/** The largest screenshot read back (a 4K screen's PNG is a few MB): a bigger file is not a screenshot vmkeep wrote. */
export const MAX_SCREENSHOT_BYTES = 16 * 1024 * 1024;

/** A point's console screenshot for the report: its thumbnail made when the evidence was kept, else the screenshot itself. */
export type BootScreenshot = { thumbnail: Buffer } | { png: Buffer } | { error: string };

/**
 * A point's console screenshot, as `verify --boot --screenshot` kept it: the thumbnail beside it
 * when there is a readable one (a few hundred bytes; the screenshot is not read then), else the
 * screenshot's bytes, none (the proof was made without one), or why it cannot be read. The folder
 * is the point's own (evidenceFolder), not the path the record names: a manifest's text never
 * picks a file to read.
 */
export async function readBootScreenshot(chainDir: string, checkpoint: string): Promise<BootScreenshot | undefined> {
  const dir = join(chainDir, evidenceFolder(checkpoint));
  const thumb = await readPlainFile(join(dir, THUMBNAIL_FILE), MAX_THUMBNAIL_BYTES);
  if (thumb && 'bytes' in thumb && readThumbnail(thumb.bytes)) return { thumbnail: thumb.bytes };
  const shot = await readPlainFile(join(dir, 'screenshot.png'), MAX_SCREENSHOT_BYTES);
  return shot && ('bytes' in shot ? { png: shot.bytes } : shot);
}

/** A plain file's bytes (not through a link, never waiting on a FIFO), undefined when absent, or why it cannot be read. */
async function readPlainFile(path: string, maxBytes: number): Promise<{ bytes: Buffer } | { error: string } | undefined> {
  const name = basename(path);
  let file;
  try {
    file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { error: messageOf(e) };
  }
  try {
    const s = await file.stat();
    if (!s.isFile()) return { error: `${name} is not a file` };
    if (s.size > maxBytes) return { error: `${name} is ${s.size} bytes, more than it can be` };
    return { bytes: await file.readFile() };
  } catch (e) {
    return { error: messageOf(e) };
  } finally {
    await file.close();
  }
}
