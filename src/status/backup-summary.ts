/** What a backup folder holds for a domain, for `vmkeep status --output`. */
import { formatDistanceStrict } from 'date-fns';
import { listChains } from '../repository/chains.js';

export interface BackupSummary {
  directory: string;
  chains: Array<{ folder: string; state: string; points: number; sizeOnDisk: number; protected: boolean; note?: string }>;
  restorePoints: number;
  sizeOnDisk: number;
  lastBackup: { time: string; age: string; ageSeconds: number; chain: string; checkpoint: string } | undefined;
  lastVerify: { time: string; result: string; chain: string } | undefined;
  /** Per restic repository the manifests name: how far its copy trails the local points. */
  replication: ReplicationSummary[];
}

export interface ReplicationSummary {
  repository: string;
  /** When the newest point this repository holds was sent. */
  lastReplicated: string;
  pointsReplicated: number;
  /** Local points never sent there (a point pruned there later still counts as sent). */
  pointsNotReplicated: number;
  /** Age difference between the newest local point and the newest point the repository holds (0: up to date). */
  lagSeconds: number;
}

/** Replication state per repository from the points' replica records (pure). */
export function summarizeReplication(points: ReadonlyArray<{ time: string; replicas?: ReadonlyArray<{ repository: string; time: string }> | undefined }>): ReplicationSummary[] {
  const newestLocal = Math.max(...points.map((p) => Date.parse(p.time)));
  const repos = [...new Set(points.flatMap((p) => (p.replicas ?? []).map((r) => r.repository)))];
  return repos.map((repository) => {
    const copied = points.filter((p) => p.replicas?.some((r) => r.repository === repository));
    const newestCopied = Math.max(...copied.map((p) => Date.parse(p.time)));
    const lastSent = Math.max(...copied.map((p) => Date.parse(p.replicas!.find((r) => r.repository === repository)!.time)));
    return {
      repository,
      lastReplicated: new Date(lastSent).toISOString(),
      pointsReplicated: copied.length,
      pointsNotReplicated: points.length - copied.length,
      lagSeconds: Math.max(0, Math.round((newestLocal - newestCopied) / 1000)),
    };
  });
}

/** Summarise a domain's chains in `output`. */
export async function summarizeBackups(output: string, domain: string, now: Date): Promise<BackupSummary> {
  const chains = await listChains(output, domain);
  let last: BackupSummary['lastBackup'];
  let lastVerify: BackupSummary['lastVerify'];
  for (const c of chains) {
    const p = c.points.at(-1);
    if (p && (!last || Date.parse(p.time) > Date.parse(last.time))) {
      const t = new Date(p.time);
      last = {
        time: p.time,
        age: formatDistanceStrict(t, now),
        ageSeconds: Math.round((now.getTime() - t.getTime()) / 1000),
        chain: c.folder,
        checkpoint: p.checkpoint,
      };
    }
    const v = c.manifest?.lastVerify;
    if (v && (!lastVerify || Date.parse(v.time) > Date.parse(lastVerify.time))) {
      lastVerify = { time: v.time, result: v.result, chain: c.folder };
    }
  }
  return {
    directory: output,
    chains: chains.map((c) => ({
      folder: c.folder,
      state: c.state,
      points: c.points.length,
      sizeOnDisk: c.sizeOnDisk,
      protected: c.protected,
      ...(c.stateReason && c.state !== 'complete' ? { note: c.stateReason } : c.legacy ? { note: 'VMSnap folder' } : {}),
    })),
    restorePoints: chains.reduce((n, c) => n + c.points.length, 0),
    sizeOnDisk: chains.reduce((n, c) => n + c.sizeOnDisk, 0),
    lastBackup: last,
    lastVerify,
    replication: summarizeReplication(chains.flatMap((c) => c.manifest?.points ?? [])),
  };
}
