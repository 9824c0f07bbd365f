/** `vmkeep status`'s view of a domain, made from the one domain reader's snapshot. */
import type { AppContext } from '../app/context.js';
import { readDomain, type DiskSnapshot } from './read-domain.js';
import { guestFreezeState } from './guest-freeze.js';
import { isLive } from './state.js';
import type { Checkpoint, DiskBitmap, DomainState } from './types.js';
import { judgeConsistency, type Verdict } from './consistency-verdict.js';

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
  /**
   * The guest agent says the guest's filesystems are frozen: its writes are blocked. null when
   * there is no answer (not running, no agent channel, agent not answering).
   */
  guestFrozen: boolean | null;
  /** Things to look at that are not inconsistencies (a frozen guest). */
  warnings: string[];
}

/** The warning for a guest whose filesystems are frozen (by someone: vmkeep thaws only its own freezes). */
export function frozenGuestWarning(name: string): string {
  return `the guest filesystems of ${name} are frozen: its writes are blocked until whoever froze them thaws them (virsh domfsthaw ${name})`;
}

/** Collect one domain's status. Throws only when the domain itself cannot be read. */
export async function collectDomainStatus(ctx: AppContext, name: string, listedState?: DomainState): Promise<DomainStatus> {
  return (await collect(ctx, name, false, listedState)).status;
}

/**
 * collectDomainStatus and the domain's tags, read with it: a shut-off domain's come with the
 * definition already read (the persistent one, which `metadata --config` reads), a running
 * domain's are asked (its live definition may differ from the persistent one).
 */
export async function collectDomainStatusWithTags(ctx: AppContext, name: string, listedState?: DomainState): Promise<{ status: DomainStatus; tags: string[] }> {
  const { status, tags } = await collect(ctx, name, true, listedState);
  return { status, tags: tags ?? [] };
}

async function collect(
  ctx: AppContext,
  name: string,
  withTags: boolean,
  listedState: DomainState | undefined,
): Promise<{ status: DomainStatus; tags: string[] | undefined }> {
  // status shows no job, so libvirt is not asked for one.
  const snap = await readDomain(ctx, name, { imageSizes: true, checkpointDetails: true, changedSinceLatest: true, job: false, listedState });
  const [freeze, tags] = await Promise.all([
    // Without an agent channel libvirt's answer is always "not configured": no answer, so null.
    snap.state === 'running' && snap.definition.guestAgentChannel ? guestFreezeState(ctx.virsh, name) : undefined,
    withTags ? (snap.definition.id === undefined ? snap.definition.tags : ctx.virsh.domainTags(name)) : undefined,
  ]);
  const latest = snap.checkpoints.at(-1);
  const disks = snap.disks.map((d) => toDiskStatus(d, latest));
  const consistency = judgeConsistency(
    name,
    snap.checkpoints,
    disks.map((d) => ({
      disk: d.disk,
      eligible: d.eligible,
      bitmaps: d.bitmapSource === 'none' && d.eligible ? undefined : d.bitmapDetails,
    })),
  );
  const status: DomainStatus = {
    name,
    state: snap.state,
    checkpoints: snap.checkpoints.map((c) => c.name),
    checkpointDetails: snap.checkpoints.map(toCheckpointStatus),
    disks,
    consistency,
    overallStatus: consistency.consistent ? 0 : 1,
    guestFrozen: freeze === undefined ? null : freeze === 'frozen',
    warnings: freeze === 'frozen' ? [frozenGuestWarning(name)] : [],
  };
  return { status, tags };
}

function toCheckpointStatus(c: Checkpoint): CheckpointStatus {
  return {
    name: c.name,
    creationTime: c.creationTime?.toISOString(),
    parent: c.parent,
    disks: c.disks.map((d) => ({ disk: d.name, bitmap: d.bitmap, checkpoint: d.checkpoint })),
  };
}

function toDiskStatus(d: DiskSnapshot, latest: Checkpoint | undefined): DiskStatus {
  const bitmaps = d.bitmaps ?? [];
  const cpDisk = latest?.disks.find((c) => c.name === d.disk.target);
  return {
    disk: d.disk.target,
    device: d.disk.device,
    sourceType: d.disk.sourceType,
    path: d.disk.path,
    format: d.disk.format,
    virtualSize: d.virtualSize,
    actualSize: d.actualSize,
    eligible: d.eligibility.eligible,
    excludedBy: d.eligibility.excludedBy,
    bitmaps: bitmaps.map((b) => b.name),
    bitmapDetails: bitmaps,
    bitmapSource: d.bitmaps === undefined ? 'none' : d.bitmapSource,
    changedSinceLatestCheckpoint: cpDisk?.size,
    errors: d.errors,
  };
}

/**
 * Bytes QEMU's dirty bitmaps say changed since the latest checkpoint, over the disks a backup
 * copies: only for a running domain (a shut-off one's next backup is read from its history).
 */
export function dirtyBytesOf(status: DomainStatus): number | undefined {
  if (!isLive(status.state)) return undefined;
  const eligible = status.disks.filter((d) => d.eligible);
  if (eligible.length === 0 || eligible.some((d) => d.changedSinceLatestCheckpoint === undefined)) return undefined;
  return eligible.reduce((n, d) => n + d.changedSinceLatestCheckpoint!, 0);
}
