/**
 * The pure half of `vmkeep scrub`: from a snapshot of one domain and the request, the ordered
 * list of actions, each with the reason it is there (or the reason something is left alone).
 * No runner, no fs, no clock: the same input always gives the same plan.
 */
import { VmkeepError } from '../errors.js';
import { isOwnedName } from './owned-names.js';
import { isLive } from './state.js';
import type { DomainState } from './types.js';

/** What to scrub: libvirt checkpoints, dirty bitmaps, or both ('*' is VMSnap's spelling of both). */
export type ScrubType = 'checkpoint' | 'bitmap' | 'both' | '*';

export const SCRUB_TYPES: readonly ScrubType[] = ['checkpoint', 'bitmap', 'both', '*'];

/** One qcow2 disk of the domain and the persistent bitmaps it holds right now. */
export interface ScrubDiskState {
  /** Target device, e.g. vda. */
  target: string;
  /** Image path (what `qemu-img bitmap --remove` gets when the domain is off). */
  path: string;
  /** QEMU's qcow2 format node for the image (running/paused only): where QMP removes bitmaps. */
  node: string | undefined;
  /** Bitmap names, as QEMU (running) or the image file (shut off) reports them. */
  bitmaps: string[];
}

/** A libvirt checkpoint and the bitmap it names on each disk it tracks. */
export interface ScrubCheckpointState {
  name: string;
  parent: string | undefined;
  /** Only disks with checkpoint='bitmap'. */
  bitmaps: Array<{ disk: string; bitmap: string }>;
}

/** Everything planScrub needs to know about one domain. */
export interface ScrubDomainState {
  domain: string;
  state: DomainState;
  /** A libvirt job (a backup, usually) is running on the domain (live domains only). */
  jobActive: boolean;
  /** Parents before children (`checkpoint-list --topological`). */
  checkpoints: ScrubCheckpointState[];
  disks: ScrubDiskState[];
}

export interface ScrubRequest {
  scrubType: ScrubType;
  /** Limit the scrub to this checkpoint (and its bitmaps), or to an orphan bitmap of this name. */
  checkpointName?: string | undefined;
  /** Also remove checkpoints and bitmaps whose names vmkeep does not own. */
  force: boolean;
}

export type ScrubActionKind =
  | 'delete-checkpoint' // virsh checkpoint-delete: libvirt drops the metadata and removes the bitmaps in QEMU
  | 'delete-checkpoint-metadata' // virsh checkpoint-delete --metadata: bitmaps are not touched
  | 'remove-bitmap' // QMP block-dirty-bitmap-remove (running) or qemu-img bitmap --remove (shut off)
  | 'skip-checkpoint'
  | 'skip-bitmap';

export interface ScrubAction {
  action: ScrubActionKind;
  /** Checkpoint name, or bitmap name for remove-bitmap/skip-bitmap. */
  target: string;
  /** The disk of a bitmap action. */
  disk?: string;
  reason: string;
  /**
   * For a bitmap that belongs to a checkpoint: that checkpoint. The executor removes the bitmap
   * only when the checkpoint's delete succeeded, so a checkpoint never points at a removed bitmap.
   */
  checkpoint?: string;
}

/** What the request asks to be gone once the plan has run: the re-read is checked against it. */
export interface ScrubWanted {
  checkpoints: string[];
  /** disk → bitmap names. */
  bitmaps: Record<string, string[]>;
}

export interface ScrubPlan {
  domain: string;
  state: DomainState;
  actions: ScrubAction[];
  wanted: ScrubWanted;
}

const NOT_OWNED = 'not a vmkeep-owned name (use --force)';

/**
 * Plan the scrub of one domain. Throws a VmkeepError when the request cannot apply to this
 * domain (state scrub cannot work on, a job running on it, unknown --checkpointName).
 *
 * Order: checkpoints children before parents (so an interrupted run leaves a shorter chain, not a
 * chain with a hole), then bitmaps no checkpoint refers to.
 */
// eslint-disable-next-line max-lines-per-function -- a pure decision read in order, each branch returning with its reason
export function planScrub(state: ScrubDomainState, request: ScrubRequest): ScrubPlan {
  if (state.state !== 'running' && state.state !== 'paused' && state.state !== 'shut off') {
    throw new VmkeepError('failure', `${state.domain} is neither running, paused nor shut off: cannot scrub it in this state`);
  }
  if (state.jobActive) {
    // libvirt 9.0 lets checkpoints be deleted under a running backup job: that backup's chain
    // would then point at a checkpoint that is gone.
    throw new VmkeepError('failure', `a job (a backup?) is running on ${state.domain}: let it finish or abort it (virsh domjobabort) before scrubbing`);
  }
  const live = isLive(state.state);
  const withCheckpoints = request.scrubType !== 'bitmap';
  const withBitmaps = request.scrubType !== 'checkpoint';
  const named = request.checkpointName;

  const disks = new Map(state.disks.map((d) => [d.target, d]));
  const referenced = referencedBitmaps(state.checkpoints);
  const orphans = state.disks.flatMap((d) => d.bitmaps.filter((b) => !referenced.get(d.target)?.has(b)).map((bitmap) => ({ disk: d.target, bitmap })));

  let checkpoints = state.checkpoints;
  let orphanCandidates = withBitmaps ? orphans : [];
  if (named !== undefined) {
    checkpoints = checkpoints.filter((c) => c.name === named);
    orphanCandidates = orphanCandidates.filter((o) => o.bitmap === named);
    if (checkpoints.length === 0 && orphanCandidates.length === 0) {
      throw new VmkeepError('failure', unknownNameMessage(state.domain, named, withBitmaps, orphans));
    }
  }

  const actions: ScrubAction[] = [];
  const wanted: ScrubWanted = { checkpoints: [], bitmaps: {} };
  const want = (disk: string, bitmap: string) => (wanted.bitmaps[disk] ??= []).push(bitmap);

  for (const cp of [...checkpoints].reverse()) {
    // Bitmaps of disks the domain no longer has (or that vmkeep does not track) are left to libvirt,
    // which skips unplugged disks itself.
    const tracked = cp.bitmaps.filter((b) => disks.has(b.disk));
    const present = tracked.filter((b) => disks.get(b.disk)!.bitmaps.includes(b.bitmap));
    const missing = tracked.filter((b) => !disks.get(b.disk)!.bitmaps.includes(b.bitmap));

    if (!isOwnedName(cp.name) && !request.force) {
      actions.push({ action: 'skip-checkpoint', target: cp.name, reason: NOT_OWNED });
      if (named !== undefined) wanted.checkpoints.push(cp.name);
      continue;
    }
    if (!withCheckpoints && present.length === 0) {
      actions.push({
        action: 'skip-checkpoint',
        target: cp.name,
        reason: `it has no bitmap left to remove; --scrubType checkpoint drops its metadata`,
      });
      if (named !== undefined) wanted.checkpoints.push(cp.name);
      continue;
    }

    // With --scrubType bitmap the checkpoint goes because its bitmap goes: say so.
    const why = withCheckpoints ? '' : `its bitmap ${list(present)} is to be removed and a checkpoint must not outlive its bitmap: `;
    wanted.checkpoints.push(cp.name);
    for (const b of present) want(b.disk, b.bitmap);

    if (live && missing.length === 0) {
      actions.push({
        action: 'delete-checkpoint',
        target: cp.name,
        reason:
          present.length > 0
            ? `${why}libvirt deletes the checkpoint and removes its bitmap ${list(present)} in QEMU`
            : 'libvirt deletes the checkpoint (it has no bitmap on the disks vmkeep tracks)',
      });
      continue;
    }
    const metadataReason =
      missing.length > 0
        ? `its bitmap ${list(missing)} is already gone, so a plain delete would fail: drop the metadata only`
        : present.length > 0
          ? 'libvirt cannot delete a checkpoint of a shut-off domain: drop its metadata, then remove its bitmap from the image'
          : 'libvirt cannot delete a checkpoint of a shut-off domain: drop its metadata (it has no bitmap on the disks vmkeep tracks)';
    actions.push({ action: 'delete-checkpoint-metadata', target: cp.name, reason: `${why}${metadataReason}` });
    for (const b of present) {
      actions.push({
        action: 'remove-bitmap',
        target: b.bitmap,
        disk: b.disk,
        checkpoint: cp.name,
        reason: live
          ? `bitmap of checkpoint ${cp.name}, removed in QEMU after its metadata`
          : `bitmap of checkpoint ${cp.name}, removed from the image after its metadata`,
      });
    }
  }

  for (const o of orphanCandidates) {
    if (!isOwnedName(o.bitmap) && !request.force) {
      actions.push({ action: 'skip-bitmap', target: o.bitmap, disk: o.disk, reason: NOT_OWNED });
      if (named !== undefined) want(o.disk, o.bitmap);
      continue;
    }
    actions.push({ action: 'remove-bitmap', target: o.bitmap, disk: o.disk, reason: 'no checkpoint refers to it' });
    want(o.disk, o.bitmap);
  }

  return { domain: state.domain, state: state.state, actions, wanted };
}

function referencedBitmaps(checkpoints: readonly ScrubCheckpointState[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const cp of checkpoints) {
    for (const b of cp.bitmaps) {
      let set = out.get(b.disk);
      if (!set) out.set(b.disk, (set = new Set()));
      set.add(b.bitmap);
    }
  }
  return out;
}

function list(bitmaps: ReadonlyArray<{ disk: string; bitmap: string }>): string {
  return bitmaps.map((b) => `${b.bitmap} on ${b.disk}`).join(', ');
}

function unknownNameMessage(domain: string, name: string, withBitmaps: boolean, orphans: ReadonlyArray<{ disk: string; bitmap: string }>): string {
  if (withBitmaps) return `${domain} has no checkpoint and no orphan bitmap named ${JSON.stringify(name)}`;
  const asBitmap = orphans.filter((o) => o.bitmap === name);
  const disks = asBitmap.map((o) => o.disk).join(', ');
  const hint = asBitmap.length > 0 ? ` (a bitmap of that name is on ${disks}: use --scrubType bitmap)` : '';
  return `${domain} has no checkpoint named ${JSON.stringify(name)}${hint}`;
}

/** What the domain would hold after the plan ran as intended (dry runs report this). */
export function simulateScrub(state: ScrubDomainState, plan: ScrubPlan): ScrubDomainState {
  const goneCheckpoints = new Set<string>();
  const goneBitmaps = new Set<string>(); // `${disk}\0${bitmap}`
  const key = (disk: string, bitmap: string) => `${disk}\0${bitmap}`;
  for (const a of plan.actions) {
    if (a.action === 'delete-checkpoint') {
      goneCheckpoints.add(a.target);
      for (const b of state.checkpoints.find((c) => c.name === a.target)?.bitmaps ?? []) goneBitmaps.add(key(b.disk, b.bitmap));
    } else if (a.action === 'delete-checkpoint-metadata') {
      goneCheckpoints.add(a.target);
    } else if (a.action === 'remove-bitmap' && a.disk !== undefined) {
      goneBitmaps.add(key(a.disk, a.target));
    }
  }
  return {
    ...state,
    checkpoints: state.checkpoints.filter((c) => !goneCheckpoints.has(c.name)),
    disks: state.disks.map((d) => ({ ...d, bitmaps: d.bitmaps.filter((b) => !goneBitmaps.has(key(d.target, b))) })),
  };
}

/** The request's wanted items that the state still holds. */
export function stillPresent(plan: ScrubPlan, after: ScrubDomainState): string[] {
  const out: string[] = [];
  const checkpoints = new Set(after.checkpoints.map((c) => c.name));
  for (const c of plan.wanted.checkpoints) if (checkpoints.has(c)) out.push(`checkpoint ${c}`);
  for (const [disk, names] of Object.entries(plan.wanted.bitmaps)) {
    const present = after.disks.find((d) => d.target === disk)?.bitmaps ?? [];
    for (const b of names) if (present.includes(b)) out.push(`bitmap ${b} on ${disk}`);
  }
  return out;
}
