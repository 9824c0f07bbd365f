#!/usr/bin/env bash
# Build the booting test guest: a small qcow2 disk that boots by itself and behaves like a server.
#
# The disk holds an MBR and one bootable ext4 partition with extlinux, a Debian kernel and an
# initramfs (busybox, the virtio modules, qemu-ga). At boot the guest mounts the partition
# read-write at /data, starts qemu-ga on the virtio-serial channel, prints READY_MARKER on the
# serial console, and appends to /data/journal.log: numbered lines, each ending in the md5 of the
# rest of the line, fsynced one by one, several a second. That journal stands in for an
# application whose consistency a restore must keep.
#
# Everything comes from Debian's packages (apt-get download + dpkg-deb -x into a scratch tree):
# nothing is installed into the host's /boot or package database. Run as root (losetup, mount).
#
# Usage: build-test-guest.sh [--force]
#   Prints the path of the cached image on stdout (its last line). The image is cached in
#   <repo>/.cache/test-guest/ under a name that carries a hash of this script, so it is rebuilt
#   only when the script changes (or with --force).
set -euo pipefail

readonly READY_MARKER='VMKEEP-TEST-GUEST-READY'
readonly DISK_MIB=64
readonly PART_START_SECTOR=2048
readonly PART_OFFSET=$((PART_START_SECTOR * 512))
readonly PACKAGES_FIXED=(busybox-static qemu-guest-agent extlinux syslinux-common)
# Insert order matters: each module after the ones it needs (modprobe --show-depends lists them).
# crc32c_generic serves ext4's metadata checksums; crc32c_intel needs SSE4.2, which TCG lacks.
readonly MODULES=(virtio_pci virtio_blk virtio_console ext4 crc32c_generic)

say() { printf 'build-test-guest: %s\n' "$*" >&2; }
die() {
  printf 'build-test-guest: error: %s\n' "$*" >&2
  exit 1
}

force=''
case "${1:-}" in
  '') ;;
  --force) force=1 ;;
  *) die "unknown argument: $1 (usage: build-test-guest.sh [--force])" ;;
esac

[[ $(id -u) -eq 0 ]] || die "must run as root (it attaches a loop device to install the bootloader)"
for tool in apt-get dpkg-deb sfdisk cpio depmod modprobe mkfs.ext4 losetup mount qemu-img gzip ldd sha256sum flock; do
  command -v "$tool" >/dev/null 2>&1 || die "missing host tool $tool (scripts/setup-test-host.sh installs them)"
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$repo/.cache/test-guest"
script_hash=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
image="$cache/vmkeep-test-guest-$script_hash.qcow2"
mkdir -p "$cache/debs"

# Two test runs may ask at once: one builds, the other waits and takes the result.
exec 9>"$cache/.lock"
flock 9

if [[ -s $image && -z $force ]]; then
  say "cached: $image"
  printf '%s\n' "$image"
  exit 0
fi

work=$(mktemp -d "$cache/build.XXXXXX")
loopdev=''
cleanup() {
  if [[ -n $loopdev ]]; then
    umount "$work/mnt" 2>/dev/null || true
    losetup -d "$loopdev" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- packages -------------------------------------------------------------------------------
# The kernel is the one the linux-image-amd64 metapackage points at today.
kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
[[ -n $kernel_pkg ]] || die "apt-cache knows no linux-image-amd64 (run apt-get update)"
kver=${kernel_pkg#linux-image-}

# Returns the cached .deb of package $1 at the candidate version, downloading it when missing.
fetch_deb() {
  local pkg=$1 version file
  version=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')
  [[ -n $version && $version != '(none)' ]] || die "apt-cache has no candidate for $pkg (run apt-get update)"
  # apt-get download names files pkg_version_arch.deb with ':' in the version as %3a.
  file=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_${version//:/%3a}_*.deb" -print -quit)
  if [[ -z $file ]]; then
    say "downloading $pkg $version"
    (cd "$cache/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$version" >/dev/null) || die "apt-get download $pkg failed"
    file=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_${version//:/%3a}_*.deb" -print -quit)
    [[ -n $file ]] || die "apt-get download $pkg left no .deb in $cache/debs"
  fi
  printf '%s\n' "$file"
}

tree="$work/tree"
mkdir -p "$tree"
for pkg in "$kernel_pkg" "${PACKAGES_FIXED[@]}"; do
  dpkg-deb -x "$(fetch_deb "$pkg")" "$tree"
done
vmlinuz="$tree/boot/vmlinuz-$kver"
[[ -f $vmlinuz ]] || die "no kernel image in $kernel_pkg"
[[ -x $tree/usr/sbin/qemu-ga ]] || die "no qemu-ga in qemu-guest-agent"

# --- initramfs ------------------------------------------------------------------------------
initrd="$work/initrd"
mkdir -p "$initrd"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,data,var/run,lib/modules}
cp "$tree/bin/busybox" "$initrd/bin/busybox"
# Applet links, made here rather than by `busybox --install` inside the guest: the tree is ready at boot.
for applet in $("$initrd/bin/busybox" --list-full); do
  [[ -e $initrd/$applet ]] || ln -s /bin/busybox "$initrd/$applet"
done

# Kernel modules: the ones listed and what they depend on, in insertion order.
depmod -b "$tree" "$kver"
modlist="$initrd/etc/modules.order"
: >"$modlist"
for mod in "${MODULES[@]}"; do
  while read -r kind path _; do
    [[ $kind == insmod ]] || continue
    rel=${path#"$tree"}
    grep -qxF "$rel" "$modlist" && continue
    mkdir -p "$initrd$(dirname "$rel")"
    cp "$path" "$initrd$rel"
    printf '%s\n' "$rel" >>"$modlist"
  done < <(modprobe -d "$tree" -S "$kver" --show-depends "$mod" 2>/dev/null || die "kernel $kver has no module $mod")
done

# qemu-ga and the libraries it links (taken from the host, which has them with QEMU installed).
cp "$tree/usr/sbin/qemu-ga" "$initrd/usr/sbin/qemu-ga"
libs=$(ldd "$tree/usr/sbin/qemu-ga") || die "ldd qemu-ga failed"
if grep -q 'not found' <<<"$libs"; then
  die "qemu-ga needs libraries this host lacks: $(grep 'not found' <<<"$libs" | tr -s ' \t\n' ' ')"
fi
while read -r lib; do
  mkdir -p "$initrd$(dirname "$lib")"
  cp -L "$lib" "$initrd$lib"
done < <(grep -o '/[^ ]*' <<<"$libs" | sort -u)

cat >"$initrd/init" <<'EOF'
#!/bin/sh
# PID 1 until busybox init takes over: the mounts and modules init's children need.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
while read -r mod; do insmod "$mod"; done </etc/modules.order
exec /sbin/init
EOF

cat >"$initrd/etc/inittab" <<'EOF'
::sysinit:/etc/rc.boot
::once:/usr/sbin/qemu-ga -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 -t /run
::respawn:/sbin/journal-workload
ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100
::shutdown:/bin/sync
::shutdown:/bin/umount -a -r
EOF

cat >"$initrd/etc/rc.boot" <<EOF
#!/bin/sh
hostname vmkeep-test-guest
# No udev: give the agent's port the name qemu-ga expects.
mkdir -p /dev/virtio-ports
for p in /sys/class/virtio-ports/vport*; do
  [ -r "\$p/name" ] || continue
  ln -sf "../\${p##*/}" "/dev/virtio-ports/\$(cat "\$p/name")"
done
tries=0
until [ -b /dev/vda1 ] || [ \$tries -ge 50 ]; do sleep 0.1; tries=\$((tries + 1)); done
mount -t ext4 -o rw /dev/vda1 /data || echo 'vmkeep-test-guest: cannot mount /dev/vda1 on /data' >/dev/ttyS0
echo '$READY_MARKER' >/dev/ttyS0
EOF

# One line: "SEQ BOOT UPTIME EPOCH PAYLOAD MD5", MD5 over everything before its separating space.
# SEQ is the line's own number in the file, so a lost or repeated line shows as well as a torn one.
cat >"$initrd/sbin/journal-workload" <<'EOF'
#!/bin/sh
f=/data/journal.log
grep -q " /data ext4 rw" /proc/mounts || exec sleep 3600
boot=$(cat /proc/sys/kernel/random/boot_id | cut -c1-8)
n=0
[ -f "$f" ] && n=$(wc -l <"$f")
while :; do
  n=$((n + 1))
  read -r up _ </proc/uptime
  line="$n $boot $up $(date +%s) payload-$n-abcdefghijklmnopqrstuvwxyz0123456789"
  sum=$(printf '%s' "$line" | md5sum)
  printf '%s %s\n' "$line" "${sum%% *}" >>"$f"
  sync "$f"
  usleep 100000
done
EOF

# qemu-ga's guest-shutdown runs /sbin/shutdown -P|-H|-r +0 "message"; busybox init does the rest.
cat >"$initrd/sbin/shutdown" <<'EOF'
#!/bin/sh
case "$1" in
  -r) exec reboot ;;
  -H) exec halt ;;
  *) exec poweroff ;;
esac
EOF
rm -f "$initrd/sbin/shutdown.busybox"
printf 'root::0:0:root:/:/bin/sh\n' >"$initrd/etc/passwd"
printf 'root:x:0:\n' >"$initrd/etc/group"
chmod 755 "$initrd/init" "$initrd/etc/rc.boot" "$initrd/sbin/journal-workload" "$initrd/sbin/shutdown"

# --- disk -----------------------------------------------------------------------------------
part="$work/part.img"
root="$work/root"
mkdir -p "$root/boot/syslinux"
(cd "$initrd" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -6 >"$work/initrd.img"
cat >"$root/boot/syslinux/extlinux.conf" <<'EOF'
DEFAULT guest
PROMPT 0
TIMEOUT 0
LABEL guest
  KERNEL /boot/vmlinuz
  APPEND initrd=/boot/initrd.img console=tty0 console=ttyS0,115200 panic=-1
EOF
part_bytes=$(((DISK_MIB * 1024 * 1024) - PART_OFFSET))
truncate -s "$part_bytes" "$part"
# syslinux cannot read 64bit ext4.
mkfs.ext4 -q -F -O ^64bit -L vmkeep-guest -d "$root" "$part"

raw="$work/disk.raw"
truncate -s "${DISK_MIB}M" "$raw"
printf 'label: dos\nstart=%d, type=83, bootable\n' "$PART_START_SECTOR" | sfdisk -q "$raw"
dd if="$tree/usr/lib/syslinux/mbr/mbr.bin" of="$raw" bs=440 count=1 conv=notrunc status=none
dd if="$part" of="$raw" bs=1M seek=$((PART_OFFSET / 1048576)) conv=notrunc,sparse status=none

# This host's kernel may make no partition devices for a loop device: attach at the offset.
mkdir -p "$work/mnt"
loopdev=$(losetup -f --show -o "$PART_OFFSET" --sizelimit "$part_bytes" "$raw")
mount -t ext4 "$loopdev" "$work/mnt"
# Copied through the mount, not by mkfs -d: mkfs leaves holes where the kernel has zero blocks,
# and syslinux fails to load a file with holes ("failed: I/O error").
cp --sparse=never "$vmlinuz" "$work/mnt/boot/vmlinuz"
cp --sparse=never "$work/initrd.img" "$work/mnt/boot/initrd.img"
# "unable to obtain device geometry" is harmless for a loop device.
"$tree/usr/bin/extlinux" --install "$work/mnt/boot/syslinux" 2>&1 | grep -v -e 'device geometry' -e 'is device /dev/loop' -e 'usually harmless' >&2 || true
[[ -f $work/mnt/boot/syslinux/ldlinux.sys ]] || die "extlinux did not install ldlinux.sys"
umount "$work/mnt"
losetup -d "$loopdev"
loopdev=''

qemu-img convert -q -f raw -O qcow2 "$raw" "$work/disk.qcow2"
# Older images of this script are stale now.
find "$cache" -maxdepth 1 -name 'vmkeep-test-guest-*.qcow2' ! -name "${image##*/}" -delete
mv "$work/disk.qcow2" "$image"
say "built $image (kernel $kver, $(du -k "$image" | cut -f1) KiB)"
printf '%s\n' "$image"
