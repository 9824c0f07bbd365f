/**
 * Finding a restore point: the ids `list` prints and `restore --at` / `--at-time` accept. Pure.
 *
 * A point id is `<chain folder>/<checkpoint>`, because checkpoint names (virtnbdbackup.N) start
 * again at .0 in every chain. `--at` also takes a bare checkpoint name when exactly one chain has
 * it, and `latest`.
 */
import { usageError } from '../errors.js';
import { findLastRecorded } from '../repository/recording-order.js';
import type { ChainPoint, RestoreChain } from './types.js';

/** A restore point with where it lives, as list prints it and restore selects it: its chain's point less the files. */
export interface RestorePointRef extends Omit<ChainPoint, 'files'> {
  /** `<chain folder>/<checkpoint>`. */
  id: string;
  domain: string;
  chain: string;
  /** Position in its chain: 0 is the full. */
  index: number;
  /** State of the chain the point belongs to. */
  state: RestoreChain['state'];
  /** No manifest: no checksums recorded. */
  legacy: boolean;
}

/** How the user named the point. */
export type PointSelector = { kind: 'latest' } | { kind: 'at'; value: string } | { kind: 'time'; time: Date; text: string };

/** `<chain folder>/<checkpoint>`. */
export function pointId(chain: string, checkpoint: string): string {
  return `${chain}/${checkpoint}`;
}

/** Every point of these chains, chain by chain (chains in the order given, points oldest first). */
export function listRestorePoints(chains: readonly RestoreChain[]): RestorePointRef[] {
  return chains.flatMap((c) =>
    c.points.map(({ files, ...p }, index) => ({
      ...p,
      id: pointId(c.folder, p.checkpoint),
      domain: c.domain,
      chain: c.folder,
      index,
      state: c.state,
      // A protected chain protects each of its points.
      protected: p.protected || c.protected,
      legacy: c.legacy,
    })),
  );
}

/** --at / --at-time → a selector; both or an unparsable time are usage errors. */
export function parsePointSelector(at: string | undefined, atTime: string | undefined): PointSelector {
  if (at !== undefined && atTime !== undefined) throw usageError('--at and --at-time cannot be used together');
  if (atTime !== undefined) {
    const t = Date.parse(atTime);
    if (Number.isNaN(t)) throw usageError(`--at-time needs an ISO 8601 time (2026-11-22T10:00:00Z), got ${JSON.stringify(atTime)}`);
    return { kind: 'time', time: new Date(t), text: atTime };
  }
  if (at === undefined || at.trim() === '' || at.trim() === 'latest') return { kind: 'latest' };
  return { kind: 'at', value: at.trim() };
}

/** Points ordered by time, oldest first (ties keep chain order). */
function byTime(points: readonly RestorePointRef[]): RestorePointRef[] {
  return points
    .map((p, i) => ({ p, i }))
    .sort((a, b) => Date.parse(a.p.time) - Date.parse(b.p.time) || a.i - b.i)
    .map((x) => x.p);
}

/**
 * The point a selector names. Throws a usage error (exit 64) that lists the nearest valid ids
 * when the point does not exist or a bare checkpoint name is in more than one chain.
 */
export function findRestorePoint(points: readonly RestorePointRef[], selector: PointSelector, domain: string): RestorePointRef {
  if (points.length === 0) throw usageError(`no restore points for domain ${domain}`);
  const ordered = byTime(points);
  // The point recorded last, not the latest date: a clock that ran ahead dates older data later.
  if (selector.kind === 'latest') return findLastRecorded(points)!;
  if (selector.kind === 'time') {
    const t = selector.time.getTime();
    const found = [...ordered].reverse().find((p) => Date.parse(p.time) <= t);
    if (!found) {
      const first = ordered[0]!;
      throw usageError(`no restore point of ${domain} at or before ${selector.text}; the oldest is ${first.id} (${first.time})`);
    }
    return found;
  }
  const wanted = selector.value;
  const exact = points.find((p) => p.id === wanted);
  if (exact) return exact;
  if (!wanted.includes('/')) {
    const named = points.filter((p) => p.checkpoint === wanted);
    if (named.length === 1) return named[0]!;
    if (named.length > 1) {
      throw usageError(`checkpoint ${wanted} is in ${named.length} chains of ${domain}; name one: ${named.map((p) => p.id).join(', ')}`);
    }
  }
  // A name (backup --name) is unique per domain.
  const named = points.find((p) => p.name === wanted);
  if (named) return named;
  // A label (backup --label): unique → that point; several → say which, newest first.
  const labelled = points.filter((p) => p.label === wanted);
  if (labelled.length === 1) return labelled[0]!;
  if (labelled.length > 1) {
    const ids = byTime(labelled)
      .reverse()
      .map((p) => `${p.id} (${p.time})`);
    throw usageError(`label ${JSON.stringify(wanted)} is on ${labelled.length} restore points of ${domain}; name one: ${ids.join(', ')}`);
  }
  const near = nearestPoints(points, wanted);
  throw usageError(`no restore point ${JSON.stringify(wanted)} for domain ${domain}; nearest: ${near.map((p) => p.id).join(', ')}`);
}

/** The valid points whose ids (or checkpoint names) are closest to what was asked, newest first on ties. */
export function nearestPoints(points: readonly RestorePointRef[], wanted: string, limit = 5): RestorePointRef[] {
  return points
    .map((p) => ({ p, d: Math.min(editDistance(wanted, p.id), editDistance(wanted, p.checkpoint)) }))
    .sort((a, b) => a.d - b.d || Date.parse(b.p.time) - Date.parse(a.p.time))
    .slice(0, limit)
    .map((x) => x.p);
}

/** Levenshtein distance (small strings only: ids and names). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
