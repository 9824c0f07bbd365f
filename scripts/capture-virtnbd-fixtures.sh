#!/usr/bin/env bash
# Capture real virtnbdbackup/virtnbdrestore output as fixtures for vmkeep's parsers.
#
# Re-runnable, as root, on a host with libvirtd running and virtnbdbackup installed. It:
#   1. creates the scratch domain vmkeep-scratch-virtnbd-$N (64 MiB RAM, no OS, two qcow2 disks:
#      vda 64 MiB, vdb 16 MiB) under /var/tmp/vmkeep-scratch-virtnbd (every level chmod 711) and
#      starts it;
#   2. writes patterned data through QEMU's own block backend (qemu-io over the HMP monitor,
#      then "flush"), so the dirty bitmaps track it exactly like guest writes;
#   3. runs real backups: an uncompressed chain (full + 3 inc, one of them empty), an inc
#      interrupted with SIGINT (leaves a .partial), a compressed chain (full + 2 inc) and an inc
#      killed with SIGKILL; plus a few probes (printonly, partial-found, startonly/killonly);
#   4. runs real restores of the uncompressed chain (and a few damaged/reordered copies of it)
#      and compares each result with a reference copy of the disk taken at that point;
#   5. copies the small output folders and every run's stderr/exit code into
#      fixtures/virtnbdbackup/, then removes the domain and the scratch tree.
#
# Everything is deterministic except timestamps (file names of backup.*.log, "date" in the meta
# headers, log lines) and the pid in default socket names. fixtures/virtnbdbackup/README.md
# says what each fixture is.
set -euo pipefail

N="${VMKEEP_SCRATCH_N:-1}"
DOM="vmkeep-scratch-virtnbd-$N"
URI="qemu:///system"
SCRATCH="/var/tmp/vmkeep-scratch-virtnbd"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FIX="$REPO/fixtures/virtnbdbackup"
# Fixtures are assembled here and moved into $FIX only when every step worked.
STAGE="$SCRATCH/fixtures-new"
KEEP_SCRATCH="${KEEP_SCRATCH:-0}"

OUT="$SCRATCH/out"
REF="$SCRATCH/ref"
RUNS="$SCRATCH/runs"
SOCK="$SCRATCH/run/nbd.sock"

source "$REPO/scripts/lib/scratch-domain.sh"
die() { echo "capture: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }
vsh() { virsh -c "$URI" "$@"; }

[ "$(id -u)" = 0 ] || die "run as root"
for t in virsh qemu-img virtnbdbackup virtnbdrestore /usr/bin/python3; do
  command -v "$t" >/dev/null || die "$t not found"
done
vsh version >/dev/null || die "libvirtd does not answer on $URI"

teardown() {
  scratch_remove "$URI" "$DOM"
  if [ "$KEEP_SCRATCH" != 1 ]; then rm -rf "$SCRATCH"; fi
}
trap teardown EXIT

# ---------------------------------------------------------------------------------------------
say "setting up $DOM in $SCRATCH"
teardown
mkdir -p "$SCRATCH"/{img,tmp,run,scratch,out,ref,restore,runs} "$STAGE"
chmod 711 "$SCRATCH" "$SCRATCH"/{img,tmp,scratch,out,ref,restore,runs} "$STAGE"
# QEMU (user libvirt-qemu, group kvm) creates the NBD socket itself: its folder must be
# writable by QEMU, 0711 is not enough ("Failed to bind socket ... Permission denied").
chgrp kvm "$SCRATCH/run"
chmod 770 "$SCRATCH/run"
qemu-img create -q -f qcow2 "$SCRATCH/img/vda.qcow2" 64M
qemu-img create -q -f qcow2 "$SCRATCH/img/vdb.qcow2" 16M
# Deterministic incompressible data for the compressed chain (qemu-io write -s reads the file
# in QEMU, so it must be readable by libvirt-qemu).
/usr/bin/python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(1).randbytes(131072))' >"$SCRATCH/img/rand-128k.bin"
/usr/bin/python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(2).randbytes(65536))' >"$SCRATCH/img/rand-64k.bin"
chmod 644 "$SCRATCH"/img/rand-*.bin

scratch_define "$URI" "$DOM" "$SCRATCH/domain.xml" "vda=$SCRATCH/img/vda.qcow2" "vdb=$SCRATCH/img/vdb.qcow2"
vsh start "$DOM" >/dev/null

hmp() { vsh qemu-monitor-command "$DOM" --hmp "$1"; }
# QOM path of a disk's virtio backend; libvirt names vda virtio-disk0, vdb virtio-disk1.
qdev() { case "$1" in vda) echo /machine/peripheral/virtio-disk0/virtio-backend ;; vdb) echo /machine/peripheral/virtio-disk1/virtio-backend ;; esac; }
# gwrite DISK PATTERN OFFSET LENGTH: pattern byte through the guest's virtio block backend.
gwrite() {
  local out
  out="$(hmp "qemu-io -d $(qdev "$1") \"write -P $2 $3 $4\"")"
  case "$out" in *"wrote"*|"") ;; *) die "qemu-io write failed: $out" ;; esac
}
# gwritefile DISK FILE OFFSET LENGTH: contents of FILE through the same backend.
gwritefile() {
  local out
  out="$(hmp "qemu-io -d $(qdev "$1") \"write -s $2 $3 $4\"")"
  case "$out" in *"wrote"*|"") ;; *) die "qemu-io write -s failed: $out" ;; esac
}
gflush() { for d in vda vdb; do hmp "qemu-io -d $(qdev $d) \"flush\"" >/dev/null; done; }
# ref NAME: raw reference copies of both disks as they are now (flushed first).
ref() {
  gflush
  for d in vda vdb; do qemu-img convert -U -f qcow2 -O raw "$SCRATCH/img/$d.qcow2" "$REF/$1-$d.raw"; done
}

# run NAME CMD...: run a tool, keep stdout/stderr/exit code under runs/, never abort.
run() {
  local name="$1"; shift
  local rc=0
  printf '%q ' "$@" >"$RUNS/$name.argv"; echo >>"$RUNS/$name.argv"
  TMPDIR="$SCRATCH/tmp" "$@" >"$RUNS/$name.stdout" 2>"$RUNS/$name.stderr" || rc=$?
  echo "$rc" >"$RUNS/$name.rc"
  [ -s "$RUNS/$name.stdout" ] || rm -f "$RUNS/$name.stdout"
  say "$name: exit $rc"
  return 0
}
rc_of() { cat "$RUNS/$1.rc"; }
# An aborted job can take a moment to go away on a busy host: wait before the next step.
wait_no_job() {
  local i
  for i in $(seq 1 60); do
    vsh domjobinfo "$DOM" 2>/dev/null | grep -q 'Job type: *None' && return 0
    sleep 0.5
  done
  die "a backup job is still running on $DOM"
}
expect_rc() { [ "$(rc_of "$1")" = "$2" ] || die "$1 exited $(rc_of "$1"), expected $2 (see $RUNS/$1.stderr)"; }

backup() { # NAME LEVEL OUTDIR [extra...]
  local name="$1" level="$2" dir="$3"; shift 3
  run "$name" virtnbdbackup --uri "$URI" --domain "$DOM" --level "$level" --output "$dir" \
    --socketfile "$SOCK" --scratchdir "$SCRATCH/scratch" "$@"
  sleep 1.1 # distinct mtimes: virtnbdrestore orders data files by mtime
}

# compare NAME REFNAME DISK IMAGE: record whether a restored image equals a reference.
compare() {
  local verdict
  sleep 1.5 # the restore's qemu-nbd may hold the image for up to ~1 s after it returns
  if qemu-img compare -U -q -f raw "$REF/$2-$3.raw" "$4" 2>/dev/null; then verdict=identical
  else verdict=different; fi
  echo "$3: $verdict to ref $2" >>"$RUNS/$1.compare"
  say "$1: restored $3 $verdict to ref $2"
}

restore() { # NAME INPUT [extra...]  (output: $SCRATCH/restore/NAME)
  local name="$1" input="$2"; shift 2
  run "$name" virtnbdrestore --uri "$URI" --input "$input" --output "$SCRATCH/restore/$name" \
    --socketfile "$SCRATCH/run/restore-$name.sock" --logfile "$RUNS/$name.restore-log" "$@"
}

run version-virtnbdbackup virtnbdbackup --version
run version-virtnbdrestore virtnbdrestore --version

# ---------------------------------------------------------------------------------------------
say "chain-plain: full, inc (data), inc (empty), inc (overwrites inc 1)"
A="$OUT/chain-plain"
gwrite vda 0x11 0 64k
gwrite vda 0x22 1M 128k
gwrite vda 0x33 8M 64k
gwrite vda 0x34 65472k 64k # the last 64 KiB of the disk
gwrite vdb 0xa1 0 64k
ref s0
backup 01-plain-full full "$A"; expect_rc 01-plain-full 0

gwrite vda 0x44 1088k 64k # inside the 0x22 range
gwrite vda 0x55 32M 64k
ref s1 # vdb unchanged: its inc 1 is empty
backup 02-plain-inc1 inc "$A"; expect_rc 02-plain-inc1 0

backup 03-plain-inc2-empty inc "$A" --noprogress; expect_rc 03-plain-inc2-empty 0

gwrite vda 0x66 32M 64k # overwrites what inc 1 saved: makes the restore order matter
gwrite vdb 0xa3 1M 64k
ref s3
# --printonly: estimated size of the next inc from libvirt; it writes a log into -o, so use a copy.
cp -a "$A" "$OUT/probe-printonly"
run 04-probe-printonly virtnbdbackup --uri "$URI" --domain "$DOM" --level inc --output "$OUT/probe-printonly" \
  --socketfile "$SOCK" --scratchdir "$SCRATCH/scratch" --printonly
backup 05-plain-inc3 inc "$A"; expect_rc 05-plain-inc3 0

# ---------------------------------------------------------------------------------------------
say "restores of chain-plain"
restore 10-restore-all "$A"
compare 10-restore-all s3 vda "$SCRATCH/restore/10-restore-all/vda.qcow2"
compare 10-restore-all s3 vdb "$SCRATCH/restore/10-restore-all/vdb.qcow2"

restore 11-restore-sequence-inc1 "$A" --sequence vda.full.data,vda.inc.virtnbdbackup.1.data
compare 11-restore-sequence-inc1 s1 vda "$SCRATCH/restore/11-restore-sequence-inc1/vda"

restore 12-restore-until-1 "$A" --until virtnbdbackup.1
compare 12-restore-until-1 s1 vda "$SCRATCH/restore/12-restore-until-1/vda.qcow2"
compare 12-restore-until-1 s1 vdb "$SCRATCH/restore/12-restore-until-1/vdb.qcow2"
# vdb's inc 1 is empty, so --until did not stop there: vdb comes back at s3.
compare 12-restore-until-1 s3 vdb "$SCRATCH/restore/12-restore-until-1/vdb.qcow2"

# virtnbdbackup.2 is the empty inc: the state it names is s1.
restore 13-restore-until-2-empty "$A" --until virtnbdbackup.2
compare 13-restore-until-2-empty s1 vda "$SCRATCH/restore/13-restore-until-2-empty/vda.qcow2"
compare 13-restore-until-2-empty s3 vda "$SCRATCH/restore/13-restore-until-2-empty/vda.qcow2"

restore 14-restore-sequence-until "$A" --sequence vda.full.data,vda.inc.virtnbdbackup.1.data \
  --until virtnbdbackup.1
compare 14-restore-sequence-until s1 vda "$SCRATCH/restore/14-restore-sequence-until/vda"

# Same files, inc 1 made the newest by mtime (as a copy without -p would do).
cp -a "$A" "$OUT/reordered"
touch "$OUT/reordered/vda.inc.virtnbdbackup.1.data"
restore 15-restore-mtime-reordered "$OUT/reordered"
compare 15-restore-mtime-reordered s3 vda "$SCRATCH/restore/15-restore-mtime-reordered/vda.qcow2"
compare 15-restore-mtime-reordered s1 vda "$SCRATCH/restore/15-restore-mtime-reordered/vda.qcow2"

# inc 3 cut right after its meta header: its only data frame and the stop frame are gone.
cp -a "$A" "$OUT/truncated"
T="$OUT/truncated/vda.inc.virtnbdbackup.3.data"
metalen=$((16#$(head -c 40 "$T" | cut -d' ' -f3 | tr -d '\r\n')))
truncate -s $((40 + metalen + 2)) "$T"
touch -r "$A/vda.inc.virtnbdbackup.3.data" "$T"
restore 16-restore-truncated "$OUT/truncated"
compare 16-restore-truncated s3 vda "$SCRATCH/restore/16-restore-truncated/vda.qcow2"
compare 16-restore-truncated s1 vda "$SCRATCH/restore/16-restore-truncated/vda.qcow2"
restore 17-restore-truncated-sequence "$OUT/truncated" --sequence \
  vda.full.data,vda.inc.virtnbdbackup.1.data,vda.inc.virtnbdbackup.2.data,vda.inc.virtnbdbackup.3.data

# One payload byte of inc 1 flipped (0x44 -> 0xbb at its first data byte).
cp -a "$A" "$OUT/flipped"
F="$OUT/flipped/vda.inc.virtnbdbackup.1.data"
metalen=$((16#$(head -c 40 "$F" | cut -d' ' -f3 | tr -d '\r\n')))
pos=$((40 + metalen + 2 + 40))
printf '\xbb' | dd of="$F" bs=1 seek="$pos" conv=notrunc status=none
touch -r "$A/vda.inc.virtnbdbackup.1.data" "$F"
restore 18-restore-flipped "$OUT/flipped" --until virtnbdbackup.1
compare 18-restore-flipped s1 vda "$SCRATCH/restore/18-restore-flipped/vda.qcow2"

cp -a "$A" "$STAGE/chain-plain"

# ---------------------------------------------------------------------------------------------
say "interrupted-inc: SIGINT as soon as vda's .partial appears"
gwrite vda 0x77 16M 40M # one 40 MiB extent: the first NBD read is 32 MiB, which takes a while
rc=0
TMPDIR="$SCRATCH/tmp" virtnbdbackup --uri "$URI" --domain "$DOM" --level inc --output "$A" \
  --socketfile "$SOCK" --scratchdir "$SCRATCH/scratch" >"$RUNS/20-interrupted-inc.stdout" 2>"$RUNS/20-interrupted-inc.stderr" &
pid=$!
SECONDS=0
until [ -e "$A/vda.inc.virtnbdbackup.4.data.partial" ]; do
  if [ "$SECONDS" -gt 30 ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
done
kill -INT "$pid" 2>/dev/null || true
wait "$pid" || rc=$?
echo "$rc" >"$RUNS/20-interrupted-inc.rc"
[ -s "$RUNS/20-interrupted-inc.stdout" ] || rm -f "$RUNS/20-interrupted-inc.stdout"
say "20-interrupted-inc: exit $rc"
{
  echo "# virsh domjobinfo $DOM"; vsh domjobinfo "$DOM" 2>&1 || true
  echo "# virsh checkpoint-list $DOM --name"; vsh checkpoint-list "$DOM" --name 2>&1 || true
  echo "# ls -l --time-style=+ (size name)"; (cd "$A" && find . -type f -printf '%s %p\n' | sort -k2)
} >"$RUNS/20-interrupted-inc.after"
wait_no_job
if [ "$(find "$A" -name '*.partial' -size +2M | wc -l)" -eq 0 ]; then
  cp -a "$A" "$STAGE/interrupted-inc"
else
  say "interrupted-inc: the .partial grew past 2 MiB before SIGINT landed; not kept as fixture"
fi

# A later inc into that folder refuses to run (no libvirt change): use a copy, it writes a log.
cp -a "$A" "$OUT/probe-partial"
run 21-probe-inc-with-partial virtnbdbackup --uri "$URI" --domain "$DOM" --level inc --output "$OUT/probe-partial" \
  --socketfile "$SOCK" --scratchdir "$SCRATCH/scratch"

# -s starts a backup job and leaves it running; -k aborts it; -k with no job fails.
run 22-probe-startonly virtnbdbackup --uri "$URI" --domain "$DOM" --level copy --output "$OUT/probe-startonly" \
  --socketfile "$SOCK" --scratchdir "$SCRATCH/scratch" --startonly
expect_rc 22-probe-startonly 0
vsh domjobinfo "$DOM" >"$RUNS/22-probe-startonly.domjobinfo" 2>&1 || true
sleep 1
run 23-probe-killonly virtnbdbackup --uri "$URI" --domain "$DOM" --output "$OUT/probe-killonly" --killonly
expect_rc 23-probe-killonly 0
vsh domjobinfo "$DOM" >"$RUNS/23-probe-killonly.domjobinfo" 2>&1 || true
wait_no_job
run 24-probe-killonly-nojob virtnbdbackup --uri "$URI" --domain "$DOM" --output "$OUT/probe-killonly2" --killonly

# ---------------------------------------------------------------------------------------------
say "chain-compressed: full -z (with a 40 MiB extent), inc -z (empty), inc -z (data)"
B="$OUT/chain-compressed"
gwritefile vda "$SCRATCH/img/rand-128k.bin" 2M 128k
gwrite vdb 0xb1 2M 64k
ref s5
backup 30-compressed-full full "$B" --compress; expect_rc 30-compressed-full 0
backup 31-compressed-inc1-empty inc "$B" --compress; expect_rc 31-compressed-inc1-empty 0
gwritefile vda "$SCRATCH/img/rand-64k.bin" 4M 64k
gwrite vda 0x88 5M 64k
ref s6 # vdb unchanged since the full
backup 32-compressed-inc2 inc "$B" --compress; expect_rc 32-compressed-inc2 0

restore 33-restore-compressed "$B"
compare 33-restore-compressed s6 vda "$SCRATCH/restore/33-restore-compressed/vda.qcow2"
compare 33-restore-compressed s6 vdb "$SCRATCH/restore/33-restore-compressed/vdb.qcow2"
restore 34-restore-compressed-until-0 "$B" --until virtnbdbackup.0
compare 34-restore-compressed-until-0 s5 vda "$SCRATCH/restore/34-restore-compressed-until-0/vda.qcow2"

cp -a "$B" "$STAGE/chain-compressed"

# ---------------------------------------------------------------------------------------------
say "killed-inc-compressed: SIGKILL as soon as vda's .partial appears"
gwrite vda 0x99 16M 40M
rc=0
TMPDIR="$SCRATCH/tmp" virtnbdbackup --uri "$URI" --domain "$DOM" --level inc --output "$B" \
  --socketfile "$SOCK" --scratchdir "$SCRATCH/scratch" --compress >"$RUNS/40-killed-inc.stdout" 2>"$RUNS/40-killed-inc.stderr" &
pid=$!
SECONDS=0
until [ -e "$B/vda.inc.virtnbdbackup.3.data.partial" ]; do
  if [ "$SECONDS" -gt 30 ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" || rc=$?
echo "$rc" >"$RUNS/40-killed-inc.rc"
[ -s "$RUNS/40-killed-inc.stdout" ] || rm -f "$RUNS/40-killed-inc.stdout"
say "40-killed-inc: exit $rc"
{
  echo "# virsh domjobinfo $DOM"; vsh domjobinfo "$DOM" 2>&1 || true
  echo "# virsh checkpoint-list $DOM --name"; vsh checkpoint-list "$DOM" --name 2>&1 || true
  echo "# files (size name)"; (cd "$B" && find . -type f -printf '%s %p\n' | sort -k2)
} >"$RUNS/40-killed-inc.after"
if [ "$(find "$B" -name '*.partial' -size +2M | wc -l)" -eq 0 ]; then
  cp -a "$B" "$STAGE/killed-inc-compressed"
else
  say "killed-inc: the .partial grew past 2 MiB before SIGKILL landed; not kept as fixture"
fi
# The job QEMU still runs after a SIGKILL: abort it, as a repair would.
run 41-abort-after-kill virsh -c "$URI" domjobabort "$DOM"

# ---------------------------------------------------------------------------------------------
cp -a "$RUNS" "$STAGE/runs"
mkdir -p "$FIX"
for name in chain-plain interrupted-inc chain-compressed killed-inc-compressed runs; do
  rm -rf "${FIX:?}/$name"
  if [ -e "$STAGE/$name" ]; then cp -a "$STAGE/$name" "$FIX/$name"; fi
done
say "fixtures written to $FIX ($(du -sh "$FIX" | cut -f1))"
