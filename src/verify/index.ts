/**
 * `vmkeep verify`: are the backups restorable, and if not, which restore points are lost?
 *
 * Words:
 * - chain: one chain folder (OUTPUT/<domain>/<chain>/): a full backup and its incrementals.
 * - restore point: one checkpoint of a chain; restoring it applies the data files of every point
 *   from the full up to it, in chain order.
 * - recorded file: a file the manifest lists for a point, with its size and sha256.
 * - problem: one thing wrong, attributed to a file and the point that recorded it where possible
 *   (missing, size, checksum, stream, link, chain-record, leftover, unrecorded, state, deep).
 * - broken point: a point whose restore would read a bad file or follow a wrong link, or whose
 *   deep check failed (broken-points.ts); a bad data file in point k breaks k..end, a bad full
 *   breaks the whole chain.
 * - deep check: the point restored for real into a scratch folder and checked by qemu-img.
 * - lastVerify: the outcome stored in the chain's manifest (status shows it).
 */
export {};
