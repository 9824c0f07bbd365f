/**
 * The installed virtnbdbackup/virtnbdrestore version, remembered between runs.
 *
 * Asking `virtnbdbackup --version` starts Python: about half a second, on the path of every
 * backup. The answer only changes when the program file changes, so it is kept in a small cache
 * keyed by the executable's real path, inode, size and modification time (a package upgrade
 * replaces the file and so misses the cache). A cache that cannot be read or written is simply
 * not used.
 */
import { mkdir, readFile, realpath, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { VmkeepError } from '../errors.js';
import type { Runner } from '../runner/runner.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { Env } from '../util/env.js';
import { parseToolVersion, type ToolVersion } from './argv.js';

interface CacheEntry {
  ino: number;
  size: number;
  mtimeMs: number;
  version: string;
}

/**
 * Where the cache lives: VMKEEP_CACHE_DIR, else /var/cache/vmkeep (root's usual place);
 * VMKEEP_CACHE_DIR set to the empty string turns the cache off.
 */
export function versionCacheFile(env: Env): string | undefined {
  const dir = env['VMKEEP_CACHE_DIR'];
  if (dir === '') return undefined;
  return join(dir ?? '/var/cache/vmkeep', 'tool-versions.json');
}

/** The executable `tool` resolves to on PATH (real path), or undefined when not found. */
async function findExecutable(tool: string, env: Env): Promise<string | undefined> {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, tool);
    try {
      await access(candidate, constants.X_OK);
      return await realpath(candidate);
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** The version of `tool` (virtnbdbackup or virtnbdrestore), from the cache or from `tool --version`. */
export async function installedToolVersion(runner: Runner, tool: 'virtnbdbackup' | 'virtnbdrestore', env: Env): Promise<ToolVersion> {
  const file = versionCacheFile(env);
  const exe = file ? await findExecutable(tool, env) : undefined;
  const id = exe ? await stat(exe).catch(() => undefined) : undefined;
  let cache: Record<string, CacheEntry> = {};
  if (file && exe && id) {
    cache = await readFile(file, 'utf8').then(
      (t) => JSON.parse(t) as Record<string, CacheEntry>,
      () => ({}),
    );
    const hit = cache[exe];
    if (hit && hit.ino === id.ino && hit.size === id.size && hit.mtimeMs === id.mtimeMs) {
      const parsed = parseToolVersion(hit.version);
      if (parsed) return parsed;
    }
  }
  // A missing tool fails here with the runner's "not found (install the ... package)".
  const { stdout, stderr } = await runner.run(tool, ['--version'], { timeoutMs: 30_000 });
  const parsed = parseToolVersion(stdout.trim()) ?? parseToolVersion(stderr.trim());
  if (!parsed) throw new VmkeepError('failure', `cannot read the ${tool} version from ${JSON.stringify(`${stdout}${stderr}`.trim())}`);
  if (file && exe && id) {
    cache[exe] = { ino: id.ino, size: id.size, mtimeMs: id.mtimeMs, version: parsed.text };
    await mkdir(join(file, '..'), { recursive: true, mode: 0o755 })
      .then(() => writeFileAtomic(file, `${JSON.stringify(cache, null, 2)}\n`, 0o644))
      .catch(() => undefined);
  }
  return parsed;
}
