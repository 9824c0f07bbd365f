/**
 * Space a backup run needs, estimated before it starts, so a run that clearly cannot fit fails
 * at once with a clear message instead of after filling the disk.
 *
 * A full copies every allocated cluster: the images' allocated size is an upper bound (clusters
 * the guest zeroed are written as zero frames). An incremental copies what the dirty bitmap of
 * the chain's last checkpoint counts: QEMU reports those bytes exactly.
 */
import { statfs } from 'node:fs/promises';
import prettyBytes from 'pretty-bytes';
import type { AppContext } from '../app/context.js';
import { VmkeepError, messageOf } from '../errors.js';
import type { BackupInventory, DomainBackupPlan, SpaceEstimate } from './plan-types.js';

type BackupPlan = Extract<DomainBackupPlan, { action: 'backup' }>;

/**
 * "Clearly short": even 90% of the estimate would not fit. The margin keeps a full whose
 * allocated size overstates its data (zeroed clusters) from being refused; a run that fails later
 * anyway is still cleaned up and recorded.
 */
export const CLEARLY_SHORT_FACTOR = 0.9;

/** Pure: is the free space clearly short of the need? */
export function isClearlyShort(estimate: SpaceEstimate): boolean {
  return estimate.freeBytes < estimate.neededBytes * CLEARLY_SHORT_FACTOR;
}

/** Free bytes where `dir` lives (undefined when the folder cannot be asked). */
export async function freeBytesAt(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

/**
 * Estimate the run's need and the free space; undefined when it cannot be estimated (compressed
 * streams, a disk whose size or bitmap cannot be read). Never throws for a failed look-up.
 */
export async function estimateSpace(
  ctx: AppContext,
  inv: BackupInventory,
  plan: BackupPlan,
  output: string,
  compress: boolean,
): Promise<SpaceEstimate | undefined> {
  if (compress) return undefined;
  const free = await freeBytesAt(output);
  if (free === undefined) return undefined;
  const disks = inv.disks.filter((d) => d.eligible && d.path !== undefined);
  try {
    if (plan.level === 'full') {
      let needed = 0;
      for (const d of disks) {
        const info = await ctx.qemuImg.info(d.path!);
        if (info.actualSize === undefined) return undefined;
        needed += info.actualSize;
      }
      return { neededBytes: needed, freeBytes: free, basis: 'the allocated size of its disks' };
    }
    const chain = inv.chains.find((c) => c.folder === plan.folder);
    const last = chain?.points.at(-1)?.checkpoint;
    if (!last) return undefined;
    // The counts QEMU gave when the domain was read, a moment ago, serve; asked again only without them.
    const counted = disks.map((d) => d.changedBytes?.[last]);
    if (counted.every((n) => n !== undefined))
      return { neededBytes: counted.reduce((a, b) => a + b, 0), freeBytes: free, basis: `the bytes changed since ${last}` };
    const nodes = await ctx.virsh.blockNodes(inv.domain);
    let needed = 0;
    for (const d of disks) {
      const bitmap = nodes
        .filter((n) => n.file === d.path)
        .flatMap((n) => n.bitmaps)
        .find((b) => b.name === last);
      if (bitmap?.count === undefined) return undefined;
      needed += bitmap.count;
    }
    return { neededBytes: needed, freeBytes: free, basis: `the bytes changed since ${last}` };
  } catch (error) {
    ctx.log.debug(`${inv.domain}: no space estimate: ${messageOf(error)}`);
    return undefined;
  }
}

/** The early failure for a run that clearly cannot fit. */
export function notEnoughSpaceError(domain: string, level: string, folder: string, estimate: SpaceEstimate): VmkeepError {
  const b = (n: number) => prettyBytes(n, { binary: true });
  return new VmkeepError(
    'failure',
    `not enough space in ${folder} for the ${level} backup of ${domain}: it needs about ${b(estimate.neededBytes)} (${estimate.basis}), ` +
      `${b(estimate.freeBytes)} is free; nothing was written. Free space there or back up into another --output`,
  );
}
