/**
 * The backup engine boundary. vmkeep decides what to do (level, chain folder, repairs); an
 * engine only carries out one backup run into one chain folder. virtnbdbackup is the engine
 * today; libvirt's push-mode backup into qcow2 chains is planned. Manifest, status, verify and
 * restore read what the engine reports here, not the engine's own files, wherever they can.
 */

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
  /** Disk targets the engine must not copy (vmkeep's eligibility decides). */
  excludeDisks: readonly string[];
  compress: boolean;
  raw: boolean;
  /** A private folder for this run's temporary files and sockets; removed by the caller. */
  workDir: string;
  signal: AbortSignal;
  onProgress?: (p: EngineProgress) => void;
  onLog?: (line: string) => void;
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

export interface BackupEngine {
  readonly name: 'virtnbdbackup';
  version(): Promise<string>;
  run(request: EngineRequest): Promise<EngineResult>;
}
