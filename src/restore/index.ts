/**
 * `vmkeep list` and `vmkeep restore`: restore points, and putting them back. Restore points,
 * chains, their files, the restore plan and the disk-image restore live in src/points/ (verify,
 * boot, mount and replicate use them too); this folder adds the list, the in-place restore and
 * the command.
 *
 * Words:
 * - restore point, chain, checkpoint, sequence: see src/points/index.ts.
 * - plan: what planRestore/planInPlace decide from the chains and the request, without touching
 *   anything; --dry-run prints it.
 * - restore into a folder (--to): new images named like the originals plus an adjusted domain XML
 *   (new name, no UUID, no MACs, disks pointing at the new images); --define registers it.
 * - in-place restore (--in-place): the domain's own images are replaced by the restored ones; the
 *   previous images are kept as `<file>.vmkeep-replaced-<time>`.
 * - bitmap: a qcow2 dirty bitmap; restored images have none, so an in-place restore deletes the
 *   domain's vmkeep checkpoints and the next backup starts a new full chain.
 */
export {};
