/**
 * What a domain's chains say about its runs: the last run (a recorded point or a recorded
 * failure, whichever is newer), the last success, the verify that decides its verdict. Pure: chains in, facts out.
 * Status, the Prometheus textfile and `vmkeep check` all read runs through here.
 */
import type { ChainView } from './chains.js';
import { summarizeReplication, type ReplicationSummary } from './replication.js';

export type RunResult = 'success' | 'failure' | 'interrupted';

export interface RunHistory {
  domain: string;
  chains: number;
  /** Chains whose state is not complete (broken, or a run that never finished). */
  unhealthyChains: number;
  restorePoints: number;
  repositoryBytes: number;
  /** The newest recorded point: a successful run (its time is when the run started). */
  lastSuccess: { time: string; durationSeconds: number | undefined; bytes: number | undefined; chain: string; checkpoint: string } | undefined;
  /** The newest run of any result; a failure is known by its event, which has no duration or size. */
  lastRun: { time: string; result: RunResult; durationSeconds: number | undefined; bytes: number | undefined; message: string | undefined } | undefined;
  /** The verify that decides the domain's verdict (see pickDomainVerify). */
  lastVerify: { time: string; ok: boolean; chain: string } | undefined;
  /** Per restic repository the manifests name: points sent, not sent, last send, lag (`vmkeep replicate`). */
  replication?: ReplicationSummary[];
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
  let lastSuccess: RunHistory['lastSuccess'];
  let lastFailure: { time: string; result: RunResult; message: string } | undefined;
  for (const c of chains) {
    const manifestPoints = new Map((c.manifest?.points ?? []).map((p) => [p.checkpoint, p]));
    for (const p of c.points) {
      if (!lastSuccess || Date.parse(p.time) > Date.parse(lastSuccess.time)) {
        const mp = manifestPoints.get(p.checkpoint);
        lastSuccess = {
          time: p.time,
          durationSeconds: mp ? mp.durationMs / 1000 : undefined,
          bytes: p.dataBytes,
          chain: c.folder,
          checkpoint: p.checkpoint,
        };
      }
    }
    for (const e of c.manifest?.events ?? []) {
      if (e.kind !== 'failed' && e.kind !== 'interrupted') continue;
      if (!lastFailure || Date.parse(e.time) > Date.parse(lastFailure.time)) {
        lastFailure = { time: e.time, result: e.kind === 'failed' ? 'failure' : 'interrupted', message: e.message };
      }
    }
  }
  const verify = pickDomainVerify(chains);
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
    restorePoints: chains.reduce((n, c) => n + c.points.length, 0),
    repositoryBytes: chains.reduce((n, c) => n + c.sizeOnDisk, 0),
    lastSuccess,
    lastRun,
    lastVerify,
    replication: summarizeReplication(chains.flatMap((c) => c.manifest?.points ?? [])),
  };
}
