/**
 * The backup engine boundary. vmkeep decides what to do (level, chain folder, repairs); an
 * engine only carries out one backup run into one chain folder. Two engines: virtnbdbackup
 * (its stream files, `virtnbdbackup.N` checkpoints) and push (libvirt's push-mode backup into a
 * qcow2 chain, `vmkeep.<id>.<n>` checkpoints). Manifest, status, verify and restore read what
 * the engine reports here, not the engine's own files, wherever they can.
 */
import type { NameFamily } from '../../domain/owned-names.js';
import type { EngineName } from '../../repository/engine-choice.js';

export type BackupLevel = 'full' | 'inc';

export interface EngineProgress {
  /** Bytes the run announced it will copy (sum over disks seen so far). */
  totalBytes: number;
  /** Bytes written to the chain folder so far by this run. */
  doneBytes: number;
}

export interface EngineRequest {
  domain: string;
  uri: string;
  level: BackupLevel;
  chainDir: string;
  /** The chain's last recorded restore point (the checkpoint an incremental continues from). */
  previous: string | undefined;
  /** Disk targets the engine must not copy (vmkeep's eligibility decides). */
  excludeDisks: readonly string[];
  /** Every disk target of the domain, as vmkeep read it (an engine that needs the list need not ask again). */
  diskTargets?: readonly string[];
  compress: boolean;
  raw: boolean;
  /** A private folder for this run's temporary files and sockets; removed by the caller. */
  workDir: string;
  signal: AbortSignal;
  onProgress?: (p: EngineProgress) => void;
  onLog?: (line: string) => void;
  /**
   * Wraps the call that fixes the point in time (backup-begin) for an engine that does not
   * freeze the guest itself: vmkeep freezes before it and thaws right after.
   */
  atPoint?: <T>(begin: () => Promise<T>) => Promise<T>;
  /** Called with the pid of each tool process the engine starts (recorded for the next run). */
  onChildStarted?: (pid: number, tool: string) => void;
}

export interface EngineResult {
  /** The checkpoint this run created (the restore point's id). */
  checkpoint: string;
  parent: string | undefined;
  /** Files (relative to chainDir) this run created. */
  newFiles: string[];
  /** Guest data bytes copied. */
  dataBytes: number;
}

// One name type for the engines: the repository's choice rule (auto) names them too.
export type { EngineName };

/** What the planner needs to know of an engine (never its name). */
export interface EngineTraits {
  /** The checkpoint names it creates; a chain whose points are of another family is not continued. */
  readonly checkpointFamily: NameFamily;
  /**
   * Can it back up beside checkpoints vmkeep did not make, and beside other chains' checkpoints
   * (another output folder's)? Push can: a run then deletes only its own output folder's
   * checkpoints. virtnbdbackup cannot: its names are shared and it refuses the other family's.
   */
  readonly acceptsForeignCheckpoints: boolean;
}

export interface BackupEngine extends EngineTraits {
  readonly name: EngineName;
  /** Does the engine freeze the guest's filesystems for the point by itself? */
  readonly freezesGuest: boolean;
  version(): Promise<string>;
  /**
   * Throws when this engine cannot write into `output` for `domain` (push: QEMU must reach the
   * folder). Called before any repair, so a run that cannot work changes nothing.
   */
  checkOutput?(domain: string, uri: string, output: string): Promise<void>;
  run(request: EngineRequest): Promise<EngineResult>;
}
