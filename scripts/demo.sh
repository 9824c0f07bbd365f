#!/usr/bin/env bash
# vmkeep's main job on a throwaway VM, end to end (npm run demo, as root on Debian 12):
# set up the host, create a domain with a real qcow2 disk, write data into it while it runs,
# back it up (full, then incremental), show status and the restore points, verify, restore
# both points and compare them byte for byte with copies of the disk taken at those points.
# Everything it creates is removed at the end, also when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (it starts libvirtd and creates a throwaway VM)" >&2; exit 1; }
[[ -f dist/vmkeep.js ]] || { echo "demo: build first (npm ci or npm run build)" >&2; exit 1; }

source scripts/lib/scratch-domain.sh
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
vmkeep() { node bin/vmkeep "$@"; }

step "host setup"
bash scripts/setup-test-host.sh

DOM="vmkeep-demo-$$"
WORK="/var/tmp/vmkeep-demo-$$"
DISK="$WORK/images/demo disk.qcow2"   # a space on purpose: vmkeep never builds shell strings
BACKUPS="$WORK/backups"
URI=qemu:///system

cleanup() {
  set +e
  scratch_remove "$URI" "$DOM"
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/images" "$WORK/refs" && chmod 711 "$WORK" "$WORK/images"
qemu-img create -q -f qcow2 "$DISK" 256M
step "throwaway domain $DOM (type $(scratch_domain_type)), disk: $DISK"
scratch_define "$URI" "$DOM" "$WORK/domain.xml" "vda=$DISK"
virsh -c "$URI" start "$DOM" >/dev/null

# Guest writes through the QEMU monitor: tracked by dirty bitmaps exactly like writes of a guest OS.
guest_write() { scratch_guest_write "$URI" "$DOM" 0 "$@"; } # pattern offset length
reference() { qemu-img convert -U -O qcow2 "$DISK" "$WORK/refs/$1.qcow2"; }

step "write 32 MiB into the running guest, full backup"
guest_write 0x5a 0 32M
reference point1
vmkeep backup --domains "$DOM" --output "$BACKUPS"

step "write 8 MiB more, incremental backup"
guest_write 0xa5 64M 8M
reference point2
vmkeep backup --domains "$DOM" --output "$BACKUPS"

step "status"
vmkeep status --domains "$DOM" --output "$BACKUPS"

step "restore points"
vmkeep list --domains "$DOM" --output "$BACKUPS"

step "verify (checksums, stream structure, and a deep restore of the latest point)"
vmkeep verify --domains "$DOM" --output "$BACKUPS" --deep

mapfile -t POINTS < <(vmkeep list --domains "$DOM" --output "$BACKUPS" --json | node -e '
  const doc = JSON.parse(require("fs").readFileSync(0, "utf8"));
  for (const d of doc.domains ?? []) for (const p of d.points) console.log(p.id);')
[[ ${#POINTS[@]} -eq 2 ]] || { echo "demo: expected 2 restore points, got ${#POINTS[@]}" >&2; exit 1; }

for i in 0 1; do
  step "restore ${POINTS[$i]} and compare with the disk as it was then"
  vmkeep restore --domain "$DOM" --output "$BACKUPS" --at "${POINTS[$i]}" --to "$WORK/restore$i"
  qemu-img compare -q "$WORK/restore$i/demo disk.qcow2" "$WORK/refs/point$((i + 1)).qcow2"
  echo "identical: ${POINTS[$i]}"
done

step "demo OK: backed up, verified and restored byte for byte (cleaning up)"
