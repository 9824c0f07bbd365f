/** Read what planScrub needs about one domain: its state, checkpoints, qcow2 disks and their bitmaps. */
import type { AppContext } from '../app/context.js';
import { eligibleDisks } from '../domain/disk-eligibility.js';
import type { DomainDisk } from '../domain/types.js';
import { VmkeepError } from '../errors.js';
import type { BlockNode } from '../qemu/parse-qmp.js';
import { isNoSuchCheckpoint } from '../virsh/client.js';
import { isLive, type ScrubCheckpointState, type ScrubDiskState, type ScrubDomainState } from './plan-scrub.js';

/**
 * A snapshot of the domain for planScrub (and, after execution, for checking what is left).
 * Bitmaps come from QEMU while the domain runs or is paused (the image file lags behind it), from
 * the image file (`qemu-img info`) when it is shut off.
 */
export async function readScrubState(ctx: AppContext, domain: string): Promise<ScrubDomainState> {
  const state = await ctx.virsh.domainState(domain);
  // domjobinfo fails on a shut-off domain, which runs no job anyway.
  const jobActive = isLive(state) ? await ctx.virsh.jobActive(domain) : false;
  const checkpoints: ScrubCheckpointState[] = [];
  for (const name of await ctx.virsh.checkpointNames(domain)) {
    try {
      const cp = await ctx.virsh.checkpoint(domain, name);
      checkpoints.push({
        name: cp.name,
        parent: cp.parent,
        bitmaps: cp.disks
          .filter((d) => d.checkpoint === 'bitmap')
          .map((d) => ({ disk: d.name, bitmap: d.bitmap ?? cp.name })),
      });
    } catch (error) {
      // Deleted between the list and the dump (another tool at work): it is simply not there.
      if (!isNoSuchCheckpoint(error)) throw error;
    }
  }
  const disks = bitmapDisks((await ctx.virsh.domain(domain)).disks);

  let diskStates: ScrubDiskState[];
  if (isLive(state)) {
    const nodes = disks.length > 0 ? await ctx.virsh.blockNodes(domain) : [];
    diskStates = disks.map((d) => {
      const node = formatNode(nodes, d.path);
      if (!node) {
        throw new VmkeepError('failure', `${domain}: QEMU has no qcow2 node for ${d.target} (${d.path}); cannot see its bitmaps`);
      }
      // A running backup job adds anonymous bitmaps: they belong to the job, not to anyone's chain.
      return { target: d.target, path: d.path, node: node.nodeName, bitmaps: node.bitmaps.map((b) => b.name).filter((n) => n !== '') };
    });
  } else if (state === 'shut off') {
    diskStates = [];
    for (const d of disks) {
      const info = await ctx.qemuImg.info(d.path);
      diskStates.push({ target: d.target, path: d.path, node: undefined, bitmaps: info.bitmaps.map((b) => b.name) });
    }
  } else {
    // planScrub refuses other states; no point asking anything more.
    diskStates = disks.map((d) => ({ target: d.target, path: d.path, node: undefined, bitmaps: [] }));
  }
  return { domain, state, jobActive, checkpoints, disks: diskStates };
}

/** The disks that can carry persistent dirty bitmaps: eligible qcow2 disks with a file or block source. */
export function bitmapDisks(disks: readonly DomainDisk[]): Array<DomainDisk & { path: string }> {
  return eligibleDisks(disks).filter(
    (d): d is DomainDisk & { path: string } =>
      d.format === 'qcow2' && (d.sourceType === 'file' || d.sourceType === 'block') && d.path !== undefined,
  );
}

/** The qcow2 format node whose file is the image: the node that holds its bitmaps. */
function formatNode(nodes: readonly BlockNode[], path: string): BlockNode | undefined {
  return nodes.find((n) => n.file === path && n.driver === 'qcow2');
}
