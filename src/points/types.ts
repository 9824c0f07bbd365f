/**
 * The chain as restore, list and verify see it: one shape for chains with a vmkeep manifest and
 * for VMSnap folders without one (whose files carry no size or checksum).
 */
import type { ManifestFile, PointFacts } from '../repository/manifest.js';

/**
 * A file of a restore point, relative to the chain folder: the manifest's record of it, whose size
 * and digest are absent for VMSnap folders (nothing was recorded).
 */
export type ChainFile = Pick<ManifestFile, 'path' | 'disk' | 'kind'> & Partial<Pick<ManifestFile, 'size' | 'sha256' | 'chunks'>>;

/** One restore point of a chain: a checkpoint, its facts from the manifest, and the files its backup run wrote. */
export interface ChainPoint extends PointFacts {
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
