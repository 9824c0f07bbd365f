/**
 * The chain as restore, list and verify see it: one shape for chains with a vmkeep manifest and
 * for VMSnap folders without one (whose files carry no size or checksum).
 */
import type { ManifestFile } from '../repository/manifest.js';

/** A file of a restore point, relative to the chain folder. */
export interface ChainFile {
  path: string;
  /** Disk target, for data files. */
  disk?: string | undefined;
  kind: ManifestFile['kind'];
  /** Recorded size and sha256; undefined for VMSnap folders (nothing was recorded). */
  size?: number | undefined;
  sha256?: string | undefined;
  /** sha256 per fixed-size chunk, where the manifest recorded them instead of one sha256. */
  chunks?: ManifestFile['chunks'];
}

/** One restore point of a chain: a checkpoint and the files its backup run wrote. */
export interface ChainPoint {
  checkpoint: string;
  parent: string | undefined;
  time: string;
  /** Place in the domain's recording order (absent: recorded before it was kept, or a VMSnap folder). */
  sequence?: number | undefined;
  level: 'full' | 'inc';
  label: string | undefined;
  /** Filesystems frozen for the checkpoint; undefined when not recorded. */
  quiesced?: boolean | undefined;
  /** Why the filesystems were not frozen. */
  quiesceReason?: string | undefined;
  /** The guest was not running while the point was taken; undefined when not recorded. */
  offline?: boolean | undefined;
  /** backup --name. */
  name?: string | undefined;
  protected: boolean;
  dataBytes: number | undefined;
  files: ChainFile[];
  /** Repositories holding a copy (`vmkeep replicate`), from the manifest. */
  replicas?: string[] | undefined;
  /** Why the point cannot be restored: a file it needs is missing or changed size (absent when whole). */
  damage?: string | undefined;
  /** The point's last boot proof (`verify --boot`), from the manifest. */
  bootVerify?: { time: string; result: 'ok' | 'failed'; reason?: string | undefined } | undefined;
}

/** A chain folder: a full and its incrementals, oldest first. */
export interface RestoreChain {
  domain: string;
  folder: string;
  dir: string;
  /** No vmkeep manifest (a VMSnap folder): no checksums, points read from `<domain>.cpt`. */
  legacy: boolean;
  /** The engine that wrote it (VMSnap folders: virtnbdbackup); a backup that continues it uses the same. */
  engine?: 'virtnbdbackup' | 'push';
  state: 'complete' | 'in-progress' | 'broken';
  stateReason: string | undefined;
  /** Broken because recorded files are missing or changed size (the points name which), not by its manifest. */
  damaged?: true;
  protected: boolean;
  /** Disks the chain holds, with the image path they had when backed up. */
  disks: Array<{ target: string; sourcePath?: string | undefined; format?: string | undefined }>;
  points: ChainPoint[];
}
