/**
 * The domain: what libvirt and QEMU say about one VM, read in one place.
 *
 * Words:
 * - snapshot: readDomain's record of a domain at one moment: state, definition, disks with
 *   eligibility, checkpoints, bitmaps per disk and any active job. Every command reads it.
 * - live: running or paused; QEMU holds the disks, so bitmaps are read from QEMU, not the file.
 * - eligible disk: a disk vmkeep backs up (not a cdrom, floppy, lun, read-only, shareable,
 *   network-backed, empty or raw disk); each exclusion has a named rule and a reason.
 * - owned name: a checkpoint or bitmap name one of vmkeep's engines makes (`virtnbdbackup.N`,
 *   `vmkeep.*`); other names are someone else's.
 * - selection: the domains `--domains` patterns (names, comma lists, globs) pick from candidate
 *   names (libvirt's list, or the domains a repository has backups of), less those `--exclude`
 *   names and those whose tags (libvirt metadata) fail `--tag`. A domain libvirt does not define
 *   has no tags.
 * - scrub plan: the ordered checkpoint and bitmap removals planScrub derives from a domain's
 *   snapshot (orphan bitmaps, dangling checkpoints), with a reason each; executeScrubPlan carries
 *   it out. `vmkeep scrub` and the in-place restore (which drops the domain's checkpoints) use it.
 * - domain status: collectDomainStatus's view of one domain (state, disks, checkpoints, bitmaps,
 *   guest agent) with its consistency verdict (judgeConsistency: checkpoint names against bitmap
 *   names, disk by disk). status, check and metrics read it; status renders it.
 */
export type * from './types.js';
