/**
 * The replication planner (pure: no I/O, no clock). Which restore points go into the restic
 * repository, which are there already, which are skipped and why. One snapshot per point; a
 * point's snapshot holds every file needed to restore it (the chain's shared files, the data
 * files of the full and of each incremental up to it), so any one snapshot restores alone.
 */
import type { PointTags } from '../restic/tags.js';

/** A restore point as the planner sees it. */
export interface SourcePoint {
  checkpoint: string;
  time: string;
  /** Data files of this point (relative to the chain folder). */
  dataFiles: readonly string[];
  /** Repositories the manifest says the point was sent to (redacted), with the snapshot id. */
  replicas?: ReadonlyArray<{ repository: string; snapshot: string }>;
}

/** A chain folder as the planner sees it. */
export interface SourceChain {
  host: string;
  domain: string;
  /** Chain folder name (the point id's first part). */
  chain: string;
  /** Absolute path of the chain folder. */
  dir: string;
  state: 'complete' | 'in-progress' | 'broken';
  /** The domain's newest chain: later backups may still add points to it. */
  newest: boolean;
  /** false for a VMSnap folder (no manifest): nothing to verify a restore against. */
  hasManifest: boolean;
  /** Every file in the chain folder (relative paths), as listed just now. */
  files: readonly string[];
  points: readonly SourcePoint[];
}

/** A snapshot already in the repository, by the point its tags name. */
export interface ExistingSnapshot {
  id: string;
  point: PointTags;
  /** The snapshot's time (the point's backup time), ISO 8601; repository-side retention needs it. */
  time?: string;
}

export type ChainsOption = 'complete' | 'all';

export interface PointToSend {
  point: PointTags;
  /** The chain folder (its manifest records the replica). */
  chainDir: string;
  time: string;
  /** Absolute paths of the files that go into this point's snapshot. */
  files: string[];
  /** The snapshot of the chain's previous point, if the repository has it (restic then re-reads only changed files). */
  parentOf: PointTags | undefined;
}

export interface ReplicationPlan {
  send: PointToSend[];
  /** Points the repository already has (by snapshot id). */
  present: Array<{ point: PointTags; snapshot: string }>;
  skipped: Array<{ point: PointTags | { host: string; domain: string; chain: string }; reason: string }>;
}

/** Same point? */
export function samePoint(a: PointTags, b: PointTags): boolean {
  return a.host === b.host && a.domain === b.domain && a.chain === b.chain && a.checkpoint === b.checkpoint;
}

function key(p: PointTags): string {
  return JSON.stringify([p.host, p.domain, p.chain, p.checkpoint]);
}

/**
 * The files of point `index`: everything in the folder except data files of later points and
 * leftovers of an interrupted run (`.partial`).
 */
export function filesOfPoint(chain: SourceChain, index: number): string[] {
  const later = new Set(chain.points.slice(index + 1).flatMap((p) => p.dataFiles));
  return chain.files.filter((f) => !later.has(f) && !f.endsWith('.partial')).sort();
}

/** Plan one replicate run. Chains in the order given; points oldest first within a chain. */
export function planReplication(
  chains: readonly SourceChain[],
  existing: readonly ExistingSnapshot[],
  options: { chains: ChainsOption; /** The target, as recorded in manifests. */ repository?: string },
): ReplicationPlan {
  const have = new Map(existing.map((s) => [key(s.point), s.id]));
  const plan: ReplicationPlan = { send: [], present: [], skipped: [] };
  for (const chain of chains) {
    const where = { host: chain.host, domain: chain.domain, chain: chain.chain };
    if (!chain.hasManifest) {
      plan.skipped.push({ point: where, reason: 'no vmkeep manifest (a VMSnap folder): a copy could not be checked after a restore' });
      continue;
    }
    if (chain.state === 'broken') {
      plan.skipped.push({ point: where, reason: 'chain is broken: its points would not restore' });
      continue;
    }
    if (chain.state === 'in-progress') {
      plan.skipped.push({ point: where, reason: 'a backup run is unfinished in this chain: the next backup repairs it, replicate after that' });
      continue;
    }
    if (chain.newest && options.chains === 'complete') {
      plan.skipped.push({ point: where, reason: 'chain still growing (--chains complete sends finished chains only)' });
      continue;
    }
    let previous: PointTags | undefined;
    chain.points.forEach((p, i) => {
      const point: PointTags = { ...where, checkpoint: p.checkpoint };
      const id = have.get(key(point));
      const before = p.replicas?.find((r) => r.repository === options.repository);
      if (id !== undefined) plan.present.push({ point, snapshot: id });
      // Sent once and gone since: repository-side retention removed it. Sending it again would undo that.
      else if (before)
        plan.skipped.push({ point, reason: `sent before (snapshot ${before.snapshot.slice(0, 8)}) and no longer in the repository: pruned there` });
      else plan.send.push({ point, chainDir: chain.dir, time: p.time, files: filesOfPoint(chain, i).map((f) => `${chain.dir}/${f}`), parentOf: previous });
      previous = point;
    });
  }
  return plan;
}
