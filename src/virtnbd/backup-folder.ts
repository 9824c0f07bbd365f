/**
 * Read a virtnbdbackup output folder: which data files exist per disk, at which level and
 * checkpoint, what the `<domain>.cpt` chain says, which `.partial` leftovers an interrupted run
 * left, and whether all of that agrees. Used for folders vmkeep did not write (VMSnap trees,
 * hand-made backups) and by verify and repair.
 *
 * `describeBackupFolder` is pure (it takes a listing); `readBackupFolder` makes the listing.
 * Names follow virtnbdbackup 1.9.15 (`setTargetFile`, `getIdent`, `backupConfig`,
 * `backupDiskInfo`, `main` for the log) and 2.x (same names, plus `.chksum` sidecars).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readStreamMeta, type StreamMeta } from './stream-format.js';
import { VmkeepError, messageOf } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/** Backup level encoded in a data file name. */
export type DataLevel = 'full' | 'copy' | 'inc' | 'diff';

/** What a data file name says. */
export interface DataFileName {
  disk: string;
  level: DataLevel;
  /** inc: the checkpoint in the name. full/copy/diff: null (the name does not carry it). */
  checkpoint: string | null;
  /** diff: the unix time in the name. */
  timestamp: number | null;
  /** Still being written, or left by an interrupted run. */
  partial: boolean;
}

/** One entry of a folder listing (input of the pure describer). */
export interface FolderEntry {
  name: string;
  size: number;
  mtimeMs: number;
  isDirectory?: boolean;
}

/** Everything the pure describer needs, gathered by readBackupFolder (or by a test). */
export interface FolderListing {
  dir: string;
  /** Entries directly in the folder. */
  entries: readonly FolderEntry[];
  /** File names in `checkpoints/`, or null if there is no such folder. */
  checkpointFiles: readonly string[] | null;
  /** Text of every `*.cpt` file, by name. */
  cptTexts: Readonly<Record<string, string>>;
  /** Meta headers of data files (complete and partial), by name, when they were read. */
  headers?: Readonly<Record<string, { meta: StreamMeta | null; problems: readonly string[] }>>;
}

/** A data file with what its name and (optionally) its header say. */
export interface DataFileRecord extends DataFileName {
  name: string;
  size: number;
  mtimeMs: number;
  /** The stream's meta header; null if not read or unreadable. */
  meta: StreamMeta | null;
  headerProblems: readonly string[];
}

/** A typed view of one virtnbdbackup output folder. */
export interface BackupFolder {
  dir: string;
  /** Domain name, from `<domain>.cpt`; null without a .cpt file. */
  domain: string | null;
  /** Checkpoint names from the .cpt file, in chain order; null without a readable .cpt. */
  checkpoints: readonly string[] | null;
  /** Names of `checkpoints/*.xml`, without `.xml`, in checkpoint order. */
  checkpointXmls: readonly string[];
  /** Disks that have data files (complete or partial), sorted. */
  disks: readonly string[];
  /** Complete data files, by disk then chain position. */
  dataFiles: readonly DataFileRecord[];
  /** `*.data.partial` leftovers. */
  partials: readonly DataFileRecord[];
  /** 2.x `*.data.chksum` sidecars (adler32 of the data file, decimal). */
  checksumFiles: readonly string[];
  /** `vmconfig.<ident>.xml`: ident is a checkpoint name, "copy", or a unix time (diff). */
  vmConfigs: readonly { name: string; ident: string }[];
  /** `<disk>.<ident>.qcow.json`: `qemu-img info` of the source image at that backup. */
  qcowInfos: readonly { name: string; disk: string; ident: string }[];
  /** `backup.<level>.<MMDDYYYYHHMMSS>.log`; level is as requested (so "auto" stays "auto"). */
  logs: readonly { name: string; level: string; stamp: string }[];
  /** `autostart.<ident>`: the domain was marked autostart at that backup. */
  autostartFiles: readonly string[];
  /** Anything else (UEFI vars, kernels, foreign files). */
  otherFiles: readonly string[];
  /** One line per inconsistency; empty when the folder is a sound chain. */
  problems: readonly string[];
}

const DATA_NAME = /^(?<disk>[^./]+)\.(?:(?<base>full|copy)|inc\.(?<cpt>.+)|diff\.(?<ts>\d+))\.data(?<partial>\.partial)?$/;
const VMCONFIG_NAME = /^vmconfig\.(?<ident>.+)\.xml$/;
const QCOW_NAME = /^(?<disk>[^.]+)\.(?<ident>.+)\.qcow\.json$/;
const LOG_NAME = /^backup\.(?<level>[a-z]+)\.(?<stamp>\d{14})\.log$/;
const AUTOSTART_NAME = /^autostart\.(?<ident>.+)$/;

/** Parse a data file name (`vda.full.data`, `vda.inc.virtnbdbackup.3.data.partial`...); null if it is not one. */
export function parseDataFileName(name: string): DataFileName | null {
  const m = DATA_NAME.exec(name);
  if (!m?.groups) return null;
  const g = m.groups;
  const partial = g.partial !== undefined;
  if (g.base) return { disk: g.disk!, level: g.base as 'full' | 'copy', checkpoint: null, timestamp: null, partial };
  if (g.cpt) return { disk: g.disk!, level: 'inc', checkpoint: g.cpt, timestamp: null, partial };
  return { disk: g.disk!, level: 'diff', checkpoint: null, timestamp: Number(g.ts), partial };
}

/** Parse a `.cpt` file: a JSON list of checkpoint names. A string is the reason it is not one. */
export function parseCheckpointList(text: string): string[] | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    return `not valid JSON (${messageOf(cause)})`;
  }
  if (!Array.isArray(value) || !value.every((x) => typeof x === 'string')) return 'not a JSON list of names';
  return value;
}

/** `<domain>.cpt`: virtnbdbackup's JSON list of the chain's checkpoints; throws when it is not one. */
export async function readCheckpointFile(chainDir: string, domain: string): Promise<string[]> {
  const path = join(chainDir, `${domain}.cpt`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const parsed = parseCheckpointList(text);
  if (typeof parsed === 'string') throw new VmkeepError('failure', `${path} is ${parsed}`);
  return parsed;
}

/** Sort key for checkpoint names: virtnbdbackup.10 after virtnbdbackup.9. */
export function compareCheckpointNames(a: string, b: string): number {
  const na = /\.(\d+)$/.exec(a);
  const nb = /\.(\d+)$/.exec(b);
  const pa = na ? a.slice(0, na.index) : a;
  const pb = nb ? b.slice(0, nb.index) : b;
  if (pa !== pb) return pa < pb ? -1 : 1;
  if (na && nb) return Number(na[1]) - Number(nb[1]);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Describe a folder from its listing (pure). */
// eslint-disable-next-line max-lines-per-function -- parses a virtnbdbackup folder's files in one pass, file kind by file kind
export function describeBackupFolder(listing: FolderListing): BackupFolder {
  const problems: string[] = [];
  const data: DataFileRecord[] = [];
  const partials: DataFileRecord[] = [];
  const checksumFiles: string[] = [];
  const vmConfigs: { name: string; ident: string }[] = [];
  const qcowInfos: { name: string; disk: string; ident: string }[] = [];
  const logs: { name: string; level: string; stamp: string }[] = [];
  const autostartFiles: string[] = [];
  const otherFiles: string[] = [];
  const cptNames: string[] = [];

  for (const entry of [...listing.entries].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.isDirectory) {
      if (entry.name !== 'checkpoints') otherFiles.push(`${entry.name}/`);
      continue;
    }
    const name = entry.name;
    const parsed = parseDataFileName(name);
    if (parsed) {
      const header = listing.headers?.[name];
      const record: DataFileRecord = {
        ...parsed,
        name,
        size: entry.size,
        mtimeMs: entry.mtimeMs,
        meta: header?.meta ?? null,
        headerProblems: header?.problems ?? [],
      };
      (parsed.partial ? partials : data).push(record);
      continue;
    }
    let m: RegExpExecArray | null;
    if (name.endsWith('.data.chksum')) checksumFiles.push(name);
    else if (name.endsWith('.cpt')) cptNames.push(name);
    else if ((m = VMCONFIG_NAME.exec(name))) vmConfigs.push({ name, ident: m.groups!.ident! });
    else if ((m = QCOW_NAME.exec(name))) qcowInfos.push({ name, disk: m.groups!.disk!, ident: m.groups!.ident! });
    else if ((m = LOG_NAME.exec(name))) logs.push({ name, level: m.groups!.level!, stamp: m.groups!.stamp! });
    else if (AUTOSTART_NAME.test(name)) autostartFiles.push(name);
    else otherFiles.push(name);
  }

  // The chain: <domain>.cpt, written by saveCheckpointFile right after the backup job starts.
  let domain: string | null = null;
  let checkpoints: string[] | null = null;
  if (cptNames.length > 1) problems.push(`more than one .cpt file: ${cptNames.join(', ')}`);
  const cptName = cptNames[0];
  if (cptName !== undefined) {
    domain = cptName.slice(0, -'.cpt'.length);
    const text = listing.cptTexts[cptName];
    const parsed = text === undefined ? 'could not be read' : parseCheckpointList(text);
    if (typeof parsed === 'string') problems.push(`${cptName}: ${parsed}`);
    else checkpoints = parsed;
  }

  const checkpointXmls = (listing.checkpointFiles ?? [])
    .filter((n) => n.endsWith('.xml'))
    .map((n) => n.slice(0, -'.xml'.length))
    .sort(compareCheckpointNames);
  for (const other of (listing.checkpointFiles ?? []).filter((n) => !n.endsWith('.xml'))) {
    otherFiles.push(`checkpoints/${other}`);
  }

  if (checkpoints) {
    const dup = checkpoints.filter((c, i) => checkpoints.indexOf(c) !== i);
    if (dup.length > 0) problems.push(`${cptName}: lists ${[...new Set(dup)].join(', ')} more than once`);
    for (const c of checkpoints) {
      if (!checkpointXmls.includes(c)) problems.push(`checkpoint ${c} is in ${cptName} but checkpoints/${c}.xml is missing`);
    }
    for (const x of checkpointXmls) {
      if (!checkpoints.includes(x)) problems.push(`checkpoints/${x}.xml has no entry in ${cptName}`);
    }
  } else if (checkpointXmls.length > 0 && cptName === undefined) {
    problems.push(`checkpoints/ holds ${checkpointXmls.length} checkpoint XML files but there is no .cpt file`);
  }

  for (const p of partials) {
    problems.push(`leftover ${p.name} (${p.size} bytes): a backup was interrupted; the folder needs repair before the next inc`);
  }

  const disks = [...new Set([...data, ...partials].map((f) => f.disk))].sort();
  const cptIndex = new Map((checkpoints ?? []).map((c, i) => [c, i]));
  const ordered: DataFileRecord[] = [];
  for (const disk of disks) {
    const files = data.filter((f) => f.disk === disk);
    const chain = sortChain(files, cptIndex);
    ordered.push(...chain);
    problems.push(
      ...checkDiskChain(
        disk,
        chain,
        partials.filter((p) => p.disk === disk),
        checkpoints,
        cptName,
      ),
    );
  }
  for (const f of [...ordered, ...partials]) {
    for (const line of f.headerProblems) problems.push(`${f.name}: ${line}`);
  }

  return {
    dir: listing.dir,
    domain,
    checkpoints,
    checkpointXmls,
    disks,
    dataFiles: ordered,
    partials,
    checksumFiles,
    vmConfigs,
    qcowInfos,
    logs,
    autostartFiles,
    otherFiles,
    problems,
  };
}

/** Options for reading a folder from disk. */
export interface ReadBackupFolderOptions {
  /** Read each data file's meta header (a few hundred bytes each). Default true. */
  headers?: boolean;
}

/** List a virtnbdbackup output folder and describe it. */
export async function readBackupFolder(dir: string, options: ReadBackupFolderOptions = {}): Promise<BackupFolder> {
  const dirents = await readdir(dir, { withFileTypes: true });
  const entries: FolderEntry[] = [];
  for (const d of dirents) {
    const s = await stat(join(dir, d.name));
    entries.push({ name: d.name, size: s.size, mtimeMs: s.mtimeMs, isDirectory: s.isDirectory() });
  }
  let checkpointFiles: string[] | null = null;
  if (entries.some((e) => e.name === 'checkpoints' && e.isDirectory)) {
    checkpointFiles = (await readdir(join(dir, 'checkpoints'))).sort();
  }
  const cptTexts: Record<string, string> = {};
  for (const e of entries) {
    if (!e.isDirectory && e.name.endsWith('.cpt')) cptTexts[e.name] = await readFile(join(dir, e.name), 'utf8');
  }
  let headers: Record<string, { meta: StreamMeta | null; problems: string[] }> | undefined;
  if (options.headers ?? true) {
    headers = {};
    for (const e of entries) {
      if (e.isDirectory || !parseDataFileName(e.name)) continue;
      headers[e.name] = await readStreamMeta(join(dir, e.name));
    }
  }
  return describeBackupFolder({ dir, entries, checkpointFiles, cptTexts, headers });
}

/**
 * The data files to apply, in order, to restore `disk` to `checkpoint` (inclusive): the base
 * full/copy, then incs in `.cpt` order. Order comes from the chain, never from mtimes. With no
 * checkpoint, the whole chain. Diff files are not chained (pick one with `diffName`).
 */
export function planChainFiles(folder: BackupFolder, disk: string, checkpoint?: string, diffName?: string): { files: string[]; problems: string[] } {
  const problems: string[] = [];
  const chain = folder.dataFiles.filter((f) => f.disk === disk && f.level !== 'diff');
  const base = chain[0];
  if (!base || (base.level !== 'full' && base.level !== 'copy')) {
    return { files: [], problems: [`disk ${disk} has no full or copy data file`] };
  }
  const files = [base.name];
  if (checkpoint === undefined) {
    files.push(...chain.slice(1).map((f) => f.name));
  } else {
    let reached = resolveCheckpoint(base, folder) === checkpoint;
    for (const f of chain.slice(1)) {
      if (reached) break;
      files.push(f.name);
      if (f.checkpoint === checkpoint) reached = true;
    }
    if (!reached) problems.push(`disk ${disk}: no data file for checkpoint ${checkpoint}`);
  }
  if (diffName !== undefined) {
    const diff = folder.dataFiles.find((f) => f.name === diffName && f.disk === disk && f.level === 'diff');
    if (!diff) problems.push(`disk ${disk}: no diff file ${diffName}`);
    else files.push(diff.name);
  }
  return { files, problems };
}

/** The checkpoint a data file brings the disk to, when known. */
function resolveCheckpoint(file: DataFileRecord, folder: Pick<BackupFolder, 'checkpoints'>): string | null {
  if (file.level === 'inc') return file.checkpoint;
  if (file.level === 'full') return file.meta?.checkpointName ?? folder.checkpoints?.[0] ?? null;
  return null; // copy creates no checkpoint; a diff's meta names one that does not exist
}

// ---------------------------------------------------------------------------------------------

function sortChain(files: DataFileRecord[], cptIndex: ReadonlyMap<string, number>): DataFileRecord[] {
  const rank = (f: DataFileRecord): [number, number] => {
    if (f.level === 'full' || f.level === 'copy') return [0, 0];
    if (f.level === 'inc') {
      const i = f.checkpoint === null ? undefined : cptIndex.get(f.checkpoint);
      return [1, i ?? Number.MAX_SAFE_INTEGER];
    }
    return [2, f.timestamp ?? 0];
  };
  return [...files].sort((a, b) => {
    const [ra, ia] = rank(a);
    const [rb, ib] = rank(b);
    if (ra !== rb) return ra - rb;
    if (ia !== ib) return ia - ib;
    return compareCheckpointNames(a.checkpoint ?? a.name, b.checkpoint ?? b.name);
  });
}

function checkDiskChain(
  disk: string,
  chain: readonly DataFileRecord[],
  partials: readonly DataFileRecord[],
  checkpoints: readonly string[] | null,
  cptName: string | undefined,
): string[] {
  const problems: string[] = [];
  const bases = chain.filter((f) => f.level === 'full' || f.level === 'copy');
  const incs = chain.filter((f) => f.level === 'inc');
  const diffs = chain.filter((f) => f.level === 'diff');
  if (bases.length === 0 && chain.length > 0) problems.push(`disk ${disk} has no full or copy data file`);
  if (bases.length > 1) problems.push(`disk ${disk} has ${bases.length} base files: ${bases.map((b) => b.name).join(', ')}`);
  const base = bases[0];

  if ((incs.length > 0 || diffs.length > 0 || base?.level === 'full') && checkpoints === null) {
    problems.push(`disk ${disk}: ${base?.level === 'full' ? 'a full backup' : 'incremental data'} but no readable .cpt file`);
  }
  if (checkpoints) {
    for (const inc of incs) {
      if (!checkpoints.includes(inc.checkpoint!)) problems.push(`${inc.name}: checkpoint ${inc.checkpoint} is not in ${cptName}`);
    }
    // Each checkpoint after the first should have brought an inc for every disk.
    checkpoints.forEach((c, i) => {
      if (i === 0) {
        if (base?.level !== 'full') problems.push(`disk ${disk}: ${cptName} starts with ${c} but there is no ${disk}.full.data`);
        return;
      }
      if (incs.some((f) => f.checkpoint === c)) return;
      const partial = partials.find((p) => p.level === 'inc' && p.checkpoint === c);
      problems.push(
        partial
          ? `disk ${disk}: checkpoint ${c} has only ${partial.name}`
          : `disk ${disk}: checkpoint ${c} is in ${cptName} but there is no ${disk}.inc.${c}.data`,
      );
    });
  }

  // What the meta headers say, when they were read.
  const sizes = new Set<number>();
  let previous: string | null = null;
  for (const f of chain) {
    const meta = f.meta;
    if (meta === null) continue;
    sizes.add(meta.virtualSize);
    if (meta.diskName !== disk) problems.push(`${f.name}: meta header names disk ${meta.diskName}`);
    if (f.level === 'full' || f.level === 'copy') {
      if (meta.incremental) problems.push(`${f.name}: meta header says incremental`);
      if (f.level === 'full' && checkpoints?.[0] !== undefined && meta.checkpointName !== checkpoints[0]) {
        problems.push(`${f.name}: meta header checkpoint ${meta.checkpointName}, ${cptName} starts with ${checkpoints[0]}`);
      }
      previous = f.level === 'full' ? meta.checkpointName : null;
    } else if (f.level === 'inc') {
      if (!meta.incremental) problems.push(`${f.name}: meta header says not incremental`);
      if (meta.checkpointName !== f.checkpoint) problems.push(`${f.name}: meta header checkpoint is ${meta.checkpointName}`);
      if (previous !== null && meta.parentCheckpoint !== previous) {
        problems.push(`${f.name}: parent checkpoint is ${meta.parentCheckpoint || '(none)'}, the file before it is at ${previous}`);
      }
      previous = meta.checkpointName;
    } else if (checkpoints && !checkpoints.includes(meta.parentCheckpoint)) {
      problems.push(`${f.name}: diff relative to ${meta.parentCheckpoint || '(none)'}, which is not in ${cptName}`);
    }
  }
  if (sizes.size > 1) {
    // virtnbdrestore 1.9.15 creates the image at the full's size; later data beyond it fails.
    problems.push(`disk ${disk}: virtual size changes within the chain (${[...sizes].join(', ')})`);
  }
  return problems;
}

/** Write `<domain>.cpt` as virtnbdbackup does (json.dumps of the list), atomically. */
export async function writeCheckpointFile(chainDir: string, domain: string, names: readonly string[]): Promise<void> {
  await writeFileAtomic(join(chainDir, `${domain}.cpt`), `[${names.map((n) => JSON.stringify(n)).join(', ')}]`, 0o644);
}

/**
 * virtnbdbackup names an incremental's checkpoint `virtnbdbackup.<length of .cpt>`. In a chain
 * whose points were merged (fewer names than numbers used), that name can be one the chain still
 * holds. The list to give it instead: fillers (unused numbers, which name nothing) inserted
 * before the last name, until the next name is free; the last name (the parent) stays last.
 * Unchanged when the next name is already free. Pure.
 */
export function padCheckpointList(names: readonly string[], prefix = 'virtnbdbackup'): string[] {
  const used = new Set(names);
  let length = names.length;
  while (used.has(`${prefix}.${length}`)) length += 1;
  if (length === names.length || names.length === 0) return [...names];
  const fillers: string[] = [];
  for (let n = 1; fillers.length < length - names.length; n += 1) if (!used.has(`${prefix}.${n}`)) fillers.push(`${prefix}.${n}`);
  return [...names.slice(0, -1), ...fillers, names.at(-1)!];
}
