/**
 * The consistency verdict: checkpoint names against bitmap names, disk by disk. Pure.
 *
 * libvirt keeps checkpoint metadata; QEMU (running) or the qcow2 file (shut off) keeps the
 * bitmaps. An incremental backup needs both to agree for every disk, so a mismatch is reported
 * with the disk, the name, and the command that repairs it.
 */
import type { Checkpoint, DiskBitmap } from '../domain/types.js';
import { isOwnedName } from '../domain/owned-names.js';

export interface DiskBitmapView {
  disk: string;
  /** Whether this disk is backed up at all (ineligible disks carry no bitmaps by design). */
  eligible: boolean;
  /** undefined when the bitmaps could not be read (reported as its own problem). */
  bitmaps: DiskBitmap[] | undefined;
}

export type ProblemKind =
  | 'missing-bitmap'
  | 'orphan-bitmap'
  | 'inconsistent-bitmap'
  | 'unreadable-bitmaps'
  | 'checkpoint-unreadable';

export interface ConsistencyProblem {
  kind: ProblemKind;
  disk: string | undefined;
  name: string | undefined;
  message: string;
  fix: string;
}

export interface Verdict {
  consistent: boolean;
  problems: ConsistencyProblem[];
}

/** Compare checkpoints with bitmaps on every eligible disk. */
export function judgeConsistency(domain: string, checkpoints: readonly Checkpoint[], disks: readonly DiskBitmapView[]): Verdict {
  const problems: ConsistencyProblem[] = [];
  const q = JSON.stringify(domain);
  for (const disk of disks) {
    if (!disk.eligible) continue;
    if (disk.bitmaps === undefined) {
      problems.push({
        kind: 'unreadable-bitmaps',
        disk: disk.disk,
        name: undefined,
        message: `bitmaps of ${disk.disk} could not be read`,
        fix: `check the disk image and run: vmkeep status --domains ${q} --verbose`,
      });
      continue;
    }
    const present = new Map(disk.bitmaps.map((b) => [b.name, b]));
    const expected = new Set<string>();
    for (const cp of checkpoints) {
      const entry = cp.disks.find((d) => d.name === disk.disk);
      if (!entry || entry.checkpoint !== 'bitmap') continue;
      const bitmap = entry.bitmap ?? cp.name;
      expected.add(bitmap);
      if (!present.has(bitmap)) {
        problems.push({
          kind: 'missing-bitmap',
          disk: disk.disk,
          name: bitmap,
          message: `checkpoint ${cp.name} expects bitmap ${bitmap} on ${disk.disk}, but ${disk.disk} has no such bitmap`,
          fix: `vmkeep scrub --domains ${q} --scrubType both, then the next backup starts a new full chain`,
        });
      }
    }
    for (const b of disk.bitmaps) {
      if (!expected.has(b.name)) {
        problems.push({
          kind: 'orphan-bitmap',
          disk: disk.disk,
          name: b.name,
          message: `bitmap ${b.name} on ${disk.disk} belongs to no checkpoint`,
          fix: isOwnedName(b.name)
            ? `vmkeep scrub --domains ${q} --scrubType bitmap`
            : `not a vmkeep bitmap; remove it only if nothing else uses it: vmkeep scrub --domains ${q} --scrubType bitmap --force`,
        });
      } else if (b.inconsistent) {
        problems.push({
          kind: 'inconsistent-bitmap',
          disk: disk.disk,
          name: b.name,
          message: `bitmap ${b.name} on ${disk.disk} is marked inconsistent (not saved cleanly)`,
          fix: `vmkeep scrub --domains ${q} --scrubType both, then the next backup starts a new full chain`,
        });
      }
    }
  }
  return { consistent: problems.length === 0, problems };
}
