/** What a backup folder holds for a domain, for `vmkeep status --output`. */
import { formatDistanceStrict } from 'date-fns';
import { listChains } from '../repository/chains.js';
import { summarizeReplication, type ReplicationSummary } from '../repository/replication.js';
import { pickDomainVerify } from '../repository/run-history.js';
import { listRemovalLeftovers } from '../repository/removal-leftovers.js';

export type { ReplicationSummary };

export interface BackupSummary {
  directory: string;
  chains: Array<{ folder: string; state: string; points: number; sizeOnDisk: number; protected: boolean; note?: string }>;
  restorePoints: number;
  sizeOnDisk: number;
  lastBackup: { time: string; age: string; ageSeconds: number; chain: string; checkpoint: string; label: string | null; quiesced: boolean | null } | undefined;
  /** The verify that decides the domain's verdict: a failed one of a chain still present wins (pickDomainVerify). */
  lastVerify: { time: string; result: string; chain: string } | undefined;
  /** Per restic repository the manifests name: how far its copy trails the local points. */
  replication: ReplicationSummary[];
  /** Chain folders an interrupted prune left half-deleted (`.vmkeep-removing-*`): bytes still on disk until the next prune. */
  pendingRemoval: Array<{ folder: string; bytes: number }>;
}

/** Summarise a domain's chains in `output`. */
export async function summarizeBackups(output: string, domain: string, now: Date): Promise<BackupSummary> {
  const chains = await listChains(output, domain);
  let last: BackupSummary['lastBackup'];
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
        label: p.label ?? null,
        quiesced: p.quiesced ?? null,
      };
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
    lastVerify: pickDomainVerify(chains),
    replication: summarizeReplication(chains.flatMap((c) => c.manifest?.points ?? [])),
    pendingRemoval: (await listRemovalLeftovers(output, domain)).map((l) => ({ folder: l.name, bytes: l.bytes })),
  };
}
