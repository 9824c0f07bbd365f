/** What a backup folder holds for a domain, for `vmkeep status --output`. */
import { formatDistanceStrict } from 'date-fns';
import { listChains } from '../repository/chains.js';
import { summarizeReplication, type ReplicationSummary } from '../repository/replication.js';
import { pickDomainVerify, pickLastBootVerify, type DomainBootVerify } from '../repository/run-history.js';
import { findLastRecorded, isDatedInFuture } from '../repository/recording-order.js';
import { listRemovalLeftovers } from '../repository/removal-leftovers.js';
import type { NextBackupBasis, OutputForecast } from '../repository/forecast.js';
import { estimateNextBackupOf } from '../repository/read-forecast.js';
import type { ChainView } from '../repository/chains.js';
import type { EngineChoice } from '../repository/engine-choice.js';

export type { ReplicationSummary };

export interface BackupSummary {
  directory: string;
  chains: Array<{ folder: string; state: string; points: number; sizeOnDisk: number; protected: boolean; note?: string }>;
  restorePoints: number;
  sizeOnDisk: number;
  lastBackup: { time: string; age: string; ageSeconds: number; chain: string; checkpoint: string; label: string | null; quiesced: boolean | null } | undefined;
  /** The verify that decides the domain's verdict: a failed one of a chain still present wins (pickDomainVerify). */
  lastVerify: { time: string; result: string; chain: string } | undefined;
  /** The newest boot proof (`verify --boot`) of a point still on disk. */
  lastBootVerify: DomainBootVerify | undefined;
  /** Per restic repository the manifests name: how far its copy trails the local points. */
  replication: ReplicationSummary[];
  /** Points dated after now: made while the host clock ran ahead (absent when there are none). */
  futureDated?: Array<{ chain: string; checkpoint: string; time: string }>;
  /** Other folders of the output holding this domain's backups under a name it had before a rename. */
  formerNames?: string[];
  /** Chain folders an interrupted prune left half-deleted (`.vmkeep-removing-*`): bytes still on disk until the next prune. */
  pendingRemoval: Array<{ folder: string; bytes: number }>;
  /** Guest data bytes the next backup is expected to copy (null: no way to tell yet). */
  nextBackupBytes: number | null;
  /** Where that estimate came from: QEMU's dirty bitmaps, the domain's recent incrementals, or nothing. */
  nextBackupBasis: NextBackupBasis;
  /** The whole output folder's forecast (the same for every domain in it); absent when it could not be read. */
  forecast?: OutputForecast;
  /** The engine the domain's next backup into this folder uses, and why (`--engine auto`'s rule). */
  nextEngine?: EngineChoice;
}

/** What the caller already knows beyond the folder: QEMU's dirty bytes, the folder's forecast. */
export interface SummaryExtras {
  dirtyBytes?: number | undefined;
  forecast?: OutputForecast | undefined;
  /** Which engine the next backup uses, decided on the chains read here (absent: not asked, e.g. a domain libvirt no longer defines). */
  nextEngine?: ((chains: readonly ChainView[]) => Promise<EngineChoice>) | undefined;
}

/** Summarise a domain's chains in `output`. */
export async function summarizeBackups(output: string, domain: string, now: Date, extras: SummaryExtras = {}): Promise<BackupSummary> {
  const chains = await listChains(output, domain);
  const points = chains.flatMap((c) => c.points.map((p) => ({ ...p, chain: c.folder })));
  // The newest is the point recorded last: a point dated in the future (the clock ran ahead) is not it.
  const p = findLastRecorded(points);
  const last: BackupSummary['lastBackup'] = p && {
    time: p.time,
    age: formatDistanceStrict(new Date(p.time), now),
    ageSeconds: Math.round((now.getTime() - Date.parse(p.time)) / 1000),
    chain: p.chain,
    checkpoint: p.checkpoint,
    label: p.label ?? null,
    quiesced: p.quiesced ?? null,
  };
  const futureDated = points.filter((x) => isDatedInFuture(x.time, now)).map((x) => ({ chain: x.chain, checkpoint: x.checkpoint, time: x.time }));
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
    lastBootVerify: pickLastBootVerify(chains),
    replication: summarizeReplication(chains.flatMap((c) => c.manifest?.points ?? [])),
    ...(futureDated.length > 0 ? { futureDated } : {}),
    pendingRemoval: (await listRemovalLeftovers(output, domain)).map((l) => ({ folder: l.name, bytes: l.bytes })),
    ...nextBackupFields(estimateNextBackupOf(chains, extras.dirtyBytes)),
    ...(extras.forecast ? { forecast: extras.forecast } : {}),
    ...(extras.nextEngine ? { nextEngine: await extras.nextEngine(chains) } : {}),
  };
}

function nextBackupFields(e: { bytes: number | null; basis: NextBackupBasis }): Pick<BackupSummary, 'nextBackupBytes' | 'nextBackupBasis'> {
  return { nextBackupBytes: e.bytes, nextBackupBasis: e.basis };
}
