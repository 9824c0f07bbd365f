# shellcheck shell=bash
# The throwaway domain the demo and the fixture capture scripts make: sourced, never run.
#
#   scratch_domain_type                  kvm where QEMU's group may open /dev/kvm, else qemu (TCG);
#                                        the same rule as test/helpers/libvirt.ts
#   scratch_define URI NAME XMLFILE TARGET=IMAGE... [-- EXTRA_XML]
#                                        write a domain with one qcow2 virtio disk per TARGET=IMAGE
#                                        (vda, vdb, ...; paths may hold spaces) and a console, plus
#                                        EXTRA_XML inside <devices>, to XMLFILE, and define it
#   scratch_guest_write URI NAME INDEX PATTERN OFFSET LENGTH
#                                        write PATTERN through the guest's INDEXth virtio disk
#                                        (libvirt names vda virtio-disk0) and flush: dirty bitmaps
#                                        track it exactly as a guest OS's writes
#   scratch_remove URI NAME              destroy and undefine the domain, if it is there
# Everything goes through virsh with argument lists; no string is run by a shell.

scratch_domain_type() {
  if [[ -c /dev/kvm && $(stat -c '%G %a' /dev/kvm) =~ ^kvm\ 66 ]]; then echo kvm; else echo qemu; fi
}

scratch_define() {
  local uri=$1 name=$2 xml=$3 extra='' disks='' spec
  shift 3
  while (($# > 0)); do
    if [[ $1 == -- ]]; then extra=$2; break; fi
    spec=$1
    disks+="    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${spec#*=}'/>
      <target dev='${spec%%=*}' bus='virtio'/>
    </disk>
"
    shift
  done
  cat >"$xml" <<XML
<domain type='$(scratch_domain_type)'>
  <name>$name</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
${disks}${extra:+    $extra
}    <console type='pty'/>
  </devices>
</domain>
XML
  virsh -c "$uri" define "$xml" >/dev/null
}

scratch_guest_write() {
  local uri=$1 name=$2 dev="/machine/peripheral/virtio-disk$3/virtio-backend"
  virsh -c "$uri" qemu-monitor-command "$name" --hmp "qemu-io -d $dev \"write -P $4 $5 $6\"" >/dev/null
  virsh -c "$uri" qemu-monitor-command "$name" --hmp "qemu-io -d $dev \"flush\"" >/dev/null
}

scratch_remove() {
  virsh -c "$1" destroy "$2" >/dev/null 2>&1 || true
  virsh -c "$1" undefine "$2" --checkpoints-metadata --nvram >/dev/null 2>&1 || true
}
