/**
 * What a domain's chains say about its runs: the last run (a recorded point or a recorded
 * failure, whichever is newer), the last success, the verify that decides its verdict. Pure: chains in, facts out.
 * Status, the Prometheus textfile and `vmkeep check` all read runs through here.
 */
import type { ChainView } from './chains.js';
import { findLastRecorded } from './recording-order.js';
import { summarizeReplication, type ReplicationSummary } from './replication.js';

export type RunResult = 'success' | 'failure' | 'interrupted';

export interface RunHistory {
  domain: string;
  chains: number;
  /** Chains whose state is not complete (broken, damaged, or a run that never finished). */
  unhealthyChains: number;
  /** Of those, the chains with recorded files missing or changed size, each with what is wrong (see checkRecordedFiles). */
  damagedChains?: Array<{ chain: string; problems: string[] }>;
  restorePoints: number;
  repositoryBytes: number;
  /** The point recorded last: a successful run (its time is when the run started). */
  lastSuccess: { time: string; durationSeconds: number | undefined; bytes: number | undefined; chain: string; checkpoint: string } | undefined;
  /** The newest run of any result; a failure is known by its event, which has no duration or size. */
  lastRun: { time: string; result: RunResult; durationSeconds: number | undefined; bytes: number | undefined; message: string | undefined } | undefined;
  /** The verify that decides the domain's verdict (see pickDomainVerify). */
  lastVerify: { time: string; ok: boolean; chain: string } | undefined;
  /** Per restic repository the manifests name: points sent, not sent, last send, lag (`vmkeep replicate`). */
  replication?: ReplicationSummary[];
  /** The point with the latest date; after lastSuccess only when the host clock ran ahead at some point. */
  latestDated?: { time: string; chain: string; checkpoint: string };
  /** The newest boot proof of any point still on disk (`verify --boot`). */
  lastBootVerify?: DomainBootVerify;
}

/** A domain's newest boot proof: which point, when, and whether it booted. */
export interface DomainBootVerify {
  time: string;
  result: 'ok' | 'failed';
  chain: string;
  checkpoint: string;
  durationSeconds: number;
  /** Seconds from the start of the guest to its first answer; absent when it never answered. */
  firstAnswerSeconds?: number;
  reason?: string;
}

/** The newest boot proof among the chains still on disk (on equal times the later chain wins). */
export function pickLastBootVerify(chains: readonly ChainView[]): DomainBootVerify | undefined {
  let newest: DomainBootVerify | undefined;
  for (const c of chains) {
    for (const [checkpoint, r] of Object.entries(c.manifest?.bootVerify ?? {})) {
      // A record of a point pruned since proves nothing about what is left.
      if (!c.points.some((p) => p.checkpoint === checkpoint)) continue;
      if (newest && Date.parse(r.time) < Date.parse(newest.time)) continue;
      newest = {
        time: r.time,
        result: r.result,
        chain: c.folder,
        checkpoint,
        durationSeconds: r.durationMs / 1000,
        ...(r.firstAnswerMs !== undefined ? { firstAnswerSeconds: r.firstAnswerMs / 1000 } : {}),
        ...(r.reason !== undefined ? { reason: r.reason } : {}),
      };
    }
  }
  return newest;
}

/** One chain's last verify, as the domain's verdict names it. */
export interface DomainVerify {
  time: string;
  result: 'ok' | 'failed';
  chain: string;
}

/**
 * The verify that decides a domain's verdict: the newest failed one among the chains still on
 * disk, else the newest one. A chain's own last verify is its current word (a later ok verify of
 * the same chain clears its failure); one verify run stamps every chain with the same time, so
 * "the newest" alone would let another chain's ok hide a failure. On equal times the later chain
 * (chains come oldest first) wins.
 */
export function pickDomainVerify(chains: readonly ChainView[]): DomainVerify | undefined {
  let newest: DomainVerify | undefined;
  let newestFailed: DomainVerify | undefined;
  for (const c of chains) {
    const v = c.manifest?.lastVerify;
    if (!v) continue;
    const found = { time: v.time, result: v.result, chain: c.folder };
    if (!newest || Date.parse(v.time) >= Date.parse(newest.time)) newest = found;
    if (v.result === 'failed' && (!newestFailed || Date.parse(v.time) >= Date.parse(newestFailed.time))) newestFailed = found;
  }
  return newestFailed ?? newest;
}

/** Fold a domain's chains into its run history. */
export function summarizeRunHistory(domain: string, chains: readonly ChainView[]): RunHistory {
  let lastFailure: { time: string; result: RunResult; message: string } | undefined;
  // The newest point is the one recorded last, not the latest date (a clock that ran ahead).
  const points = chains.flatMap((c) => c.points.map((p) => ({ ...p, chain: c })));
  const last = findLastRecorded(points);
  const lastManifestPoint = last?.chain.manifest?.points.find((p) => p.checkpoint === last.checkpoint);
  const lastSuccess: RunHistory['lastSuccess'] = last && {
    time: last.time,
    durationSeconds: lastManifestPoint ? lastManifestPoint.durationMs / 1000 : undefined,
    bytes: last.dataBytes,
    chain: last.chain.folder,
    checkpoint: last.checkpoint,
  };
  const latest = points.reduce<(typeof points)[number] | undefined>((a, p) => (!a || Date.parse(p.time) > Date.parse(a.time) ? p : a), undefined);
  for (const c of chains) {
    for (const e of c.manifest?.events ?? []) {
      if (e.kind !== 'failed' && e.kind !== 'interrupted') continue;
      if (!lastFailure || Date.parse(e.time) > Date.parse(lastFailure.time)) {
        lastFailure = { time: e.time, result: e.kind === 'failed' ? 'failure' : 'interrupted', message: e.message };
      }
    }
  }
  const verify = pickDomainVerify(chains);
  const bootVerify = pickLastBootVerify(chains);
  const lastVerify = verify && { time: verify.time, ok: verify.result === 'ok', chain: verify.chain };
  // A failure event is written when its run ends, a point carries its run's start: a failure
  // newer than the newest point's start belongs to a later run.
  const failureIsLast = lastFailure !== undefined && (!lastSuccess || Date.parse(lastFailure.time) > Date.parse(lastSuccess.time));
  const lastRun: RunHistory['lastRun'] = failureIsLast
    ? { time: lastFailure!.time, result: lastFailure!.result, durationSeconds: undefined, bytes: undefined, message: lastFailure!.message }
    : lastSuccess
      ? { time: lastSuccess.time, result: 'success', durationSeconds: lastSuccess.durationSeconds, bytes: lastSuccess.bytes, message: undefined }
      : undefined;
  return {
    domain,
    chains: chains.length,
    unhealthyChains: chains.filter((c) => c.state !== 'complete').length,
    damagedChains: chains.flatMap((c) => (c.damage ? [{ chain: c.folder, problems: c.damage.problems }] : [])),
    restorePoints: chains.reduce((n, c) => n + c.points.length, 0),
    repositoryBytes: chains.reduce((n, c) => n + c.sizeOnDisk, 0),
    lastSuccess,
    lastRun,
    lastVerify,
    replication: summarizeReplication(chains.flatMap((c) => c.manifest?.points ?? [])),
    ...(latest ? { latestDated: { time: latest.time, chain: latest.chain.folder, checkpoint: latest.checkpoint } } : {}),
    ...(bootVerify ? { lastBootVerify: bootVerify } : {}),
  };
}
