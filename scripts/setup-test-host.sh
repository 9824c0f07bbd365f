#!/usr/bin/env bash
# Make a fresh Debian 12 machine a KVM test host for vmkeep's integration tests.
#
# Idempotent and non-interactive; run as root. Installs only missing packages, starts virtlogd
# and libvirtd only where nothing runs them yet (containers and CI machines without systemd),
# never stops or restarts a running daemon, and gives QEMU (user libvirt-qemu, group kvm) access
# to /dev/kvm the way udev does on a normal host.
set -euo pipefail

# e2fsprogs (mkfs.ext4) and mount (losetup, mount) for vmkeep mount and its tests; qemu-storage-daemon
# comes with qemu-system-x86 (package qemu-system-common). restic, rclone, openssh-server:
# replication and remote-host tests (a private sshd on 127.0.0.1, `rclone serve restic`); rsync:
# the replicate benchmark baseline. fdisk (sfdisk), cpio, kmod (depmod, modprobe), gzip: building the
# booting test guest (scripts/build-test-guest.sh). chromium and fonts-dejavu-core: the HTML report's browser tests.
readonly PACKAGES=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils virtnbdbackup e2fsprogs mount restic rclone openssh-server rsync fdisk cpio kmod gzip chromium fonts-dejavu-core)
readonly URI='qemu:///system'
readonly WAIT_SECONDS="${VMKEEP_LIBVIRT_WAIT_SECONDS:-30}"

say() { printf 'setup-test-host: %s\n' "$*"; }
die() {
  printf 'setup-test-host: error: %s\n' "$*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts libvirtd)"

# --- packages -------------------------------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  say "packages: installed ${missing[*]}"
else
  say "packages: all present (${PACKAGES[*]})"
fi

# --- test-only tools ------------------------------------------------------------------------
# promtool (Debian package prometheus) checks the metrics textfile. The package is large and
# ships a server: no recommends, and no service start during the install (a policy-rc.d that
# refuses starts is put in place only when the machine has none, and removed after).
if ! command -v promtool >/dev/null 2>&1; then
  say "installing prometheus (for promtool)"
  export DEBIAN_FRONTEND=noninteractive
  own_policy=''
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends prometheus >/dev/null || install_failed=1
  [[ -n $own_policy ]] && rm -f /usr/sbin/policy-rc.d
  [[ -z ${install_failed:-} ]] || die "apt-get install prometheus failed"
  say "promtool: installed ($(promtool --version 2>&1 | head -n 1))"
else
  say "promtool: present"
fi
# systemd-analyze checks the shipped unit files; installing the package starts nothing where
# systemd is not PID 1. util-linux `logger` (syslog tests) is in every Debian base system.
if ! command -v systemd-analyze >/dev/null 2>&1; then
  say "installing systemd (for systemd-analyze)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd >/dev/null || die "apt-get install systemd failed"
fi

# --- daemons --------------------------------------------------------------------------------
# Prints the pid of a running daemon named $1 (from its pid file, else by exact name), or nothing.
running_pid() {
  local name=$1 pidfile="/run/$1.pid" pid=''
  if [[ -r $pidfile ]]; then
    pid=$(tr -dc '0-9' <"$pidfile")
    if [[ -n $pid && -r /proc/$pid/comm && $(</proc/"$pid"/comm) == "$name" ]]; then
      printf '%s' "$pid"
      return
    fi
  fi
  # A daemon started with another pid file location still counts: never start a second one.
  pgrep -x -o "$name" 2>/dev/null || true
}

# Starts daemon $1 unless it runs already; an init system, where present, does the starting.
ensure_daemon() {
  local name=$1 pid
  pid=$(running_pid "$name")
  if [[ -n $pid ]]; then
    say "$name: already running (pid $pid)"
    return
  fi
  if [[ -d /run/systemd/system ]]; then
    systemctl start "$name" || die "systemctl start $name failed"
    say "$name: started by systemctl"
    return
  fi
  "$name" -d || die "$name -d failed to start (see its log under /var/log/libvirt/)"
  # -d forks; the pid file appears once the child has taken its lock.
  for _ in $(seq 1 50); do
    pid=$(running_pid "$name")
    [[ -n $pid ]] && break
    sleep 0.1
  done
  [[ -n $pid ]] || die "$name -d returned but no $name process is running"
  say "$name: started by hand (pid $pid, no init system)"
}

# libvirtd hands QEMU's stdout/stderr to virtlogd: start it first.
ensure_daemon virtlogd
ensure_daemon libvirtd

deadline=$((SECONDS + WAIT_SECONDS + 1)) # SECONDS ticks in whole seconds
until version=$(timeout 10 virsh -c "$URI" version 2>&1); do
  if ((SECONDS >= deadline)); then
    die "libvirtd does not answer on $URI after ${WAIT_SECONDS}s: ${version##*$'\n'}"
  fi
  sleep 0.5
done
# "Running against daemon" (printed last, when virsh can ask) wins over "Using library".
libvirt_version=$(sed -n 's/^Running against daemon: *//p; s/^Using library: *//p' <<<"$version" | tail -n 1)
hypervisor=$(sed -n 's/^Running hypervisor: *//p' <<<"$version")
say "libvirt: $URI answers (${libvirt_version:-libvirt ?}, ${hypervisor:-hypervisor ?})"

# --- /dev/kvm -------------------------------------------------------------------------------
if [[ -c /dev/kvm ]]; then
  getent group kvm >/dev/null || die "/dev/kvm exists but there is no kvm group to give it to"
  before=$(stat -c 'group %G, mode %a' /dev/kvm)
  if [[ $before != 'group kvm, mode 660' ]]; then
    # Without udev the node stays 0600 root:root and QEMU (group kvm) cannot open it.
    chgrp kvm /dev/kvm
    chmod 660 /dev/kvm
    say "/dev/kvm: was $before; now group kvm, mode 660 (domains use type kvm)"
  else
    say "/dev/kvm: already group kvm, mode 660 (domains use type kvm)"
  fi
  if ! id -nG libvirt-qemu 2>/dev/null | tr ' ' '\n' | grep -qx kvm; then
    say "warning: user libvirt-qemu is not in group kvm; QEMU may still be denied /dev/kvm"
  fi
else
  say "/dev/kvm: missing; domains use type qemu (TCG: slower, same behaviour)"
fi

# --- booting test guest ---------------------------------------------------------------------
# Built from Debian's packages into the repo's git-ignored .cache/; a no-op while the build
# script is unchanged. apt-get download needs current package lists: the first build fetches them.
guest_script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/build-test-guest.sh"
if ! apt-cache depends linux-image-amd64 2>/dev/null | grep -q 'Depends: linux-image-[0-9]'; then
  apt-get update -q >/dev/null
fi
guest_image=$(bash "$guest_script") || die "building the test guest failed (scripts/build-test-guest.sh)"
say "test guest: $guest_image"
