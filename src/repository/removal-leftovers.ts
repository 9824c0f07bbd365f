/**
 * Chain folders a prune was removing when it was stopped. prune first renames a chain folder to
 * `.vmkeep-removing-<chain>-<pid>` (so a half-deleted chain never looks like a chain), then
 * deletes it; a kill in between leaves the renamed folder. Its bytes still fill the disk: status
 * shows them, verify names them, and the next prune (or backup's prune) finishes the removal.
 */
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FaultPoints } from '../app/context.js';
import { domainDir } from './chains.js';

export const REMOVING_PREFIX = '.vmkeep-removing-';

/** The name a chain folder gets while prune removes it. */
export function removingName(chainFolder: string, pid: number): string {
  return `${REMOVING_PREFIX}${chainFolder}-${pid}`;
}

export interface RemovalLeftover {
  /** The hidden folder's name, in the domain's folder. */
  name: string;
  dir: string;
  /** Bytes of the files still in it. */
  bytes: number;
}

async function bytesUnder(path: string): Promise<number> {
  const s = await lstat(path).catch(() => undefined);
  if (!s) return 0;
  if (!s.isDirectory()) return s.isFile() ? s.size : 0;
  let total = 0;
  for (const name of await readdir(path).catch(() => [] as string[])) total += await bytesUnder(join(path, name));
  return total;
}

/** The leftovers of interrupted removals in a domain's folder, with the bytes each holds. */
export async function listRemovalLeftovers(output: string, domain: string): Promise<RemovalLeftover[]> {
  const dir = domainDir(output, domain);
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return [] as string[];
    throw e;
  });
  const out: RemovalLeftover[] = [];
  for (const name of names.filter((n) => n.startsWith(REMOVING_PREFIX)).sort()) {
    out.push({ name, dir: join(dir, name), bytes: await bytesUnder(join(dir, name)) });
  }
  return out;
}

/**
 * Finish what an interrupted prune started: delete each leftover of the domain. The caller holds
 * the output folder's and the domain's locks, so no prune is still deleting them.
 */
export async function finishRemovals(output: string, domain: string): Promise<RemovalLeftover[]> {
  const leftovers = await listRemovalLeftovers(output, domain);
  for (const l of leftovers) await rm(l.dir, { recursive: true, force: true });
  return leftovers;
}

/**
 * Remove a whole chain folder: first renamed to its hidden removing name (a half-deleted chain
 * never looks like a chain), then deleted. Fault point (tests only): `prune-renamed`, between the
 * two, where a kill leaves the hidden folder for the next prune to finish.
 */
export async function removeChainFolder(dir: string, folder: string, faults?: FaultPoints): Promise<void> {
  const trash = join(dirname(dir), removingName(folder, process.pid));
  await rename(dir, trash);
  faults?.after('prune-renamed');
  await rm(trash, { recursive: true, force: true });
}
