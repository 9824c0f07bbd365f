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
