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
  virsh -c "$URI" destroy "$DOM" >/dev/null 2>&1
  virsh -c "$URI" undefine "$DOM" --checkpoints-metadata --nvram >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/images" "$WORK/refs" && chmod 711 "$WORK" "$WORK/images"
qemu-img create -q -f qcow2 "$DISK" 256M
TYPE=qemu
if [[ -c /dev/kvm ]] && [[ $(stat -c %G /dev/kvm) == kvm ]]; then TYPE=kvm; fi
cat >"$WORK/domain.xml" <<XML
<domain type='$TYPE'>
  <name>$DOM</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$DISK'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <console type='pty'/>
  </devices>
</domain>
XML
step "throwaway domain $DOM (type $TYPE), disk: $DISK"
virsh -c "$URI" define "$WORK/domain.xml" >/dev/null
virsh -c "$URI" start "$DOM" >/dev/null

# Guest writes through the QEMU monitor: tracked by dirty bitmaps exactly like writes of a guest OS.
guest_write() { # pattern offset length
  virsh -c "$URI" qemu-monitor-command "$DOM" --hmp "qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend \"write -P $1 $2 $3\"" >/dev/null
  virsh -c "$URI" qemu-monitor-command "$DOM" --hmp 'qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"' >/dev/null
}
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
