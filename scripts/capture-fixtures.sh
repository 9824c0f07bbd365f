#!/usr/bin/env bash
# Capture the fixtures under fixtures/{virsh,qmp,qemu-img,versions} from real virsh, QEMU,
# qemu-img and virtnbdbackup runs, and rewrite this script's section of fixtures/README.md.
#
# Re-runnable, root, no input. Works only on scratch domains named vmkeep-scratch-fixtures-*
# with images under /var/tmp/vmkeep-scratch-fixtures/, and removes them at the end (also when a
# step fails). Every command goes through `capture`, which also records it for the README, so
# the README always shows the exact command behind each file.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FIX="$ROOT/fixtures"
README="$FIX/README.md"
URI='qemu:///system'
PREFIX='vmkeep-scratch-fixtures'
SCRATCH="/var/tmp/$PREFIX"
MIB=$((1024 * 1024))

RUN="$PREFIX-run"         # running; two qcow2 disks, one path with a space; two checkpoints
PAUSED="$PREFIX-paused"   # started --paused
OFF="$PREFIX-off"         # defined, never started
DEVICES="$PREFIX-devices" # cdrom, floppy, raw, readonly, shareable: started once, then shut off
REMOTE="$PREFIX-remote"   # network (nbd, iscsi) and block (disk, lun): defined only
RUN_VDA="$SCRATCH/run-vda.qcow2"
RUN_VDB="$SCRATCH/run data disk.qcow2"

virsh() { command virsh -c "$URI" "$@"; }
say() { printf 'capture-fixtures: %s\n' "$*" >&2; }
die() {
  printf 'capture-fixtures: error: %s\n' "$*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root"
for tool in virsh qemu-img qemu-io virtnbdbackup virtnbdrestore libvirtd; do
  command -v "$tool" >/dev/null || die "$tool is not installed (run scripts/setup-test-host.sh)"
done

# --- bookkeeping: every captured file and the command behind it ---------------------------
MANIFEST=()
NOTES=()

# Quote an argv for display the way a shell would need it.
show_argv() {
  local out='' a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
      out+="$a "
    else
      out+="'${a//\'/\'\\\'\'}' "
    fi
  done
  printf '%s' "${out% }"
}

# capture FILE [--stderr] [--expect-fail] -- CMD...: run CMD, save its stdout (or, with
# --stderr, its stderr) to fixtures/FILE and record the command and exit code.
capture() {
  local file=$1 stream=stdout expect=ok
  shift
  while [[ $1 != -- ]]; do
    case $1 in
    --stderr) stream=stderr ;;
    --expect-fail) expect=fail ;;
    esac
    shift
  done
  shift
  mkdir -p "$(dirname "$FIX/$file")"
  local out err rc=0
  out=$(mktemp) err=$(mktemp)
  "$@" >"$out" 2>"$err" || rc=$?
  if [[ $expect == ok && $rc -ne 0 ]]; then
    cat "$err" >&2
    rm -f "$out" "$err"
    die "$(show_argv "$@") exited $rc while capturing $file"
  fi
  if [[ $expect == fail && $rc -eq 0 ]]; then
    rm -f "$out" "$err"
    die "$(show_argv "$@") succeeded, but $file is meant to capture its failure"
  fi
  if [[ $stream == stdout ]]; then mv "$out" "$FIX/$file"; else mv "$err" "$FIX/$file"; fi
  rm -f "$out" "$err"
  local cmd
  cmd=$(show_argv "$@")
  # virsh is always run with -c qemu:///system; show it as run.
  [[ $1 == virsh ]] && cmd="virsh -c $URI ${cmd#virsh }"
  MANIFEST+=("| \`$file\` | \`${cmd//|/\\|}\` | $stream | $rc |")
  say "captured $file (exit $rc)"
}

note() { NOTES+=("$*"); }

# --- scratch domains ----------------------------------------------------------------------------
remove_scratch() {
  local uuid name
  while read -r uuid name; do
    [[ $name == "$PREFIX"-* ]] || continue
    virsh domjobabort "$uuid" >/dev/null 2>&1 || true
    virsh destroy "$uuid" >/dev/null 2>&1 || true
    # A transient domain is gone after destroy; a persistent one needs undefine.
    virsh undefine "$uuid" --checkpoints-metadata --snapshots-metadata --nvram >/dev/null 2>&1 || true
  done < <(virsh list --all --uuid --name)
  rm -rf "$SCRATCH"
}

finish() {
  local rc=$?
  remove_scratch
  ((rc == 0)) || say "failed (exit $rc); scratch domains removed, fixtures may be partial"
}
trap finish EXIT

# define_domain NAME UUID DISKS_XML: a domain with no OS (it idles in firmware), no graphics.
define_domain() {
  local name=$1 uuid=$2 disks=$3 type=qemu xml
  # Same rule as test/helpers/libvirt.ts: kvm only where QEMU's group may open /dev/kvm.
  [[ -c /dev/kvm && $(stat -c '%G %a' /dev/kvm) =~ ^kvm\ 66 ]] && type=kvm
  xml="$SCRATCH/$name.xml"
  cat >"$xml" <<EOF
<domain type='$type'>
  <name>$name</name>
  <uuid>$uuid</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
  <devices>
$disks
    <console type='pty'/>
  </devices>
</domain>
EOF
  virsh define "$xml" >/dev/null
}

file_disk() { # file_disk PATH FORMAT TARGET BUS [DEVICE] [EXTRA_XML]
  local device=${5:-disk} source=''
  [[ -n $1 ]] && source="<source file='$1'/>"
  printf "    <disk type='file' device='%s'>\n      <driver name='qemu' type='%s'/>\n      %s\n      <target dev='%s' bus='%s'/>%s\n    </disk>\n" \
    "$device" "$2" "$source" "$3" "$4" "${6:+$'\n'      $6}"
}

# guest_write DOM ALIAS PATTERN OFFSET LENGTH: write through the guest's virtio device, flush,
# then prove from outside that the bytes are in the image (qemu-io in HMP reports its own
# errors only in the domain log, not in the monitor reply).
guest_write() {
  local dom=$1 alias=$2 pattern=$3 offset=$4 length=$5 image=$6 reply
  local dev="/machine/peripheral/$alias/virtio-backend"
  reply=$(virsh qemu-monitor-command "$dom" --hmp "qemu-io -d $dev \"write -P $pattern $offset $length\"")
  [[ -z ${reply//[$'\r\n ']/} ]] || die "HMP write on $dom $alias: $reply"
  reply=$(virsh qemu-monitor-command "$dom" --hmp "qemu-io -d $dev \"flush\"")
  [[ -z ${reply//[$'\r\n ']/} ]] || die "HMP flush on $dom $alias: $reply"
  qemu-io -U -r -f qcow2 -c "read -P $pattern $offset $length" "$image" >/dev/null ||
    die "write of $pattern at $offset+$length did not land in $image"
}

run_virtnbdbackup() { # run_virtnbdbackup LEVEL
  # Own TMPDIR: 1.9.15 leaves /tmp/qemu-*.log files behind.
  TMPDIR="$SCRATCH/tmp" virtnbdbackup -d "$RUN" -l "$1" -o "$SCRATCH/backup" >>"$SCRATCH/virtnbdbackup.log" 2>&1 ||
    die "virtnbdbackup -l $1 failed; see $SCRATCH/virtnbdbackup.log"
}

wait_for_no_job() {
  local i
  for i in $(seq 1 100); do
    virsh domjobinfo "$1" | grep -q '^Job type: *None' && return 0
    sleep 0.1
  done
  die "the job on $1 did not finish"
}

# ================================================================================================
remove_scratch
mkdir -p "$SCRATCH/tmp"
chmod 0711 "$SCRATCH" # QEMU (libvirt-qemu) must traverse to the images, not list them
say "scratch in $SCRATCH"

qemu-img create -q -f qcow2 "$RUN_VDA" 64M
qemu-img create -q -f qcow2 "$RUN_VDB" 32M
qemu-img create -q -f qcow2 "$SCRATCH/paused.qcow2" 16M
qemu-img create -q -f qcow2 "$SCRATCH/off.qcow2" 16M
qemu-img create -q -f qcow2 "$SCRATCH/dev-os.qcow2" 16M
qemu-img create -q -f raw "$SCRATCH/dev-raw.img" 8M
qemu-img create -q -f qcow2 "$SCRATCH/dev-readonly.qcow2" 8M
qemu-img create -q -f raw "$SCRATCH/dev-shared.img" 8M
qemu-img create -q -f raw "$SCRATCH/cdrom.iso" 1M
qemu-img create -q -f raw "$SCRATCH/floppy.img" 1440K

define_domain "$RUN" 00000000-0000-4000-8000-00000000f001 \
  "$(file_disk "$RUN_VDA" qcow2 vda virtio)$(file_disk "$RUN_VDB" qcow2 vdb virtio)"
define_domain "$PAUSED" 00000000-0000-4000-8000-00000000f002 "$(file_disk "$SCRATCH/paused.qcow2" qcow2 vda virtio)"
define_domain "$OFF" 00000000-0000-4000-8000-00000000f003 "$(file_disk "$SCRATCH/off.qcow2" qcow2 vda virtio)"
define_domain "$DEVICES" 00000000-0000-4000-8000-00000000f004 "$(
  file_disk "$SCRATCH/dev-os.qcow2" qcow2 vda virtio
  file_disk "$SCRATCH/dev-raw.img" raw vdb virtio
  file_disk "$SCRATCH/dev-readonly.qcow2" qcow2 vdc virtio disk '<readonly/>'
  file_disk "$SCRATCH/dev-shared.img" raw vdd virtio disk '<shareable/>'
  file_disk "$SCRATCH/cdrom.iso" raw hdc ide cdrom '<readonly/>'
  file_disk '' raw hdd ide cdrom '<readonly/>'
  file_disk "$SCRATCH/floppy.img" raw fda fdc floppy
)"
define_domain "$REMOTE" 00000000-0000-4000-8000-00000000f005 "$(
  cat <<'EOF'
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='nbd' name='export0'>
        <host name='nbd.invalid' port='10809'/>
      </source>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='iscsi' name='iqn.2026-01.invalid.vmkeep:target0/1'>
        <host name='iscsi.invalid' port='3260'/>
      </source>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='block' device='lun'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/disk/by-id/vmkeep-missing-lun'/>
      <target dev='sda' bus='scsi'/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/vmkeep-missing-block'/>
      <target dev='vdc' bus='virtio'/>
    </disk>
EOF
)"

# --- versions -----------------------------------------------------------------------------------
capture versions/virsh--version.txt -- virsh --version
capture versions/virsh-version.txt -- virsh version
capture versions/virtnbdbackup--version.txt -- virtnbdbackup --version
capture versions/virtnbdrestore--version.txt -- virtnbdrestore --version
capture versions/libvirtd--version.txt -- libvirtd --version
capture versions/qemu-system-x86_64--version.txt -- qemu-system-x86_64 --version
capture qemu-img/version.txt -- qemu-img --version

# --- the devices domain: QEMU accepts every device, libvirt refuses a checkpoint on raw --------
virsh start "$DEVICES" >/dev/null
capture virsh/dumpxml-devices-running.xml -- virsh dumpxml "$DEVICES"
capture virsh/checkpoint-create-as-raw-disk.stderr --stderr --expect-fail -- \
  virsh checkpoint-create-as "$DEVICES" --name virtnbdbackup.0
virsh destroy "$DEVICES" >/dev/null
capture virsh/dumpxml-devices-shutoff.xml -- virsh dumpxml "$DEVICES"
capture virsh/dumpxml-remote-shutoff.xml -- virsh dumpxml "$REMOTE"
note "\`$DEVICES\` was started once (QEMU 7.2 accepted the floppy on the i440fx machine, the empty cdrom and the shareable raw disk) and destroyed before \`dumpxml-devices-shutoff.xml\`; \`$REMOTE\` was only defined: libvirt accepts block sources that do not exist (\`/dev/vmkeep-missing-*\`) at define time."

# --- states -------------------------------------------------------------------------------------
virsh start "$RUN" >/dev/null
virsh start --paused "$PAUSED" >/dev/null
capture virsh/list--all--name.txt -- virsh list --all --name
capture virsh/list--all.txt -- virsh list --all
capture virsh/list--all--uuid--name.txt -- virsh list --all --uuid --name
note "The \`list\` fixtures show every domain of the shared libvirtd at capture time, so other helpers' scratch domains may appear next to the \`$PREFIX-*\` ones."
capture virsh/domstate-running.txt -- virsh domstate "$RUN"
capture virsh/domstate-paused.txt -- virsh domstate "$PAUSED"
capture virsh/domstate-shutoff.txt -- virsh domstate "$OFF"
capture virsh/domstate--reason-running.txt -- virsh domstate --reason "$RUN"
capture virsh/domstate--reason-paused.txt -- virsh domstate --reason "$PAUSED"
capture virsh/domstate--reason-shutoff-never-started.txt -- virsh domstate --reason "$OFF"
capture virsh/domstate--reason-shutoff-destroyed.txt -- virsh domstate --reason "$DEVICES"
capture virsh/domjobinfo-no-job.txt -- virsh domjobinfo "$RUN"

# --- two checkpoints from real virtnbdbackup runs, with known writes between them --------------
guest_write "$RUN" virtio-disk0 0x11 0 $((4 * MIB)) "$RUN_VDA"
run_virtnbdbackup full # checkpoint virtnbdbackup.0
guest_write "$RUN" virtio-disk0 0x5a $((1 * MIB)) $((2 * MIB)) "$RUN_VDA"
guest_write "$RUN" virtio-disk1 0xa5 0 $((1 * MIB)) "$RUN_VDB"
run_virtnbdbackup inc # checkpoint virtnbdbackup.1
capture virsh/domjobinfo--completed-after-virtnbdbackup.txt -- virsh domjobinfo "$RUN" --completed
note "\`domjobinfo--completed-after-virtnbdbackup.txt\` says \`Error message: Operation canceled\` after a successful \`virtnbdbackup -l inc\` (exit 0): a pull-mode backup ends with an abort, so libvirt records it as canceled."
guest_write "$RUN" virtio-disk0 0x3c $((8 * MIB)) $((3 * MIB)) "$RUN_VDA"
note "Data on \`$RUN\`: 4 MiB of 0x11 at 0 on vda before \`virtnbdbackup -l full\` (checkpoint virtnbdbackup.0); then 2 MiB of 0x5a at 1 MiB on vda and 1 MiB of 0xa5 at 0 on vdb before \`virtnbdbackup -l inc\` (checkpoint virtnbdbackup.1); then 3 MiB of 0x3c at 8 MiB on vda. So \`--size\` should say: virtnbdbackup.0: vda 5 MiB (5242880), vdb 1 MiB (1048576); virtnbdbackup.1: vda 3 MiB (3145728), vdb 0. Writes go through the guest's virtio device from HMP \`qemu-io -d /machine/peripheral/virtio-diskN/virtio-backend\`, then \`flush\`."

capture virsh/checkpoint-list--name.txt -- virsh checkpoint-list "$RUN" --name
capture virsh/checkpoint-list--name--topological.txt -- virsh checkpoint-list "$RUN" --name --topological
capture virsh/checkpoint-list--parent.txt -- virsh checkpoint-list "$RUN" --parent
capture virsh/checkpoint-list.txt -- virsh checkpoint-list "$RUN"
capture virsh/checkpoint-dumpxml-virtnbdbackup.0.xml -- virsh checkpoint-dumpxml "$RUN" virtnbdbackup.0
capture virsh/checkpoint-dumpxml-virtnbdbackup.0--size.xml -- virsh checkpoint-dumpxml "$RUN" virtnbdbackup.0 --size
capture virsh/checkpoint-dumpxml-virtnbdbackup.1--size--no-domain.xml -- \
  virsh checkpoint-dumpxml "$RUN" virtnbdbackup.1 --size --no-domain
capture virsh/dumpxml-running-2-checkpoints.xml -- virsh dumpxml "$RUN"
capture virsh/dumpxml--inactive-2-checkpoints.xml -- virsh dumpxml "$RUN" --inactive

capture qmp/query-named-block-nodes-2-checkpoints.json -- \
  virsh qemu-monitor-command "$RUN" '{"execute":"query-named-block-nodes","arguments":{"flat":true}}'
capture qmp/query-block-jobs-idle.json -- virsh qemu-monitor-command "$RUN" '{"execute":"query-block-jobs"}'
capture qmp/error-unknown-command.json -- virsh qemu-monitor-command "$RUN" '{"execute":"no-such-command"}'
note "\`qmp/error-unknown-command.json\`: virsh exits 0 when QEMU answers with an error; only the reply says so."

# The image file of a running domain: needs -U, and does not show the live bitmaps.
capture qemu-img/info-running-domain-disk.json -- qemu-img info --output=json --force-share "$RUN_VDA"
capture qemu-img/info-running-domain-disk-without-force-share.stderr --stderr --expect-fail -- \
  qemu-img info --output=json "$RUN_VDA"

# --- a pull-mode backup job left running (what a killed virtnbdbackup leaves behind) -----------
# QEMU itself binds the NBD socket: its directory must be writable by QEMU's user.
mkdir -p "$SCRATCH/sock"
chown "$(stat -c %U "$RUN_VDA")" "$SCRATCH/sock" # libvirt gave the running image to QEMU's user
cat >"$SCRATCH/pull.xml" <<EOF
<domainbackup mode='pull'>
  <server transport='unix' socket='$SCRATCH/sock/pull.sock'/>
  <disks>
    <disk name='vda' backup='yes' type='file'>
      <scratch file='$SCRATCH/pull-scratch-vda.qcow2'/>
    </disk>
    <disk name='vdb' backup='no'/>
  </disks>
</domainbackup>
EOF
virsh backup-begin "$RUN" "$SCRATCH/pull.xml" >/dev/null
capture virsh/domjobinfo-active-pull-backup.txt -- virsh domjobinfo "$RUN"
capture qmp/query-block-jobs-active-pull-backup.json -- virsh qemu-monitor-command "$RUN" '{"execute":"query-block-jobs"}'
capture virsh/backup-begin-while-job-active.stderr --stderr --expect-fail -- virsh backup-begin "$RUN" "$SCRATCH/pull.xml"
note "\`backup-begin-while-job-active.stderr\`: with a backup job active, a second \`backup-begin\` waits about 30 s for the domain's job lock, then fails (most of this script's run time). \`checkpoint-dumpxml --size\` still answers during the job."
capture virsh/checkpoint-dumpxml--size-while-job-active.xml -- virsh checkpoint-dumpxml "$RUN" virtnbdbackup.1 --size --no-domain
capture virsh/domjobabort.txt -- virsh domjobabort "$RUN"
wait_for_no_job "$RUN"
note "The pull-mode job was started with \`virsh backup-begin $RUN $SCRATCH/pull.xml\` (full backup of vda over a unix socket, no checkpoint) and ended with \`domjobabort\`, which is how a pull-mode backup normally ends too."

# --- a push-mode backup (libvirt's own API), then its completed-job statistics -----------------
cat >"$SCRATCH/push.xml" <<EOF
<domainbackup mode='push'>
  <disks>
    <disk name='vda' backup='yes' type='file'>
      <target file='$SCRATCH/push-vda.qcow2'/>
      <driver type='qcow2'/>
    </disk>
    <disk name='vdb' backup='no'/>
  </disks>
</domainbackup>
EOF
virsh backup-begin "$RUN" "$SCRATCH/push.xml" >/dev/null
wait_for_no_job "$RUN"
capture virsh/domjobinfo--completed-after-push-backup.txt -- virsh domjobinfo "$RUN" --completed
note "The push-mode backup was \`virsh backup-begin $RUN $SCRATCH/push.xml\` (full of vda into a new qcow2, no checkpoint)."
rm -f "$SCRATCH/push-vda.qcow2"
virsh backup-begin "$RUN" "$SCRATCH/push.xml" >/dev/null
wait_for_no_job "$RUN"
capture virsh/domjobinfo--completed--rawstats-after-push-backup.txt -- virsh domjobinfo "$RUN" --completed --rawstats
capture virsh/domjobinfo--rawstats-no-job.txt -- virsh domjobinfo "$RUN" --rawstats
note "\`domjobinfo--completed--rawstats-after-push-backup.txt\`: the same push backup again; \`Job type: 3\` is VIR_DOMAIN_JOB_COMPLETED, read by the push engine."

# --- error texts ----------------------------------------------------------------------------------
capture virsh/dumpxml-no-such-domain.stderr --stderr --expect-fail -- virsh dumpxml vmkeep-no-such-domain
capture virsh/checkpoint-delete-missing.stderr --stderr --expect-fail -- \
  virsh checkpoint-delete "$RUN" virtnbdbackup.99
capture virsh/checkpoint-dumpxml-missing.stderr --stderr --expect-fail -- \
  virsh checkpoint-dumpxml "$RUN" virtnbdbackup.99
capture virsh/domjobinfo-shutoff.stderr --stderr --expect-fail -- virsh domjobinfo "$OFF"

# --- shut off: bitmaps land in the image file --------------------------------------------------
virsh destroy "$RUN" >/dev/null
capture virsh/checkpoint-dumpxml--size-shutoff.stderr --stderr --expect-fail -- \
  virsh checkpoint-dumpxml "$RUN" virtnbdbackup.0 --size
capture virsh/checkpoint-list--name-shutoff.txt -- virsh checkpoint-list "$RUN" --name
capture virsh/dumpxml-shutoff-2-checkpoints.xml -- virsh dumpxml "$RUN"
capture qemu-img/info-2-bitmaps.json -- qemu-img info --output=json --force-share "$RUN_VDA"
capture qemu-img/info-2-bitmaps-path-with-space.json -- qemu-img info --output=json --force-share "$RUN_VDB"
capture qemu-img/info-no-bitmaps.json -- qemu-img info --output=json --force-share "$SCRATCH/off.qcow2"
capture qemu-img/info-raw.json -- qemu-img info --output=json --force-share "$SCRATCH/dev-raw.img"
capture qemu-img/check-good.json -- qemu-img check --output=json "$RUN_VDA"
capture qemu-img/bitmap--remove.txt -- qemu-img bitmap --remove "$RUN_VDA" virtnbdbackup.1
capture qemu-img/info-1-bitmap-after-remove.json -- qemu-img info --output=json --force-share "$RUN_VDA"
note "\`qemu-img/info-2-bitmaps.json\` and \`info-2-bitmaps-path-with-space.json\` (vdb) were read after \`virsh destroy $RUN\` (QEMU, ended by SIGTERM, wrote its persistent bitmaps out); \`info-1-bitmap-after-remove.json\` after \`qemu-img bitmap --remove\` of virtnbdbackup.1 on that image."

# --- README section -------------------------------------------------------------------------------
write_readme() {
  local begin='<!-- BEGIN scripts/capture-fixtures.sh: generated, do not edit by hand -->'
  local end='<!-- END scripts/capture-fixtures.sh -->'
  local section line
  section=$(
    printf '%s\n' "$begin"
    printf '## virsh, QMP, qemu-img and versions (scripts/capture-fixtures.sh)\n\n'
    printf 'Captured %s on Debian %s, libvirt %s, %s, virtnbdbackup %s, domain type %s.\n' \
      "$(date -u +%Y-%m-%d)" "$(cat /etc/debian_version)" "$(virsh --version)" \
      "$(qemu-img --version | head -n 1)" "$(virtnbdbackup --version)" \
      "$(sed -n "s/.*<domain type='\([a-z]*\)'.*/\1/p" "$FIX/virsh/dumpxml--inactive-2-checkpoints.xml" | head -n 1)"
    printf 'Re-capture with `sudo scripts/capture-fixtures.sh` (about a minute). Scratch domains:\n'
    printf '`%s` (running, vda `%s`, vdb `%s`), `%s` (paused), `%s` (never started), `%s`, `%s`.\n' \
      "$RUN" "$RUN_VDA" "$RUN_VDB" "$PAUSED" "$OFF" "$DEVICES" "$REMOTE"
    printf 'The stream column says whether the file holds the stdout or the stderr of the command.\n\n'
    printf '| file | command | stream | exit |\n|---|---|---|---|\n'
    for line in "${MANIFEST[@]}"; do printf '%s\n' "$line"; done
    printf '\nNotes:\n\n'
    for line in "${NOTES[@]}"; do printf -- '- %s\n' "$line"; done
    printf '%s\n' "$end"
  )
  if [[ ! -f $README ]]; then
    printf '# Fixtures\n\nReal outputs captured from real runs; never edited by hand, never invented.\n\n' >"$README"
  fi
  local tmp
  tmp=$(mktemp)
  if grep -qF "$begin" "$README"; then
    # ENVIRON, not -v: awk would interpret the backslashes in the quoted commands.
    SECTION=$section BEGIN_MARK=$begin END_MARK=$end awk '
      $0 == ENVIRON["BEGIN_MARK"] { print ENVIRON["SECTION"]; skip = 1; next }
      $0 == ENVIRON["END_MARK"] { skip = 0; next }
      !skip { print }' "$README" >"$tmp"
  else
    { cat "$README"; printf '\n%s\n' "$section"; } >"$tmp"
  fi
  mv "$tmp" "$README"
  chmod 644 "$README"
}
write_readme
say "done: ${#MANIFEST[@]} files; $README updated"
