/**
 * What `vmkeep delete` does with the points and chains it is given (pure: no fs, no libvirt).
 *
 * - a whole chain (`--chain`, or every point of a chain named with `--at`) is removed;
 * - the newest points named (the newest, and those right before it that are named too) are
 *   removed one by one from the newest, each with its libvirt checkpoint;
 * - every other run of named points is merged into the next point not named (their data goes
 *   into it, the later points stay restorable), as prune --merge-points does. The full of a
 *   virtnbdbackup chain cannot be merged (its stream is the only one holding the whole disk).
 * Refused, with the reason: a protected point or chain, an unknown point or chain, a VMSnap
 * folder without a manifest, a chain being written or waiting for repair.
 */
import { usageError } from '../errors.js';
import type { PointMerge } from '../retention/types.js';

/** What the planner needs of a chain (repository's ChainView has it). */
export interface DeletableChain {
  folder: string;
  legacy: boolean;
  protected: boolean;
  state: 'complete' | 'in-progress' | 'broken';
  engine: 'virtnbdbackup' | 'push' | undefined;
  points: ReadonlyArray<{ checkpoint: string; protected: boolean }>;
}

export interface DeleteRequest {
  domain: string;
  /** `FOLDER/CHECKPOINT` ids (as `vmkeep list` prints them). */
  at: readonly string[];
  /** Chain folders to remove whole. */
  chains: readonly string[];
}

export interface DeletePlan {
  domain: string;
  /** Chain folders removed whole. */
  removeChains: string[];
  /** Newest points removed, in the order they go (newest first within a chain). */
  removeNewest: Array<{ chain: string; checkpoint: string }>;
  /** Inner points merged into their child, oldest first per chain. */
  merges: PointMerge[];
}

/** Plan a delete; bad input is a usage error naming the point and why. */
export function planDelete(chains: readonly DeletableChain[], request: DeleteRequest): DeletePlan {
  if (request.at.length === 0 && request.chains.length === 0)
    throw usageError('name what to delete: --at FOLDER/CHECKPOINT (see vmkeep list) or --chain FOLDER');
  const byFolder = new Map(chains.map((c) => [c.folder, c]));
  const known = () => chains.map((c) => c.folder).join(', ') || 'none';
  const chainOf = (folder: string): DeletableChain => {
    const chain = byFolder.get(folder);
    if (!chain) throw usageError(`no chain ${JSON.stringify(folder)} of ${request.domain} (chains: ${known()})`);
    if (chain.protected) throw usageError(`${folder} is protected: nothing of it is deleted (vmkeep unprotect ${folder} first)`);
    if (chain.legacy)
      throw usageError(`${folder} has no vmkeep manifest (a VMSnap folder): its points cannot be deleted one by one; delete the chain with --chain ${folder}`);
    return chain;
  };
  const whole = new Set<string>();
  for (const folder of request.chains) {
    const chain = byFolder.get(folder);
    if (!chain) throw usageError(`no chain ${JSON.stringify(folder)} of ${request.domain} (chains: ${known()})`);
    if (chain.protected) throw usageError(`${folder} is protected: it is not deleted (vmkeep unprotect ${folder} first)`);
    const kept = chain.points.filter((p) => p.protected).map((p) => p.checkpoint);
    if (kept.length > 0) throw usageError(`${folder} holds protected points (${kept.join(', ')}): it is not deleted (vmkeep unprotect them first)`);
    whole.add(folder);
  }
  const named = new Map<string, Set<string>>();
  for (const id of request.at) {
    const [folder, checkpoint, extra] = id.split('/');
    if (!folder || !checkpoint || extra !== undefined) throw usageError(`--at takes FOLDER/CHECKPOINT (see vmkeep list), got ${JSON.stringify(id)}`);
    if (whole.has(folder)) continue;
    const chain = chainOf(folder);
    const point = chain.points.find((p) => p.checkpoint === checkpoint);
    if (!point) throw usageError(`no point ${checkpoint} in ${folder} (points: ${chain.points.map((p) => p.checkpoint).join(', ')})`);
    if (point.protected) throw usageError(`${id} is protected: it is not deleted (vmkeep unprotect ${id} first)`);
    if (chain.state !== 'complete') throw usageError(`${folder} is ${chain.state}: its points are not deleted until a backup or verify has settled it`);
    named.set(folder, (named.get(folder) ?? new Set()).add(checkpoint));
  }
  const plan: DeletePlan = { domain: request.domain, removeChains: [...whole], removeNewest: [], merges: [] };
  for (const [folder, ids] of named) {
    const chain = byFolder.get(folder)!;
    const points = chain.points.map((p) => p.checkpoint);
    if (points.every((p) => ids.has(p))) {
      plan.removeChains.push(folder);
      continue;
    }
    // The named points at the end of the chain go as newest points, newest first.
    let end = points.length;
    while (end > 0 && ids.has(points[end - 1]!)) end -= 1;
    for (let i = points.length - 1; i >= end; i--) plan.removeNewest.push({ chain: folder, checkpoint: points[i]! });
    for (let i = 0; i < end; i++) {
      if (!ids.has(points[i]!)) continue;
      const first = i;
      while (i + 1 < end && ids.has(points[i + 1]!)) i += 1;
      if (first === 0 && chain.engine === 'virtnbdbackup') {
        throw usageError(
          `${folder}/${points[0]} is the full of a virtnbdbackup chain: it cannot be merged into its child; delete the chain with --chain ${folder}`,
        );
      }
      const into = points[i + 1]!;
      plan.merges.push({
        chain: folder,
        dropped: points.slice(first, i + 1),
        into,
        newParent: first === 0 ? undefined : points[first - 1],
        reasons: [`deleted: merged into ${into}${first === 0 ? ', which becomes the full' : ''}`],
      });
    }
  }
  return plan;
}

/** The plan, one line per step, as --dry-run prints it. */
export function renderDeletePlan(plan: DeletePlan): string[] {
  return [
    ...plan.merges.map(
      (m) => `merge ${m.chain}: ${m.dropped.join(', ')} into ${m.into} (${m.newParent ? `which then rests on ${m.newParent}` : 'which becomes the full'})`,
    ),
    ...plan.removeNewest.map(
      (r) => `remove ${r.chain}/${r.checkpoint}, the newest point, and its libvirt checkpoint (its changes stay in the next incremental)`,
    ),
    ...plan.removeChains.map((c) => `remove chain ${c}`),
  ].map((l) => `${plan.domain}: ${l}`);
}
