/**
 * virtnbdbackup and virtnbdrestore: their files, their argv, their stderr.
 *
 * Words used here:
 * - data file: one disk's backup at one level, `<disk>.<level>[.<ident>].data`, in virtnbdbackup's
 *   "sparse stream" format (meta header, data/zero frames, stop frame). While written it is
 *   `*.data.partial`; a leftover `.partial` means a run was interrupted.
 * - frame: a 40-byte header `kind start length\r\n` (kinds meta, data, zero, stop, comp), for data
 *   followed by a payload and `\r\n`.
 * - checkpoint: a libvirt checkpoint `virtnbdbackup.N`; each full/inc creates the next one and
 *   appends it to `<domain>.cpt` and `checkpoints/<name>.xml` in the folder. Its dirty bitmap is
 *   what the next inc reads.
 * - chain: a full followed by incs, in `.cpt` order; restore applies them in that order.
 * - level: copy (no checkpoint), full (new chain), inc (changes since the last checkpoint),
 *   diff (changes since the last checkpoint, no new checkpoint).
 * - compressed stream: payloads are LZ4 frames and a trailer after the stop frame lists their
 *   stored sizes.
 * - restore point: a checkpoint; the files to apply to reach it come from `planChainFiles`.
 */
export * from './argv.js';
export * from './backup-folder.js';
export * from './byte-source.js';
export * from './lz4-frame.js';
export * from './merge-streams.js';
export * from './progress.js';
export * from './read-stream-file.js';
export * from './stream-format.js';
export * from './xxh32.js';
