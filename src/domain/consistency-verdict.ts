/**
 * The consistency verdict: checkpoint names against bitmap names, disk by disk. Pure.
 *
 * libvirt keeps checkpoint metadata; QEMU (running) or the qcow2 file (shut off) keeps the
 * bitmaps. An incremental backup needs both to agree for every disk, so a mismatch is reported
 * with the disk, the name, and the command that repairs it.
 */
import type { Checkpoint, DiskBitmap } from './types.js';
import { isOwnedName } from './owned-names.js';
import { formatShellCommand } from '../util/shell-quote.js';

export interface DiskBitmapView {
  disk: string;
  /** Whether this disk is backed up at all (ineligible disks carry no bitmaps by design). */
  eligible: boolean;
  /** undefined when the bitmaps could not be read (reported as its own problem). */
  bitmaps: DiskBitmap[] | undefined;
}

export type ProblemKind = 'missing-bitmap' | 'orphan-bitmap' | 'inconsistent-bitmap' | 'unreadable-bitmaps' | 'checkpoint-unreadable';

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
  // Fixes are pasted into a shell: every word quoted (a domain may be called `a;$(id)`).
  const vmkeep = (...words: string[]) => formatShellCommand(['vmkeep', ...words]);
  const scrubAll = `${vmkeep('scrub', '--domains', domain, '--scrubType', 'both')}, then the next backup starts a new full chain`;
  for (const disk of disks) {
    if (!disk.eligible) continue;
    if (disk.bitmaps === undefined) {
      problems.push({
        kind: 'unreadable-bitmaps',
        disk: disk.disk,
        name: undefined,
        message: `bitmaps of ${disk.disk} could not be read`,
        fix: `check the disk image and run: ${vmkeep('status', '--domains', domain, '--verbose')}`,
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
          fix: scrubAll,
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
          fix: orphanFix(domain, b.name, checkpoints),
        });
      } else if (b.inconsistent) {
        problems.push({
          kind: 'inconsistent-bitmap',
          disk: disk.disk,
          name: b.name,
          message: `bitmap ${b.name} on ${disk.disk} is marked inconsistent (not saved cleanly)`,
          fix: scrubAll,
        });
      }
    }
  }
  return { consistent: problems.length === 0, problems };
}

/**
 * The fix for one orphan bitmap: scrub that name only. A plain `--scrubType bitmap` would be far
 * wider: it removes every bitmap and, since a checkpoint must not outlive its bitmap, every
 * checkpoint with one, ending the chain. `--checkpointName NAME` limits the scrub to orphan
 * bitmaps of that name (on any disk) and a checkpoint of that name, if one exists (say so).
 */
function orphanFix(domain: string, bitmap: string, checkpoints: readonly Checkpoint[]): string {
  const owned = isOwnedName(bitmap);
  const command = formatShellCommand([
    'vmkeep',
    'scrub',
    '--domains',
    domain,
    '--scrubType',
    'bitmap',
    '--checkpointName',
    bitmap,
    ...(owned ? [] : ['--force']),
  ]);
  const alsoCheckpoint = checkpoints.some((c) => c.name === bitmap)
    ? `; this also deletes checkpoint ${bitmap} (its bitmaps on other disks), then the next backup starts a new full chain`
    : '';
  return owned ? `${command}${alsoCheckpoint}` : `not a vmkeep bitmap; remove it only if nothing else uses it: ${command}${alsoCheckpoint}`;
}
