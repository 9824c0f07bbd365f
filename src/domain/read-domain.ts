/**
 * The one domain reader: everything vmkeep's commands need to know about a domain, read once
 * into a snapshot. status, backup, scrub and restore all ask this reader; none of them asks
 * virsh, QEMU or qemu-img about a domain's disks, checkpoints or bitmaps on its own.
 *
 * Where each fact comes from:
 * - state, definition (the live XML for a running domain: aliases and the paths QEMU opened),
 *   checkpoints: libvirt;
 * - bitmaps of a running or paused domain: QEMU (query-named-block-nodes), because the image
 *   file lags behind QEMU's memory; of a shut-off domain: the image file (its qcow2 header read
 *   directly, or qemu-img info -U for what the header reader leaves to it);
 * - image sizes: QEMU's block nodes for a running domain, the same header or qemu-img otherwise;
 * - an active job (a backup left by a killed run): libvirt's domjobinfo;
 * - bytes changed since the newest checkpoint: the block nodes' bitmap counts, or libvirt's
 *   `checkpoint-dumpxml --size` where those do not give its figure (changed-since-checkpoint.ts).
 * Independent calls run concurrently; through a virsh session each costs about a millisecond.
 */
import type { AppContext } from '../app/context.js';
import { bitmapsForImage, formatNodeName, imageSizesFromNodes, type BlockNode } from '../qemu/parse-qmp.js';
import { isNoSuchCheckpoint } from '../virsh/client.js';
import { diskEligibility, type Eligibility } from './disk-eligibility.js';
import { sizesFromBlockNodes } from './changed-since-checkpoint.js';
import { isLive } from './state.js';
import type { Checkpoint, DiskBitmap, DomainDefinition, DomainDisk, DomainState } from './types.js';
import { messageOf } from '../errors.js';

export interface ReadDomainOptions {
  /** Read every local image's sizes (qemu-img info), not only where bitmaps need it. */
  imageSizes?: boolean;
  /** Read each checkpoint's XML (parent, per-disk bitmaps). Names are always read. */
  checkpointDetails?: boolean;
  /** With checkpointDetails on a live domain: the bytes changed since the latest checkpoint. */
  changedSinceLatest?: boolean;
  /**
   * The state a list of all domains gave moments before (virsh's domainStates): taken when the
   * definition read now agrees (a live definition has an id, a persistent one has not), else the
   * domain changed meanwhile and domstate is asked.
   */
  listedState?: DomainState;
  /** Ask libvirt whether a job is active (default). status shows no job, so it does not ask. */
  job?: boolean;
  /**
   * Which definition: 'live' (default; for a running domain the aliases and the paths QEMU
   * opened) or 'inactive' (the persistent configuration, what the next start uses).
   */
  definition?: 'live' | 'inactive';
}

export interface DiskSnapshot {
  disk: DomainDisk;
  /** The default rules (raw excluded); a backup with --raw relaxes them itself. */
  eligibility: Eligibility;
  virtualSize: number | undefined;
  actualSize: number | undefined;
  /** Dirty bitmaps; undefined when they should be there to read and could not be read. */
  bitmaps: DiskBitmap[] | undefined;
  bitmapSource: 'qemu' | 'image' | 'none';
  /** QEMU's qcow2 format node for the image (live domains): where bitmaps are added and removed. */
  node: string | undefined;
  /** What could not be read, in vmkeep's words with the tool's message. */
  errors: string[];
}

export interface DomainSnapshot {
  name: string;
  uuid: string | undefined;
  state: DomainState;
  /** Does QEMU hold the disks (running or paused)? */
  live: boolean;
  definition: DomainDefinition;
  /** Checkpoint names, parents first. */
  checkpointNames: string[];
  /** With checkpointDetails: each checkpoint, parents first (one deleted meanwhile is left out). */
  checkpoints: Checkpoint[];
  disks: DiskSnapshot[];
  /** A job (a backup) is active on the domain. */
  jobActive: boolean;
}

/** Read one domain. Throws only when the domain itself cannot be read (unknown, libvirt down). */
export async function readDomain(ctx: AppContext, name: string, options: ReadDomainOptions & { job: false }): Promise<Omit<DomainSnapshot, 'jobActive'>>;
export async function readDomain(ctx: AppContext, name: string, options?: ReadDomainOptions): Promise<DomainSnapshot>;
export async function readDomain(ctx: AppContext, name: string, options: ReadDomainOptions = {}): Promise<DomainSnapshot | Omit<DomainSnapshot, 'jobActive'>> {
  const listed = options.definition === 'inactive' ? undefined : options.listedState;
  const [asked, checkpointNames, definition] = await Promise.all([
    listed === undefined ? ctx.virsh.domainState(name) : undefined,
    ctx.virsh.checkpointNames(name),
    ctx.virsh.domain(name, options.definition === 'inactive'),
  ]);
  const state = asked ?? (listed !== undefined && isLive(listed) === (definition.id !== undefined) ? listed : await ctx.virsh.domainState(name));
  const live = isLive(state);
  const [nodes, jobActive, dumped] = await Promise.all([
    live
      ? ctx.virsh.blockNodes(name).then(
          (n) => ({ nodes: n }),
          (e: unknown) => ({ error: messageOf(e) }),
        )
      : undefined,
    // domjobinfo fails on a shut-off domain, which runs no job anyway.
    live && options.job !== false ? ctx.virsh.jobActive(name) : false,
    Promise.all(options.checkpointDetails ? checkpointNames.map((cp) => readCheckpoint(ctx, name, cp, false)) : []),
  ]);
  let checkpoints = dumped.filter((c): c is Checkpoint => c !== undefined);
  if (live && options.checkpointDetails && options.changedSinceLatest === true) {
    checkpoints = await withChangedSinceLatest(ctx, name, checkpoints, checkpointNames.at(-1), definition, nodes);
  }
  const disks = await Promise.all(definition.disks.map((d) => readDisk(ctx, d, live, nodes, options)));
  const snapshot = { name, uuid: definition.uuid, state, live, definition, checkpointNames, checkpoints, disks };
  return options.job === false ? snapshot : { ...snapshot, jobActive };
}

/** One checkpoint's XML; undefined when it was deleted since the list (another tool at work: it is simply not there). */
async function readCheckpoint(ctx: AppContext, domain: string, checkpoint: string, size: boolean): Promise<Checkpoint | undefined> {
  return ctx.virsh.checkpoint(domain, checkpoint, size).catch((e: unknown) => {
    if (isNoSuchCheckpoint(e)) return undefined;
    throw e;
  });
}

/**
 * The newest checkpoint with the bytes changed since it per disk: from QEMU's block nodes where
 * they give libvirt's figure (changed-since-checkpoint.ts), else from `checkpoint-dumpxml --size`.
 */
async function withChangedSinceLatest(
  ctx: AppContext,
  domain: string,
  checkpoints: Checkpoint[],
  latestName: string | undefined,
  definition: DomainDefinition,
  nodes: { nodes: BlockNode[] } | { error: string } | undefined,
): Promise<Checkpoint[]> {
  const latest = checkpoints.at(-1);
  // The newest one deleted meanwhile: the one before it is not the newest, and gets no size.
  if (latest === undefined || latest.name !== latestName) return checkpoints;
  const fromNodes = nodes && 'nodes' in nodes ? sizesFromBlockNodes(latest, definition.disks, nodes.nodes) : undefined;
  const sized = fromNodes ?? (await readCheckpoint(ctx, domain, latest.name, true));
  return sized === undefined ? checkpoints.slice(0, -1) : [...checkpoints.slice(0, -1), sized];
}

async function readDisk(
  ctx: AppContext,
  disk: DomainDisk,
  live: boolean,
  nodes: { nodes: BlockNode[] } | { error: string } | undefined,
  options: ReadDomainOptions,
): Promise<DiskSnapshot> {
  const eligibility = diskEligibility(disk);
  const snapshot: DiskSnapshot = {
    disk,
    eligibility,
    virtualSize: undefined,
    actualSize: undefined,
    bitmaps: [],
    bitmapSource: 'none',
    node: undefined,
    errors: [],
  };
  if (disk.path === undefined || disk.sourceType === 'network') return snapshot;
  // Bitmaps matter on any disk that could carry them: a raw disk backed up with --raw has none.
  const mayHoldBitmaps = disk.format !== 'raw' && diskEligibility({ ...disk, format: 'qcow2' }).eligible;
  // A running domain's image sizes come with QEMU's block nodes: no qemu-img process per disk.
  const fromQemu = live && nodes && 'nodes' in nodes ? imageSizesFromNodes(nodes.nodes, disk.path) : undefined;
  if (fromQemu) {
    snapshot.virtualSize = fromQemu.virtualSize;
    snapshot.actualSize = fromQemu.actualSize;
  }
  if ((options.imageSizes && !fromQemu) || (!live && mayHoldBitmaps)) {
    try {
      // No QEMU holds a shut-off domain's image: its header can be read without a qemu-img process.
      const info = live ? await ctx.qemuImg.info(disk.path) : await ctx.qemuImg.infoAtRest(disk.path);
      snapshot.virtualSize = info.virtualSize;
      snapshot.actualSize = info.actualSize;
      if (!live) {
        snapshot.bitmaps = info.bitmaps;
        snapshot.bitmapSource = 'image';
      }
    } catch (e) {
      snapshot.errors.push(messageOf(e));
      if (!live && mayHoldBitmaps) snapshot.bitmaps = undefined;
    }
  }
  if (live) {
    if (nodes && 'nodes' in nodes) {
      const fromQemu = bitmapsForImage(nodes.nodes, disk.path);
      snapshot.node = formatNodeName(nodes.nodes, disk.path);
      if (fromQemu) {
        snapshot.bitmaps = fromQemu;
        snapshot.bitmapSource = 'qemu';
      } else if (eligibility.eligible) {
        snapshot.errors.push(`QEMU has no block node for ${disk.path}`);
        snapshot.bitmaps = undefined;
      }
    } else if (mayHoldBitmaps) {
      snapshot.errors.push(nodes?.error ?? 'QEMU block nodes were not read');
      snapshot.bitmaps = undefined;
    }
  }
  return snapshot;
}
