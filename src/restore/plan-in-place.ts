/**
 * planInPlace: put a restore point back under an existing domain (VMSnap/timewarp's
 * `restore -f -c -k`). Pure: from the restore plan, what libvirt says about the domain now, and
 * the options, the ordered steps and why each is there.
 *
 * The steps, in order:
 * 1. (--checkpoint-current) back up the current state first, labelled "before-restore", so the
 *    restore itself can be undone;
 * 2. check every file the restore reads against the manifest;
 * 3. restore each disk into a temporary folder next to its image (same file system, so the swap
 *    is a rename), while the domain still runs: the downtime is only the swap;
 * 4. shut the domain down if it runs (graceful, destroyed after the timeout; needs --force);
 * 5. swap each disk: the current image is renamed to `<file>.vmkeep-replaced-<time>`, the restored
 *    one renamed into its place with the current image's owner and mode;
 * 6. start the domain again if it was running (paused if it was paused);
 * 7. delete the domain's vmkeep checkpoints (metadata only: their bitmaps stayed in the replaced
 *    images); the next backup then starts a new full chain;
 * 8. (--discard-old) delete the replaced images.
 * A failure in steps 3-6 puts the original images back and the domain in its previous state.
 */
import type { DomainDisk, DomainState } from '../domain/types.js';
import { VmkeepError, usageError } from '../errors.js';
import { isOwnedName } from '../domain/owned-names.js';
import { basename, dirname, join } from 'node:path';
import { compactTime, type RestorePlan } from '../points/plan-restore.js';
import type { InPlaceRequest } from '../points/restore-options.js';

/** What libvirt says about the domain, read just before planning. */
export interface InPlaceFacts {
  state: DomainState;
  /** Disks of the domain's persistent definition (what the next start uses). */
  disks: DomainDisk[];
  /** Checkpoint names, parents first. */
  checkpoints: string[];
}

/** One disk to swap. */
export interface InPlaceDisk {
  target: string;
  /** The image the domain uses now; the restored image takes its place. */
  path: string;
  /** Folder next to the image where the restored image is made. */
  tempDir: string;
  /** The current image's name once replaced (kept unless --discard-old). */
  replacedPath: string;
}

export interface InPlacePlan {
  restore: RestorePlan;
  domain: string;
  /** State before anything was done: the state to return to, also after a failure. */
  wasState: DomainState;
  stop: boolean;
  restart: 'none' | 'start' | 'start-paused';
  checkpointCurrent: boolean;
  discardOld: boolean;
  shutdownTimeoutMs: number;
  disks: InPlaceDisk[];
  /** Disks of the domain this restore leaves alone (not in the chain, or not chosen with --disk). */
  untouched: string[];
  /** vmkeep checkpoints whose metadata goes after the swap. */
  scrub: string[];
  /** Checkpoints vmkeep does not own: left alone, though their bitmaps are gone from the restored disks. */
  foreign: string[];
  /** The plan in words, in order. */
  steps: string[];
}

/** Plan an in-place restore; refuses (usage 64 or failure 2) before anything would be done. */
export function planInPlace(restore: RestorePlan, facts: InPlaceFacts, request: InPlaceRequest, now: Date): InPlacePlan {
  const domain = restore.domain;
  const live = facts.state === 'running' || facts.state === 'paused';
  if (facts.state === 'other') throw new VmkeepError('failure', `domain ${domain} is neither running, paused nor shut off: restore it when it is`);
  if (live && !request.force) {
    throw usageError(
      `domain ${domain} is ${facts.state}: an in-place restore replaces its disks; add --force to shut it down (graceful, destroyed after ${Math.round(request.shutdownTimeoutMs / 1000)} s) and start it again afterwards`,
    );
  }
  const stamp = compactTime(now);
  const disks: InPlaceDisk[] = restore.disks.map((d) => {
    const current = facts.disks.find((x) => x.target === d.target);
    if (!current) throw new VmkeepError('failure', `domain ${domain} has no disk ${d.target} any more (the backup has it): restore it with --to DIR instead`);
    if (current.sourceType !== 'file' || current.path === undefined) {
      throw new VmkeepError(
        'failure',
        `disk ${d.target} of ${domain} is not a file (${current.sourceType}): an in-place restore can only swap image files; use --to DIR`,
      );
    }
    if (current.format !== 'qcow2') {
      throw new VmkeepError('failure', `disk ${d.target} of ${domain} is ${current.format ?? 'of unknown format'}, restored images are qcow2: use --to DIR`);
    }
    return {
      target: d.target,
      path: current.path,
      tempDir: join(dirname(current.path), `.vmkeep-restore-${stamp}-${d.target}`),
      replacedPath: `${current.path}.vmkeep-replaced-${stamp}`,
    };
  });
  const restored = new Set(disks.map((d) => d.target));
  const untouched = facts.disks.filter((d) => d.device === 'disk' && !restored.has(d.target)).map((d) => d.target);
  const scrub = facts.checkpoints.filter(isOwnedName);
  const foreign = facts.checkpoints.filter((c) => !isOwnedName(c));
  const restart = facts.state === 'running' ? 'start' : facts.state === 'paused' ? 'start-paused' : 'none';

  const steps: string[] = [];
  if (request.checkpointCurrent) steps.push(`back up the current state of ${domain} (label "before-restore") so this restore can be undone`);
  steps.push(
    `check ${new Set(restore.check.map((f) => f.path)).size} files of ${restore.point.id} against ${restore.legacy ? 'their stream structure (no checksums recorded)' : 'the manifest'}`,
  );
  for (const d of restore.disks) {
    const disk = disks.find((x) => x.target === d.target)!;
    steps.push(`restore ${d.target} from ${d.sequence.map((s) => basename(s)).join(', ')} into ${disk.tempDir}${live ? ` while ${domain} still runs` : ''}`);
  }
  if (live) {
    steps.push(
      facts.state === 'paused'
        ? `destroy ${domain} (paused: a graceful shutdown cannot run)`
        : `shut ${domain} down (graceful, destroyed after ${Math.round(request.shutdownTimeoutMs / 1000)} s)`,
    );
  }
  for (const d of disks) steps.push(`keep ${d.path} as ${basename(d.replacedPath)}, put the restored image in its place (owner and mode copied)`);
  if (restart !== 'none') steps.push(`start ${domain} again${restart === 'start-paused' ? ' paused' : ''}`);
  if (scrub.length > 0) {
    steps.push(`delete checkpoints ${scrub.join(', ')} (metadata: their bitmaps stay in the replaced images); the next backup starts a new full chain`);
  } else {
    steps.push('no vmkeep checkpoints to delete; the next backup starts a new full chain (the restored images carry no bitmaps)');
  }
  if (foreign.length > 0) steps.push(`leave checkpoints ${foreign.join(', ')} alone (not vmkeep's): their bitmaps are gone from the restored disks`);
  if (untouched.length > 0) steps.push(`leave disks ${untouched.join(', ')} as they are`);
  steps.push(request.discardOld ? 'delete the replaced images' : 'keep the replaced images (delete them yourself once the restored domain is good)');

  return {
    restore,
    domain,
    wasState: facts.state,
    stop: live,
    restart,
    checkpointCurrent: request.checkpointCurrent,
    discardOld: request.discardOld,
    shutdownTimeoutMs: request.shutdownTimeoutMs,
    disks,
    untouched,
    scrub,
    foreign,
    steps,
  };
}
