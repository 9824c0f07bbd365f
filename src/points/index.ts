/**
 * Restore points: the layer that restore, verify, boot, mount and replicate share. It reads a
 * domain's chains as restore points, says which files rebuild a point, checks those files, and
 * rebuilds disk images from them. It sits below the command folders and above src/repository
 * and src/domain; commands take what they share from here, never from each other.
 *
 * Words:
 * - chain: one chain folder (OUTPUT/<domain>/<chain>/), a full backup and its incrementals, with a
 *   vmkeep manifest, or a VMSnap folder without one (no checksums; points from `<domain>.cpt`).
 * - checkpoint: libvirt's name for a point in time (virtnbdbackup.N); the names start again at .0
 *   in each chain, so a checkpoint name alone is ambiguous.
 * - restore point: a checkpoint of a chain, addressed as `<chain>/<checkpoint>` (its point id);
 *   `--at`, `--at-time` or the latest pick one (a point selector).
 * - sequence: the data files applied to rebuild one disk at a point, full first, in chain order
 *   (never file modification time order), handed to virtnbdrestore as `--sequence`.
 * - restore plan: what planRestore decides from the chains and the request (point, disks, files),
 *   without touching anything; --dry-run prints it.
 * - file check: every file a plan needs, against the manifest's size and sha256 (checkChainFiles),
 *   before anything is written; a legacy chain has only sizes from its own files.
 * - disk-image restore: the plan's files turned into one qcow2 image per disk (virtnbdrestore for
 *   stream files, a copy or qemu-img for push-engine images); the directory restore adds the
 *   adjusted domain XML (new name, no UUID, no MACs, disks pointing at the new images).
 * - adopting: a VMSnap chain given a vmkeep manifest (sizes and sha256 of its files as they are now)
 *   by verify --adopt, or by backup when it continues the chain.
 * - restore options: what `vmkeep restore` is asked, shared with `restore --from`, which restores
 *   from a scratch copy of a replicated chain as from a local folder.
 */
export {};
