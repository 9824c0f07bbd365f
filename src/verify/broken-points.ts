/**
 * Which restore points a set of problems breaks. Pure.
 *
 * A point is broken exactly when its restore would read a bad file (the same file list restore
 * checks before it writes anything: filesForPoint), when the chain's links are wrong at or before
 * it, or when its deep check (restore + qemu-img check) failed. So a bad data file of point k
 * breaks k and every later point, a bad full breaks them all, and a bad vmconfig or qcow.json of
 * point k breaks only k (later points restore with their own copies).
 */
import { filesForPoint } from '../points/plan-restore.js';
import type { FileProblemKind } from '../points/check-files.js';
import type { RestoreChain } from '../points/types.js';

export type VerifyProblemKind =
  | FileProblemKind
  /** A point's data says another checkpoint or parent than the chain (breaks it and what follows). */
  | 'link'
  /** virtnbdbackup's own chain records (.cpt, checkpoints/*.xml) disagree: the next backup may fail, restores do not. */
  | 'chain-record'
  /** A `.partial` file of an interrupted run. */
  | 'leftover'
  /** A data file no finished run recorded. */
  | 'unrecorded'
  /** The chain's own state (broken, a run that never finished). */
  | 'state'
  /** A deep check (restore, qemu-img check, checksum verify) failed for a point. */
  | 'deep';

export interface VerifyProblem {
  kind: VerifyProblemKind;
  /** File relative to the chain folder, when the problem is about one file. */
  file?: string | undefined;
  /** The point the problem is at (the point that recorded the file, or whose link is wrong). */
  checkpoint?: string | undefined;
  message: string;
}

/** Checkpoint names of the points these problems break, in chain order. */
export function brokenPoints(chain: RestoreChain, problems: readonly VerifyProblem[]): string[] {
  const index = new Map(chain.points.map((p, i) => [p.checkpoint, i]));
  const badFiles = new Set(problems.filter((p) => p.file !== undefined && isFileProblem(p.kind)).map((p) => p.file!));
  const linkAt = Math.min(...problems.filter((p) => p.kind === 'link').map((p) => (p.checkpoint === undefined ? 0 : (index.get(p.checkpoint) ?? 0))));
  const deep = new Set(problems.filter((p) => p.kind === 'deep' && p.checkpoint !== undefined).map((p) => p.checkpoint!));
  const broken: string[] = [];
  chain.points.forEach((p, i) => {
    const needed = filesForPoint(chain, i);
    if (i >= linkAt || deep.has(p.checkpoint) || needed.problems.length > 0 || needed.check.some((f) => badFiles.has(f.path))) {
      broken.push(p.checkpoint);
    }
  });
  return broken;
}

function isFileProblem(kind: VerifyProblemKind): boolean {
  return kind === 'missing' || kind === 'size' || kind === 'checksum' || kind === 'stream' || kind === 'unreadable';
}
