/**
 * `vmkeep mount` and `vmkeep umount`: file-level access to a restore point.
 *
 * Words:
 * - overlay: a throwaway qcow2 in the mount's scratch folder on top of the point's image; the
 *   journal replay writes land there, the backup is only read.
 * - export: qemu-storage-daemon holding the overlay (its backing chain read-only) and showing it
 *   as a raw file through FUSE (this machine kind has no /dev/nbd).
 * - journal replay: one writable mount of the filesystem on the overlay, so the guest's last
 *   writes still in its journal are shown; then the read-only mount.
 * - loop mount: the raw file (or partition N of it, by offset from the partition table) mounted
 *   read-only through a loop device.
 * - all disks: every disk exported, each filesystem on MOUNTPOINT/<disk> (no partition table) or
 *   MOUNTPOINT/<disk>-<N> (partition N), in folders vmkeep makes and umount removes.
 * - mount record: `<state dir>/<id>.json`, written before anything starts; a record whose vmkeep
 *   died, or whose export or mount is gone, is stale and the next mount or umount tears it down.
 * - scratch folder: `/var/tmp/vmkeep-mount-*`, holding the overlay (and for a virtnbdbackup point,
 *   which has no image to export, a restore of it); removed again on umount.
 */
export {};
