/**
 * planRestore: from a domain's chains and the request, which point, which data files in which
 * order for each disk, which files to check first, and where the images go. Pure: no fs, no
 * runner, no clock (`now` only names the restored domain).
 *
 * Order comes from the chain (the manifest's points, or `<domain>.cpt` for VMSnap folders), never
 * from file modification times: virtnbdrestore 1.9.15 sorts by mtime when it is not given an
 * explicit `--sequence`, and silently restores wrong data when mtimes were not preserved.
 */
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { VmkeepError, usageError } from '../errors.js';
import { findRestorePoint, listRestorePoints, type PointSelector, type RestorePointRef } from './points.js';
import type { ChainFile, RestoreChain } from './types.js';

/** What virtnbdrestore gets for one disk. */
export interface DiskRestorePlan {
  target: string;
  /** Data files (relative to the chain folder) in chain order: the `--sequence`. */
  sequence: string[];
  /** `<disk>.<checkpoint>.qcow.json`: qcow2 options (cluster size, compat) for the new image. */
  qcowInfo: string | undefined;
  /** The image path the disk had when it was backed up. */
  sourcePath: string | undefined;
  /** File name of the restored image: the original file's name. */
  fileName: string;
}

/** Where a restore to a folder puts things. */
export interface DirectoryDestination {
  /** Absolute target folder (must be empty or absent). */
  dir: string;
  /** Name written into the adjusted domain XML. */
  domainName: string;
  /** Define the domain with virsh after the restore. */
  define: boolean;
  /** The adjusted domain XML, inside `dir`. */
  xmlPath: string | undefined;
  /** Final image paths by disk target. */
  images: Array<{ target: string; path: string }>;
}

export interface RestorePlan {
  domain: string;
  point: RestorePointRef;
  chainDir: string;
  /** No manifest: files are checked for structure only, there are no checksums. */
  legacy: boolean;
  /** Checkpoints whose data is applied, in order (the full first). */
  applied: string[];
  disks: DiskRestorePlan[];
  /** The point's saved domain XML (vmconfig.<checkpoint>.xml), relative to the chain folder. */
  config: string | undefined;
  /** Every file the restore reads, checked against the manifest before anything is written. */
  check: ChainFile[];
  directory: DirectoryDestination | undefined;
  /** Write overlays on the point's images in the repository instead of flattened copies (push chains). */
  keepChain?: boolean;
  reasons: string[];
  warnings: string[];
}

export type RestoreDestination =
  /** keepChain: a push chain's point as a qcow2 overlay on the point's image, instead of a flattened copy. */
  | { kind: 'directory'; dir: string; defineName: string | undefined; keepChain?: boolean }
  | { kind: 'in-place' }
  /** Images only, into a scratch folder (verify --deep). */
  | { kind: 'scratch' };

export interface RestoreRequest {
  selector: PointSelector;
  /** Only these disk targets (--disk); undefined: every disk of the chain. */
  disks: readonly string[] | undefined;
  destination: RestoreDestination;
}

/** Plan a restore; throws a usage error (64) for a bad request and a failure (2) for an incomplete chain. */
export function planRestore(chains: readonly RestoreChain[], domain: string, request: RestoreRequest, now: Date): RestorePlan {
  const point = findRestorePoint(listRestorePoints(chains), request.selector, domain);
  const chain = chains.find((c) => c.folder === point.chain)!;
  const reasons = [describeSelection(request.selector, point)];
  const warnings: string[] = [];

  const known = chain.disks.map((d) => d.target);
  const wanted = request.disks ?? known;
  const unknown = wanted.filter((d) => !known.includes(d));
  if (unknown.length > 0) {
    throw usageError(`chain ${chain.folder} has no disk ${unknown.join(', ')} (it has ${known.join(', ') || 'none'})`);
  }
  if (wanted.length === 0) throw new VmkeepError('failure', `chain ${chain.folder} records no disks to restore`);

  const needed = filesForPoint(chain, point.index, wanted);
  if (needed.problems.length > 0) {
    throw new VmkeepError('failure', `cannot restore ${point.id}: ${needed.problems.join('; ')}`);
  }
  const names = imageFileNames(chain.disks.filter((d) => wanted.includes(d.target)));
  const disks: DiskRestorePlan[] = wanted.map((target) => ({
    target,
    sequence: needed.sequences.get(target)!,
    qcowInfo: needed.qcowInfos.get(target),
    sourcePath: chain.disks.find((d) => d.target === target)?.sourcePath,
    fileName: names.get(target)!,
  }));
  if (!needed.config) warnings.push(`no saved domain XML for ${point.id}: only the disk images are restored`);
  if (chain.legacy) warnings.push(`chain ${chain.folder} has no vmkeep manifest: no checksums are recorded, files are checked for structure only`);

  let directory: DirectoryDestination | undefined;
  const keepChain = request.destination.kind === 'directory' && request.destination.keepChain === true;
  if (keepChain) {
    const streams = disks.filter((d) => !d.sequence.every((f) => f.endsWith('.qcow2'))).map((d) => d.target);
    if (streams.length > 0)
      throw usageError(`--keep-chain needs a push chain (qcow2 images); ${point.id} holds virtnbdbackup streams for ${streams.join(', ')}`);
    warnings.push(`--keep-chain: the restored images read from ${chain.dir}; they break if that chain is pruned or moved`);
  }
  if (request.destination.kind === 'directory') {
    const dest = request.destination;
    if (dest.defineName !== undefined && !needed.config) {
      throw new VmkeepError('failure', `--define needs the saved domain XML of ${point.id}, and there is none`);
    }
    const domainName = dest.defineName ?? `${domain}-restored-${compactTime(now)}`;
    directory = {
      dir: dest.dir,
      domainName,
      define: dest.defineName !== undefined,
      xmlPath: needed.config ? join(dest.dir, `${xmlFileName(domainName)}.xml`) : undefined,
      images: disks.map((d) => ({ target: d.target, path: join(dest.dir, d.fileName) })),
    };
    reasons.push(`images into ${dest.dir}${directory.define ? `, defined as domain ${domainName}` : ''}`);
  }

  return {
    domain,
    point,
    chainDir: chain.dir,
    legacy: chain.legacy,
    applied: chain.points.slice(0, point.index + 1).map((p) => p.checkpoint),
    disks,
    config: needed.config,
    check: needed.check,
    directory,
    ...(keepChain ? { keepChain } : {}),
    reasons,
    warnings,
  };
}

/** What restoring point `index` of a chain reads, per disk, and what is missing for it. */
export interface PointFiles {
  /** Data files per disk target, in chain order. */
  sequences: Map<string, string[]>;
  qcowInfos: Map<string, string>;
  config: string | undefined;
  /** Every file above, once, with what the manifest recorded for it. */
  check: ChainFile[];
  problems: string[];
}

/**
 * The files a restore of point `index` reads: each disk's data file of every point up to it, the
 * point's domain XML (or the newest earlier one) and each disk's qcow2 options. Shared with verify,
 * which calls a point broken exactly when one of these files is bad.
 */
export function filesForPoint(chain: RestoreChain, index: number, disks: readonly string[] = chain.disks.map((d) => d.target)): PointFiles {
  const problems: string[] = [];
  const sequences = new Map<string, string[]>();
  const qcowInfos = new Map<string, string>();
  const check: ChainFile[] = [];
  const points = chain.points.slice(0, index + 1);
  if (points[0] && points[0].level !== 'full') problems.push(`the chain starts with ${points[0].checkpoint}, which is not a full backup`);
  for (const target of disks) {
    const seq: string[] = [];
    for (const p of points) {
      const data = p.files.filter((f) => f.kind === 'data' && f.disk === target);
      if (data.length !== 1) {
        problems.push(
          data.length === 0
            ? `point ${p.checkpoint} has no data file for disk ${target}`
            : `point ${p.checkpoint} has ${data.length} data files for disk ${target}`,
        );
        continue;
      }
      seq.push(data[0]!.path);
      check.push(data[0]!);
    }
    sequences.set(target, seq);
    // The qcow2 options of the newest point that saved them.
    for (const p of [...points].reverse()) {
      const info = p.files.find((f) => f.kind === 'meta' && f.path === `${target}.${p.checkpoint}.qcow.json`);
      if (info) {
        qcowInfos.set(target, info.path);
        check.push(info);
        break;
      }
    }
  }
  let config: string | undefined;
  for (const p of [...points].reverse()) {
    const cfg = p.files.find((f) => f.kind === 'config' && f.path === `vmconfig.${p.checkpoint}.xml`) ?? p.files.find((f) => f.kind === 'config');
    if (cfg) {
      config = cfg.path;
      check.push(cfg);
      break;
    }
  }
  return { sequences, qcowInfos, config, check, problems };
}

/** Restored image names: the original file names, prefixed by the target where two would clash. */
export function imageFileNames(disks: ReadonlyArray<{ target: string; sourcePath?: string | undefined }>): Map<string, string> {
  const base = (d: { target: string; sourcePath?: string | undefined }) => {
    const b = d.sourcePath ? basename(d.sourcePath) : '';
    return b === '' || b === '.' || b === '..' ? `${d.target}.qcow2` : b;
  };
  const counts = new Map<string, number>();
  for (const d of disks) counts.set(base(d), (counts.get(base(d)) ?? 0) + 1);
  return new Map(disks.map((d) => [d.target, counts.get(base(d))! > 1 ? `${d.target}-${base(d)}` : base(d)]));
}

/** 2026-11-22T02:01:10.123Z → 20261122T020110Z (file and domain names). */
export function compactTime(now: Date): string {
  return now
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** The longest file name (in bytes) Linux filesystems take; the name gets `.xml` after it. */
const MAX_NAME_BYTES = 255 - '.xml'.length;

/**
 * A domain name as a file name: '/' and NUL are the only bytes a file name cannot hold, and a
 * file name holds at most 255 bytes while a domain name (a 243-character one, with the
 * "-restored-TIME" suffix) can be longer: such a name is cut, and a short hash of the whole name
 * keeps two long names that share their start apart.
 */
export function xmlFileName(domainName: string): string {
  const safe = domainName.replace(/[/\0]/g, '_');
  if (safe === '.' || safe === '..') return `domain${safe}`;
  if (Buffer.byteLength(safe, 'utf8') <= MAX_NAME_BYTES) return safe;
  const tag = `-${createHash('sha256').update(domainName).digest('hex').slice(0, 12)}`;
  let cut = '';
  for (const ch of safe) {
    if (Buffer.byteLength(cut + ch, 'utf8') + tag.length > MAX_NAME_BYTES) break;
    cut += ch;
  }
  return `${cut}${tag}`;
}

function describeSelection(selector: PointSelector, point: RestorePointRef): string {
  switch (selector.kind) {
    case 'latest':
      return `${point.id} is the newest restore point (${point.time})`;
    case 'time':
      return `${point.id} (${point.time}) is the newest restore point at or before ${selector.text}`;
    case 'at':
      return `${point.id} (${point.time}) as named by --at ${selector.value}`;
  }
}
