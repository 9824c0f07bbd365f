/** What planScrub needs about one domain: its state, checkpoints, qcow2 disks and their bitmaps. */
import type { AppContext } from '../app/context.js';
import { eligibleDisks } from './disk-eligibility.js';
import { readDomain, type DiskSnapshot } from './read-domain.js';
import type { DomainDisk } from './types.js';
import { VmkeepError } from '../errors.js';
import type { ScrubCheckpointState, ScrubDiskState, ScrubDomainState } from './plan-scrub.js';

/**
 * planScrub's view of the domain (and, after execution, of what is left), from the one domain
 * reader: bitmaps from QEMU while the domain runs or is paused, from the image file when it is
 * shut off.
 */
export async function readScrubState(ctx: AppContext, domain: string): Promise<ScrubDomainState> {
  const snap = await readDomain(ctx, domain, { checkpointDetails: true });
  const checkpoints: ScrubCheckpointState[] = snap.checkpoints.map((cp) => ({
    name: cp.name,
    parent: cp.parent,
    bitmaps: cp.disks.filter((d) => d.checkpoint === 'bitmap').map((d) => ({ disk: d.name, bitmap: d.bitmap ?? cp.name })),
  }));
  const wanted = new Set(bitmapDisks(snap.definition.disks).map((d) => d.target));
  const disks = snap.disks.filter((d): d is DiskSnapshot & { disk: DomainDisk & { path: string } } => wanted.has(d.disk.target));
  let diskStates: ScrubDiskState[];
  if (snap.live) {
    diskStates = disks.map((d) => {
      if (d.node === undefined || d.bitmaps === undefined) {
        throw new VmkeepError('failure', `${domain}: QEMU has no qcow2 node for ${d.disk.target} (${d.disk.path}); cannot see its bitmaps`);
      }
      // A running backup job adds anonymous bitmaps: they belong to the job, not to anyone's chain.
      return { target: d.disk.target, path: d.disk.path, node: d.node, bitmaps: d.bitmaps.map((b) => b.name).filter((n) => n !== '') };
    });
  } else if (snap.state === 'shut off') {
    diskStates = disks.map((d) => {
      if (d.bitmaps === undefined)
        throw new VmkeepError('failure', `${domain}: cannot read the bitmaps of ${d.disk.target} (${d.disk.path}): ${d.errors.join('; ')}`);
      return { target: d.disk.target, path: d.disk.path, node: undefined, bitmaps: d.bitmaps.map((b) => b.name) };
    });
  } else {
    // planScrub refuses other states; no point asking anything more.
    diskStates = disks.map((d) => ({ target: d.disk.target, path: d.disk.path, node: undefined, bitmaps: [] }));
  }
  return { domain, state: snap.state, jobActive: snap.jobActive, checkpoints, disks: diskStates };
}

/** The disks that can carry persistent dirty bitmaps: eligible qcow2 disks with a file or block source. */
function bitmapDisks(disks: readonly DomainDisk[]): Array<DomainDisk & { path: string }> {
  return eligibleDisks(disks).filter(
    (d): d is DomainDisk & { path: string } => d.format === 'qcow2' && (d.sourceType === 'file' || d.sourceType === 'block') && d.path !== undefined,
  );
}
