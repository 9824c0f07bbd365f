/**
 * `vmkeep list` and `vmkeep restore`: restore points, and putting them back.
 *
 * Words:
 * - chain: one chain folder (OUTPUT/<domain>/<chain>/), a full backup and its incrementals, with a
 *   vmkeep manifest, or a VMSnap folder without one (no checksums; points from `<domain>.cpt`).
 * - checkpoint: libvirt's name for a point in time (virtnbdbackup.N); the names start again at .0
 *   in each chain, so a checkpoint name alone is ambiguous.
 * - restore point: a checkpoint of a chain, addressed as `<chain>/<checkpoint>` (its point id).
 * - sequence: the data files applied to rebuild one disk at a point, full first, in chain order
 *   (never file modification time order), handed to virtnbdrestore as `--sequence`.
 * - plan: what planRestore/planInPlace decide from the chains and the request, without touching
 *   anything; --dry-run prints it.
 * - restore into a folder (--to): new images named like the originals plus an adjusted domain XML
 *   (new name, no UUID, no MACs, disks pointing at the new images); --define registers it.
 * - in-place restore (--in-place): the domain's own images are replaced by the restored ones; the
 *   previous images are kept as `<file>.vmkeep-replaced-<time>`.
 * - bitmap: a qcow2 dirty bitmap; restored images have none, so an in-place restore deletes the
 *   domain's vmkeep checkpoints and the next backup starts a new full chain.
 */
export { runList, renderList, type ListOptions, type ListDocument, type ListedPoint } from './run-list.js';
export { runRestore, BEFORE_RESTORE_LABEL, type RestoreOptions, type RestoreMode } from './run-restore.js';
export { findRestorePoint, listRestorePoints, nearestPoints, parsePointSelector, pointId, type PointSelector, type RestorePointRef } from './points.js';
export { planRestore, filesForPoint, imageFileNames, type RestorePlan, type RestoreRequest, type DiskRestorePlan } from './plan-restore.js';
export { planInPlace, type InPlacePlan, type InPlaceFacts, type InPlaceRequest } from './plan-in-place.js';
export { adjustDomainXml, type AdjustedXml, type XmlAdjustment } from './domain-xml.js';
export { readRestoreChains } from './chains.js';
export type { RestoreChain, ChainPoint, ChainFile } from './types.js';
