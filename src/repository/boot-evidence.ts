/**
 * Evidence of a boot proof (`verify --boot`), kept in the chain folder beside the verify record:
 * `.boot-verify/<checkpoint>/` holds `result.json`, `console-tail.txt`, `exec-N.stdout` and
 * `exec-N.stderr` per exec check, and `screenshot.png`. The manifest's `bootVerify[checkpoint]`
 * is the record status, list, check and the metrics read.
 *
 * File names are vmkeep's, never the guest's: the guest decides only what is inside the console
 * tail and exec output. The folder is written fresh under a temporary name (files created with
 * O_EXCL, so nothing can be a link planted beforehand) and renamed into place whole.
 */
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VmkeepError } from '../errors.js';
import { readManifest, writeManifest, type BootVerifyRecord } from './manifest.js';

export const EVIDENCE_DIR = '.boot-verify';

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
    if (evidence.screenshotFile) await copyFile(evidence.screenshotFile, join(temp, 'screenshot.png'));
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
