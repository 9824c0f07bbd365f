/** Every entry below a folder, as paths relative to it (sorted): what a chain folder holds. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface ListFilesOptions {
  /** A missing folder lists as empty instead of failing. */
  missingOk?: boolean;
  /** Regular files only (otherwise every entry that is not a folder: links, sockets...). */
  regularOnly?: boolean;
}

/** Relative paths of the entries below `dir` (folders themselves are walked, not listed). */
export async function listFilesRelative(dir: string, options: ListFilesOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (e) {
      if (options.missingOk && (e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const e of entries) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(join(d, e.name), rel);
      else if (!options.regularOnly || e.isFile()) out.push(rel);
    }
  };
  await walk(dir, '');
  return out.sort();
}
