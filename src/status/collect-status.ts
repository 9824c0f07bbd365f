/** Gather what libvirt, QEMU and the images say about a domain, for `vmkeep status`. */
import pLimit from 'p-limit';
import type { AppContext } from '../app/context.js';
import { diskEligibility } from '../domain/disk-eligibility.js';
import type { Checkpoint, DiskBitmap, DomainDisk, DomainState } from '../domain/types.js';
import { bitmapsForImage, type BlockNode } from '../qemu/parse-qmp.js';
import { judgeConsistency, type Verdict } from './verdict.js';

export interface DiskStatus {
  disk: string;
  device: string;
  sourceType: string;
  path: string | undefined;
  format: string | undefined;
  virtualSize: number | undefined;
  actualSize: number | undefined;
  eligible: boolean;
  excludedBy: string[];
  /** Bitmap names, as VMSnap reported them. */
  bitmaps: string[];
  bitmapDetails: DiskBitmap[];
  /** Where the bitmaps were read: QEMU for a live domain, the image file otherwise. */
  bitmapSource: 'qemu' | 'image' | 'none';
  /** Bytes changed since the latest checkpoint: the size of the next incremental. */
  changedSinceLatestCheckpoint: number | undefined;
  errors: string[];
}

export interface CheckpointStatus {
  name: string;
  creationTime: string | undefined;
  parent: string | undefined;
  disks: Array<{ disk: string; bitmap: string | undefined; checkpoint: string }>;
}

export interface DomainStatus {
  name: string;
  state: DomainState;
  checkpoints: string[];
  checkpointDetails: CheckpointStatus[];
  disks: DiskStatus[];
  consistency: Verdict;
  /** VMSnap's field: 0 consistent, 1 inconsistent. */
  overallStatus: 0 | 1;
}

/** Collect one domain's status. Throws only when the domain itself cannot be read. */
export async function collectDomainStatus(ctx: AppContext, name: string): Promise<DomainStatus> {
  const [state, checkpointNames] = await Promise.all([ctx.virsh.domainState(name), ctx.virsh.checkpointNames(name)]);
  const live = state === 'running' || state === 'paused';
  // The live XML carries aliases and the paths QEMU really opened.
  const definition = await ctx.virsh.domain(name, false);
  const latest = checkpointNames.at(-1);
  const limit = pLimit(4);
  const checkpoints = await Promise.all(
    checkpointNames.map((cp) => limit(() => ctx.virsh.checkpoint(name, cp, live && cp === latest))),
  );
  let nodes: BlockNode[] | undefined;
  let nodesError: string | undefined;
  if (live) {
    try {
      nodes = await ctx.virsh.blockNodes(name);
    } catch (e) {
      nodesError = e instanceof Error ? e.message : String(e);
    }
  }
  const latestCp = checkpoints.at(-1);
  const disks = await Promise.all(
    definition.disks.map((d) => limit(() => collectDisk(ctx, d, live, nodes, nodesError, latestCp))),
  );
  const consistency = judgeConsistency(
    name,
    checkpoints,
    disks.map((d) => ({
      disk: d.disk,
      eligible: d.eligible,
      bitmaps: d.bitmapSource === 'none' && d.eligible ? undefined : d.bitmapDetails,
    })),
  );
  return {
    name,
    state,
    checkpoints: checkpoints.map((c) => c.name),
    checkpointDetails: checkpoints.map(toCheckpointStatus),
    disks,
    consistency,
    overallStatus: consistency.consistent ? 0 : 1,
  };
}

function toCheckpointStatus(c: Checkpoint): CheckpointStatus {
  return {
    name: c.name,
    creationTime: c.creationTime?.toISOString(),
    parent: c.parent,
    disks: c.disks.map((d) => ({ disk: d.name, bitmap: d.bitmap, checkpoint: d.checkpoint })),
  };
}

async function collectDisk(
  ctx: AppContext,
  disk: DomainDisk,
  live: boolean,
  nodes: BlockNode[] | undefined,
  nodesError: string | undefined,
  latest: Checkpoint | undefined,
): Promise<DiskStatus> {
  const eligibility = diskEligibility(disk);
  const errors: string[] = [];
  let virtualSize: number | undefined;
  let actualSize: number | undefined;
  let bitmaps: DiskBitmap[] = [];
  let bitmapSource: DiskStatus['bitmapSource'] = 'none';
  if (disk.path !== undefined && disk.sourceType !== 'network') {
    try {
      const info = await ctx.qemuImg.info(disk.path);
      virtualSize = info.virtualSize;
      actualSize = info.actualSize;
      if (!live) {
        bitmaps = info.bitmaps;
        bitmapSource = 'image';
      }
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
    }
    if (live) {
      const fromQemu = nodes ? bitmapsForImage(nodes, disk.path) : undefined;
      if (fromQemu) {
        bitmaps = fromQemu;
        bitmapSource = 'qemu';
      } else if (eligibility.eligible) {
        errors.push(nodesError ?? `QEMU has no block node for ${disk.path}`);
      }
    }
  }
  const cpDisk = latest?.disks.find((d) => d.name === disk.target);
  return {
    disk: disk.target,
    device: disk.device,
    sourceType: disk.sourceType,
    path: disk.path,
    format: disk.format,
    virtualSize,
    actualSize,
    eligible: eligibility.eligible,
    excludedBy: eligibility.excludedBy,
    bitmaps: bitmaps.map((b) => b.name),
    bitmapDetails: bitmaps,
    bitmapSource,
    changedSinceLatestCheckpoint: cpDisk?.size,
    errors,
  };
}
