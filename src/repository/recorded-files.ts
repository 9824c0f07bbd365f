/**
 * Are a chain's recorded files still there, with the sizes its runs recorded? A stat per file, no
 * hashing: cheap enough for every reader (backup before it continues a chain, status, list,
 * check, prune). A chain that fails this is damaged: the points that need a missing or changed
 * file cannot be restored, and nothing more may be added on top of them.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChainManifest } from './manifest.js';

/** What is wrong with the chain's recorded files; undefined when nothing is. */
export interface ChainDamage {
  /** One line per file: "vda.full.data is missing", "vda.inc.virtnbdbackup.1.data is 10 bytes, 20 recorded". */
  problems: string[];
  /**
   * For each point that cannot be restored, the first problem it runs into. A point needs its own
   * files and those of every point before it (a virtnbdbackup incremental replays the full and
   * the incrementals before it; a push image is backed by the previous one).
   */
  byPoint: Record<string, string>;
}

/**
 * Check every recorded file of a chain for presence and size. `sizes` may hand in the sizes of the
 * folder's regular files already read (relative path to size): a file found there is not read again.
 */
export async function checkRecordedFiles(
  dir: string,
  manifest: Pick<ChainManifest, 'points'>,
  sizes?: ReadonlyMap<string, number>,
): Promise<ChainDamage | undefined> {
  const problems: string[] = [];
  const byPoint: Record<string, string> = {};
  const seen = new Map<string, string | undefined>();
  let first: string | undefined;
  for (const point of manifest.points) {
    for (const f of point.files) {
      if (!seen.has(f.path)) {
        const known = sizes?.get(f.path);
        seen.set(f.path, known === undefined ? await fileProblem(join(dir, f.path), f.path, f.size) : sizeProblem(f.path, known, f.size));
      }
      const problem = seen.get(f.path);
      if (problem !== undefined && !problems.includes(problem)) problems.push(problem);
      first ??= problem;
    }
    if (first !== undefined) byPoint[point.checkpoint] = first;
  }
  return problems.length === 0 ? undefined : { problems, byPoint };
}

async function fileProblem(path: string, rel: string, recordedSize: number): Promise<string | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return `${rel} is not a regular file`;
    return sizeProblem(rel, s.size, recordedSize);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${rel} is missing` : `${rel} cannot be read (${code ?? String(e)})`;
  }
}

function sizeProblem(rel: string, size: number, recordedSize: number): string | undefined {
  return size === recordedSize ? undefined : `${rel} is ${size} bytes, ${recordedSize} were recorded`;
}
