/**
 * `vmkeep mount` and `vmkeep umount`: file-level access to a restore point.
 *
 * Words:
 * - export: qemu-storage-daemon holding the point's qcow2 chain read-only and showing it as a raw
 *   file through FUSE (this machine kind has no /dev/nbd).
 * - loop mount: the raw file mounted read-only (`ro,loop,noload`), or a `losetup --partscan`
 *   device whose partition N is mounted (`--partition N`).
 * - mount record: `<state dir>/<id>.json`, written before anything starts; a record whose vmkeep
 *   died, or whose export or mount is gone, is stale and the next mount or umount tears it down.
 * - scratch restore: a virtnbdbackup point has no image to export: it is restored into a scratch
 *   folder first, removed again on umount.
 */
export { runMount, mountStateDir, type MountOptions } from './run-mount.js';
