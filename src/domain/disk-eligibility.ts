/**
 * Which disks vmkeep backs up. Each rule is a small named predicate; a disk is eligible when no
 * rule excludes it, and every excluding rule is reported (so status says *why*).
 */
import type { DomainDisk } from '../domain/types.js';

interface ExclusionRule {
  id: string;
  reason: string;
  applies: (disk: DomainDisk) => boolean;
}

const isCdrom = (d: DomainDisk) => d.device === 'cdrom';
const isFloppy = (d: DomainDisk) => d.device === 'floppy';
const isLun = (d: DomainDisk) => d.device === 'lun';
const isReadonly = (d: DomainDisk) => d.readonly;
const isShareable = (d: DomainDisk) => d.shareable;
const isRaw = (d: DomainDisk) => d.format === 'raw';
const isNetwork = (d: DomainDisk) => d.sourceType === 'network';
const hasNoSource = (d: DomainDisk) => d.sourceType !== 'network' && d.path === undefined;

/** Order matters only for reading: the most specific reason first. */
export const EXCLUSION_RULES: readonly ExclusionRule[] = [
  { id: 'cdrom', reason: 'cdrom device', applies: isCdrom },
  { id: 'floppy', reason: 'floppy device', applies: isFloppy },
  { id: 'lun', reason: 'lun (SCSI passthrough) device', applies: isLun },
  { id: 'network', reason: 'network source: no local image to track', applies: isNetwork },
  { id: 'no-source', reason: 'no source (empty drive)', applies: hasNoSource },
  { id: 'readonly', reason: 'read-only disk', applies: isReadonly },
  { id: 'shareable', reason: 'shareable disk: writes by other hosts are not tracked', applies: isShareable },
  { id: 'raw', reason: 'raw format: no persistent dirty bitmaps, cannot take incrementals', applies: isRaw },
];

export interface Eligibility {
  eligible: boolean;
  /** Ids of the rules that exclude the disk (empty when eligible). */
  excludedBy: string[];
  /** Human reasons, one per excluding rule. */
  reasons: string[];
}

/** Decide whether a disk is backed up, with every reason it is not. */
export function diskEligibility(disk: DomainDisk): Eligibility {
  const hits = EXCLUSION_RULES.filter((r) => r.applies(disk));
  return { eligible: hits.length === 0, excludedBy: hits.map((r) => r.id), reasons: hits.map((r) => r.reason) };
}

/** The disks a backup includes. */
export function eligibleDisks(disks: readonly DomainDisk[]): DomainDisk[] {
  return disks.filter((d) => diskEligibility(d).eligible);
}
