/**
 * The backup tree: OUTPUT/<domain>/<chain folder>/. Reads chains from vmkeep manifests, and
 * from virtnbdbackup's own files for VMSnap folders that have no manifest.
 */
import { readdirSync, statSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VmkeepError } from '../errors.js';
import { parseCheckpointXml } from '../virsh/parse-checkpoint-xml.js';
import { MANIFEST_FILE, pointFactsOf, readManifest, type ChainManifest, type PointFacts } from './manifest.js';
import { resolvePendingMerge } from './merge-record.js';
import { parseChainFolderName, type ParsedChainFolder } from './period-folders.js';
import { checkRecordedFiles, type ChainDamage } from './recorded-files.js';

/** A point of a chain as the backup tree shows it: its facts, and whether it can be restored. */
export interface PointView extends PointFacts {
  /** Why this point cannot be restored: a file it needs is missing or changed size (absent when whole). */
  damage?: string | undefined;
}

export interface ChainView {
  domain: string;
  folder: string;
  dir: string;
  manifest: ChainManifest | undefined;
  /** A VMSnap/virtnbdbackup folder with no vmkeep manifest: read-only facts from its files. */
  legacy: boolean;
  period: ParsedChainFolder | undefined;
  state: 'complete' | 'in-progress' | 'broken';
  stateReason: string | undefined;
  protected: boolean;
  points: PointView[];
  sizeOnDisk: number;
  /**
   * Recorded files that are missing or changed size (absent when all are there). Such a chain is
   * `broken` with the problems as its reason: nothing is added to it, whatever its manifest says.
   */
  damage?: ChainDamage | undefined;
}

/** The folder of a domain's backups. Domain names never contain '/', but '.' and '..' are refused. */
export function domainDir(output: string, domain: string): string {
  if (domain === '.' || domain === '..' || domain.includes('/') || domain.includes('\0')) {
    throw new VmkeepError('usage', `domain name ${JSON.stringify(domain)} cannot be used as a folder name`);
  }
  return join(output, domain);
}

/** Domains that have a folder in the output directory. */
export async function listBackedUpDomains(output: string): Promise<string[]> {
  const entries = await readdirOrEmpty(output);
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** All chains of a domain, oldest period first (then by sequence). */
export async function listChains(output: string, domain: string): Promise<ChainView[]> {
  const dir = domainDir(output, domain);
  const entries = await readdirOrEmpty(dir);
  const chains: ChainView[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const chain = await readChain(domain, e.name, join(dir, e.name));
    if (chain) chains.push(chain);
  }
  return chains.sort(compareChains);
}

function compareChains(a: ChainView, b: ChainView): number {
  const at = a.period?.start.getTime() ?? Date.parse(a.points[0]?.time ?? '') ?? 0;
  const bt = b.period?.start.getTime() ?? Date.parse(b.points[0]?.time ?? '') ?? 0;
  if (at !== bt) return at - bt;
  return (a.period?.sequence ?? 0) - (b.period?.sequence ?? 0) || a.folder.localeCompare(b.folder);
}

/** One chain folder; undefined when the folder holds neither a manifest nor virtnbdbackup data. */
export async function readChain(domain: string, folder: string, dir: string): Promise<ChainView | undefined> {
  const recorded = await readManifest(dir);
  // A merge a crashed prune left half done: show the chain as its files are (the next prune finishes it).
  const manifest = recorded && (await resolvePendingMerge(dir, recorded));
  const files = readFileSizes(dir);
  let sizeOnDisk = 0;
  for (const size of files.values()) sizeOnDisk += size;
  const period = parseChainFolderName(folder);
  if (manifest) {
    // A recorded file gone or cut short outranks everything the manifest says about the chain.
    const damage = await checkRecordedFiles(dir, manifest, files);
    return {
      domain,
      folder,
      dir,
      manifest,
      legacy: false,
      period,
      state: damage ? 'broken' : manifest.running ? 'in-progress' : manifest.state,
      stateReason: damage
        ? `damaged: ${damage.problems.join('; ')}`
        : manifest.running
          ? `a run started at ${manifest.running.startedAt} (pid ${manifest.running.pid}) has not finished`
          : manifest.stateReason,
      protected: manifest.protected,
      points: manifest.points.map((p) => ({
        ...pointFactsOf(p),
        ...(damage?.byPoint[p.checkpoint] ? { damage: damage.byPoint[p.checkpoint] } : {}),
      })),
      sizeOnDisk,
      ...(damage ? { damage } : {}),
    };
  }
  return readLegacyChain(domain, folder, dir, period, sizeOnDisk);
}

/** A VMSnap folder: checkpoints from `<domain>.cpt`, times and levels from the data files. */
async function readLegacyChain(
  domain: string,
  folder: string,
  dir: string,
  period: ParsedChainFolder | undefined,
  sizeOnDisk: number,
): Promise<ChainView | undefined> {
  const names = (await readdirOrEmpty(dir)).map((e) => e.name);
  const cptName = names.find((n) => n.endsWith('.cpt'));
  const dataFiles = names.filter((n) => n.endsWith('.data'));
  if (!cptName && dataFiles.length === 0) return undefined;
  let checkpoints: string[] = [];
  if (cptName) {
    try {
      const parsed = JSON.parse(await readFile(join(dir, cptName), 'utf8')) as unknown;
      if (Array.isArray(parsed)) checkpoints = parsed.map(String);
    } catch {
      checkpoints = [];
    }
  }
  const points: PointView[] = [];
  for (const [i, cp] of checkpoints.entries()) {
    const level = i === 0 ? 'full' : 'inc';
    const file = i === 0 ? dataFiles.find((f) => /\.(full|copy)\.data$/.test(f)) : dataFiles.find((f) => f.endsWith(`.inc.${cp}.data`));
    // A point's time is when its checkpoint was taken (the start of its run), as for vmkeep's own
    // points; the data file's mtime (the end of the run) only where the checkpoint XML is missing.
    const created = await checkpointCreationTime(dir, cp);
    const time = created ?? (file ? (await stat(join(dir, file))).mtime.toISOString() : new Date(0).toISOString());
    points.push({ checkpoint: cp, time, level, protected: false });
  }
  const partial = names.some((n) => n.endsWith('.partial'));
  return {
    domain,
    folder,
    dir,
    manifest: undefined,
    legacy: true,
    period,
    state: partial ? 'in-progress' : 'complete',
    stateReason: partial ? 'a .partial data file is present (interrupted run)' : 'VMSnap folder without a vmkeep manifest',
    protected: false,
    points,
    sizeOnDisk,
  };
}

/** `creationTime` of checkpoints/<name>.xml in a chain folder (virtnbdbackup keeps a copy there). */
async function checkpointCreationTime(dir: string, name: string): Promise<string | undefined> {
  if (name.includes('/') || name.startsWith('.')) return undefined;
  try {
    return parseCheckpointXml(await readFile(join(dir, 'checkpoints', `${name}.xml`), 'utf8')).creationTime?.toISOString();
  } catch {
    return undefined;
  }
}

/**
 * The size of every regular file under a chain folder, by its path relative to the folder ('/'
 * between parts). One stat per file, and synchronous: a report reads a fleet's hundreds of
 * thousands of files, where a promise and a thread-pool hop per stat cost three times the CPU
 * and left the process idle between them; a chain folder of a few dozen files takes well under
 * a millisecond.
 */
function readFileSizes(dir: string, prefix = '', sizes = new Map<string, number>()): Map<string, number> {
  for (const e of readdirOrEmptySync(dir)) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory()) readFileSizes(join(dir, e.name), `${rel}/`, sizes);
    else if (e.isFile()) {
      // A file removed since the folder was listed (a run's temp file renamed) is not counted.
      const s = statSync(join(dir, e.name), { throwIfNoEntry: false });
      if (s) sizes.set(rel, s.size);
    }
  }
  return sizes;
}

/**
 * Refuse an output folder that is missing or not a folder (exit 64): for a reader, a missing
 * folder is an unmounted backup disk or a typo, never "no backups yet". Nothing is created.
 */
export async function requireOutputFolder(output: string): Promise<void> {
  try {
    if (!(await stat(output)).isDirectory()) throw new VmkeepError('usage', `--output ${output} is not a folder`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new VmkeepError('usage', `--output ${output} does not exist`);
    throw e;
  }
}

/**
 * Sub-folders of `output` that hold domain folders with chains one level down: the host folders
 * of a several-host root (OUTPUT/<host>/<domain>/<chain>), read as if it were one host's folder.
 */
export async function findHostFolders(output: string): Promise<string[]> {
  const hosts: string[] = [];
  for (const name of await listBackedUpDomains(output)) {
    const inner = join(output, name);
    for (const domain of await listBackedUpDomains(inner).catch(() => [])) {
      if ((await listChains(inner, domain).catch(() => [])).length > 0) {
        hosts.push(name);
        break;
      }
    }
  }
  return hosts;
}

function readdirOrEmptySync(dir: string) {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    return readdirError(e, dir);
  }
}

async function readdirOrEmpty(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    return readdirError(e, dir);
  }
}

function readdirError(e: unknown, dir: string): [] {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return [];
  if (code === 'ENOTDIR') throw new VmkeepError('usage', `${dir} is not a directory`);
  throw e;
}

export { MANIFEST_FILE };
