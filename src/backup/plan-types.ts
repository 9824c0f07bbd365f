/**
 * The types a backup plan is made of: what inspectDomain reads (the inventory), what planBackup
 * decides (the plan and its repair steps), and what the space estimate and a failure note say.
 * They sit apart from the code so that the planner, the inspector, the repairs, the estimate and
 * the failure record can name each other's types without importing each other in a circle.
 */
import type { DomainState } from '../domain/types.js';
import type { ChainView } from '../repository/chains.js';
import type { GroupBy } from '../retention/types.js';
import type { BackupLevel } from './engine/types.js';

export type RepairStep =
  | { kind: 'abort-job'; disks: string[]; reason: string }
  | { kind: 'remove-files'; folder: string; files: string[]; reason: string }
  | { kind: 'rewrite-cpt'; folder: string; checkpoints: string[]; reason: string }
  | { kind: 'delete-checkpoint'; name: string; metadataOnly: boolean; reason: string }
  | { kind: 'remove-bitmap'; disk: string; name: string; reason: string }
  /** Record in the chain's manifest that a run marked as running there ended without finishing. */
  | { kind: 'close-run'; folder: string; startedAt: string; pid: number; reason: string; failed?: boolean };

export type DomainBackupPlan =
  | { domain: string; action: 'skip'; reason: string }
  /** Nothing can be done safely; the reason says what to do. */
  | { domain: string; action: 'refuse'; reason: string }
  | {
      domain: string;
      action: 'backup';
      level: BackupLevel;
      /** Chain folder name under OUTPUT/<domain>/. */
      folder: string;
      newChain: boolean;
      /**
       * Continue a VMSnap chain (no manifest): give it a manifest first, as verify --adopt does;
       * `why` says what matched.
       */
      adopt?: { folder: string; why: string };
      period: { groupBy: GroupBy; key: string; start: Date };
      reasons: string[];
      repairs: RepairStep[];
      /** Disk targets not copied, with why. */
      excluded: Array<{ disk: string; why: string[] }>;
      /** The domain is shut off: start it paused for the run. */
      startPaused: boolean;
      /** Shut the domain off again after the run (it was started for it, now or by an interrupted run). */
      shutOffAfter: boolean;
      /** Resume the domain after the run: an interrupted --stop run left it paused, and it ran before. */
      resumeAfter: boolean;
      /** The new point's place in the domain's recording order (absent: not numbered). */
      sequence?: number;
      /** What the run must say aloud (also in `reasons`): points dated in the future... */
      warnings?: string[];
    };

export interface DiskInventory {
  target: string;
  path: string | undefined;
  format: string | undefined;
  eligible: boolean;
  excludedBy: string[];
  /** Bitmap names; undefined when they could not be read. */
  bitmaps: string[] | undefined;
  /** Names of bitmaps flagged inconsistent/in-use. */
  badBitmaps: string[];
  /**
   * Bytes each bitmap counted as changed when the domain was read (a live domain's, from QEMU):
   * the space estimate of an incremental, without asking QEMU a second time.
   */
  changedBytes?: Record<string, number>;
}

export interface ChainFiles {
  folder: string;
  /** `<domain>.cpt` entries. */
  cpt: string[];
  /** false when `.cpt` is not a JSON list (virtnbdbackup writes it in place: a kill can cut it short). */
  cptReadable?: boolean;
  /** Every file, relative to the chain folder. */
  files: string[];
  /**
   * creationTime (epoch seconds) of the chain's last recorded checkpoint, from the XML the engine
   * saved in `checkpoints/` (undefined when there is none to read).
   */
  lastCheckpointCreated?: number | undefined;
}

/**
 * The newest chain folder when it is VMSnap's (no manifest): what backup checks before it adopts
 * the chain to continue it instead of starting a second full beside it.
 */
export interface VmsnapChainFacts {
  folder: string;
  /** creationTime (epoch seconds) in the chain's `checkpoints/<last>.xml`; undefined when absent or unreadable. */
  lastCheckpointCreated: number | undefined;
  /** Disk targets its points hold. */
  disks: string[];
  /** What the structure check found wrong in its files (empty: they pass). */
  problems: string[];
}

/** One domain's facts, as planBackup reads them. */
export interface BackupInventory {
  domain: string;
  uuid: string | undefined;
  state: DomainState;
  disks: DiskInventory[];
  /** libvirt's checkpoints, parents first. */
  checkpoints: string[];
  jobActive: boolean;
  /** Paused, and a chain's manifest says an interrupted run started it paused for a backup. */
  pausedByInterruptedRun: boolean;
  /** Paused, and a chain's manifest says an interrupted --stop run shut it down: it ran before. */
  pausedByInterruptedStop: boolean;
  chains: ChainView[];
  /** Files of every non-legacy chain folder, for repair. */
  chainFiles: ChainFiles[];
  /** A failure an earlier run could not record in its manifest (recordFailedRun's note). */
  failureNote?: FailureNote | undefined;
  /**
   * libvirt's creationTime (epoch seconds) of each checkpoint that is some chain's last recorded
   * point: a checkpoint of the same name made for another chain has another time.
   */
  checkpointCreated?: Readonly<Record<string, number | undefined>>;
  /** The newest chain folder, when it is a VMSnap folder (no manifest). */
  vmsnapChain?: VmsnapChainFacts | undefined;
}

/** The note a failed run leaves when its manifest could not take the failure record. */
export interface FailureNote {
  folder: string;
  startedAt: string;
  pid: number;
  level: 'full' | 'inc';
  message: string;
}

export interface SpaceEstimate {
  /** Bytes the run is expected to write (upper bound for a full). */
  neededBytes: number;
  /** Bytes free for an unprivileged-reserve-aware writer (statfs bavail) in the output folder. */
  freeBytes: number;
  /** How the need was estimated, for the message. */
  basis: string;
}
