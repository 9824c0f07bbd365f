#!/usr/bin/env bash
# vmkeep's main job on a throwaway VM, end to end (npm run demo, as root on Debian 12):
# set up the host (which builds the booting test guest), boot a throwaway domain from it, let its
# journal workload run (numbered, checksummed, fsynced lines), back it up while it writes (a full
# and an incremental, both with --quiesce), restore both points and compare their files byte for
# byte with the guest's, then prove the newest point by booting it with `vmkeep verify --boot`.
# Everything it creates is removed at the end, also when a step fails or on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (it starts libvirtd and creates a throwaway VM)" >&2; exit 1; }
[[ -f dist/vmkeep.js ]] || { echo "demo: build first (npm ci or npm run build)" >&2; exit 1; }

source scripts/lib/scratch-domain.sh
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '%s\n' "$*"; }
vmkeep() { node bin/vmkeep "$@"; }
guest() { node scripts/lib/test-guest.mjs "$@"; }
started=$SECONDS

step "host setup"
bash scripts/setup-test-host.sh
IMAGE=$(bash scripts/build-test-guest.sh 2>/dev/null | tail -n 1) # built by the setup: cached now

DOM="vmkeep-demo-$$"
WORK="/var/tmp/vmkeep-demo-$$"
DISK="$WORK/images/demo disk.qcow2" # a space on purpose: vmkeep never builds shell strings
SERIAL="$WORK/images/serial.log"
BACKUPS="$WORK/backups"
MNT="$WORK/mnt"
URI=qemu:///system

cleanup() {
  set +e
  mountpoint -q "$MNT" && umount "$MNT"
  # A verify domain that Ctrl-C caught before vmkeep could tear it down.
  virsh -c "$URI" list --all --name 2>/dev/null | grep -F "vmkeep-verify-$DOM-" | while read -r d; do scratch_remove "$URI" "$d"; done
  scratch_remove "$URI" "$DOM"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "demo: interrupted; removing the throwaway domain and its files" >&2; exit 130' INT
trap 'exit 143' TERM

# Run a command in the running guest through its agent; fails when it exits non-zero.
in_guest() { guest exec "$URI" "$DOM" "$@"; }
journal_lines() { in_guest /bin/sh -c 'wc -l </data/journal.log'; }
wait_until() { # SECONDS WHAT COMMAND...: retry COMMAND every 0.5 s
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { echo "demo: $what did not happen in time" >&2; tail -n 5 "$SERIAL" >&2 2>/dev/null; exit 1; }
    sleep 0.5
  done
}
journal_past() { (($(journal_lines) > $1)); }
# A file the guest writes and keeps: its sha256 in the guest, to compare with the restored copies.
write_data_file() { in_guest /bin/sh -c 'dd if=/dev/urandom of="$1" bs=64k count=32 2>/dev/null && sync "$1" && sha256sum "$1"' sh "$1" | cut -d' ' -f1; }

# The application check an admin would keep in the VM: every journal line whole and its checksum right.
JOURNAL_CHECK='#!/bin/sh
n=0
while read -r l; do
  n=$((n + 1))
  set -- $(printf %s "${l% *}" | md5sum)
  [ "$1" = "${l##* }" ] || { echo "journal line $n: checksum mismatch"; exit 1; }
done </data/journal.log
echo "journal: $n lines, every checksum valid"'

mkdir -p "$WORK/images" "$MNT" && chmod 711 "$WORK" "$WORK/images"
cp "$IMAGE" "$DISK"
step "throwaway domain $DOM: the test guest (Linux, guest agent, a journal it appends to several times a second)"
guest domain-xml --name "$DOM" --disk "$DISK" --serial-log "$SERIAL" >"$WORK/domain.xml"
virsh -c "$URI" define "$WORK/domain.xml" >/dev/null
virsh -c "$URI" start "$DOM" >/dev/null
boot_start=$SECONDS
wait_until 180 "the guest's boot" grep -qF VMKEEP-TEST-GUEST-READY "$SERIAL"
wait_until 60 "the guest agent's answer" in_guest /bin/true
wait_until 60 "the journal's first lines" journal_past 5
in_guest /bin/sh -c 'printf "%s\n" "$1" >/data/check-journal && chmod 755 /data/check-journal && sync /data/check-journal' sh "$JOURNAL_CHECK"
say "booted in $((SECONDS - boot_start)) s; the journal has $(journal_lines) lines; /data/check-journal checks it"

step "full backup with --quiesce while the journal runs"
SUM1=$(write_data_file /data/file1.bin)
vmkeep backup --domains "$DOM" --output "$BACKUPS" --quiesce

step "incremental backup with --quiesce, the journal still running"
SUM2=$(write_data_file /data/file2.bin)
vmkeep backup --domains "$DOM" --output "$BACKUPS" --quiesce

step "restore points"
vmkeep list --domains "$DOM" --output "$BACKUPS"
mapfile -t POINTS < <(vmkeep list --domains "$DOM" --output "$BACKUPS" --json | node -e '
  const doc = JSON.parse(require("fs").readFileSync(0, "utf8"));
  for (const d of doc.domains ?? []) for (const p of d.points) console.log(p.id);')
[[ ${#POINTS[@]} -eq 2 ]] || { echo "demo: expected 2 restore points, got ${#POINTS[@]}" >&2; exit 1; }

in_guest /bin/cat /data/journal.log >"$WORK/live-journal.log"
for i in 0 1; do
  step "restore ${POINTS[$i]} and compare its files with the guest's"
  vmkeep restore --domain "$DOM" --output "$BACKUPS" --at "${POINTS[$i]}" --to "$WORK/restore$i"
  # A raw scratch copy, mounted writable so ext4 replays its journal, as the guest would at boot.
  qemu-img convert -O raw "$WORK/restore$i/demo disk.qcow2" "$WORK/restore$i/scratch.raw"
  mount -t ext4 -o loop,offset=1048576 "$WORK/restore$i/scratch.raw" "$MNT"
  [[ $(sha256sum <"$MNT/file1.bin" | cut -d' ' -f1) == "$SUM1" ]] || { echo "demo: file1.bin differs from the guest's" >&2; exit 1; }
  if ((i == 0)); then
    [[ ! -e $MNT/file2.bin ]] || { echo "demo: file2.bin was written after this point, yet it is there" >&2; exit 1; }
  else
    [[ $(sha256sum <"$MNT/file2.bin" | cut -d' ' -f1) == "$SUM2" ]] || { echo "demo: file2.bin differs from the guest's" >&2; exit 1; }
  fi
  say "data files: sha256 identical to the guest's ($((i + 1)) of 2 written by then)"
  say "journal: $(guest check-journal "$MNT/journal.log")"
  cmp -s -n "$(stat -c %s "$MNT/journal.log")" "$MNT/journal.log" "$WORK/live-journal.log" || { echo "demo: the journal differs from the guest's" >&2; exit 1; }
  say "journal: byte for byte the first $(wc -l <"$MNT/journal.log") lines of the live guest's"
  umount "$MNT"
  rm -rf "$WORK/restore$i"
done

step "prove the newest point boots: verify --boot (the guest agent, and the journal check inside the booted copy)"
vmkeep verify --boot --domains "$DOM" --output "$BACKUPS" --check agent --check exec:/data/check-journal

step "demo OK in $((SECONDS - started)) s: backed up while writing, restored byte for byte, booted and checked (cleaning up)"
