#!/usr/bin/env bash
# Capture the outputs vmkeep mount parses: `losetup --associated FILE` and a /proc/self/mountinfo
# line for a mount point whose name holds a space (the kernel writes it as \040). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d /var/tmp/vmkeep-capture-mount-XXXXXX)
trap 'umount "$scratch/mnt point" 2>/dev/null || true; rm -rf "$scratch"' EXIT
truncate -s 8M "$scratch/fs.raw"
mkfs.ext4 -q -F "$scratch/fs.raw"
mkdir "$scratch/mnt point"
mount -o ro,loop,noload "$scratch/fs.raw" "$scratch/mnt point"
losetup --associated "$scratch/fs.raw" | sed "s#$scratch#/SCRATCH#g" > fixtures/mount/losetup--associated.txt
grep -F "$(basename "$scratch")/mnt" /proc/self/mountinfo | sed "s#$scratch#/SCRATCH#g" > fixtures/mount/mountinfo-space.txt
umount "$scratch/mnt point"
losetup --associated "$scratch/fs.raw" > fixtures/mount/losetup--associated-none.txt

# An MBR with a primary, an extended container and a logical partition: --all-disks mounts 1 and 5
# and leaves the container (type 5) out.
(
  cd "$scratch"
  truncate -s 32M ext.raw
  printf 'start=2048, size=20480, type=83\nstart=22528, type=5\nstart=24576, size=10240, type=83\n' | sfdisk -q ext.raw
  sfdisk --json ext.raw
) > fixtures/mount/sfdisk--json-extended.json
