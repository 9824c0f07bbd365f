#!/usr/bin/env bash
# Capture fixtures/virsh/metadata-* from real `virsh metadata` runs on a scratch domain
# (vmkeep-scratch-issue9-tags, defined shut off, no disk), removed at the end. Root, no input.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FIX="$ROOT/fixtures/virsh"
URI='qemu:///system'
DOM='vmkeep-scratch-issue9-tags'
NS='https://vmkeep.dev/xmlns/tags/1'
virsh() { command virsh -c "$URI" "$@"; }
cleanup() { virsh undefine --domain "$DOM" >/dev/null 2>&1 || true; rm -f "/tmp/$DOM.xml"; }
trap cleanup EXIT
cleanup
cat >"/tmp/$DOM.xml" <<XML
<domain type='qemu'><name>$DOM</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>
XML
virsh define --file "/tmp/$DOM.xml" >/dev/null
# No vmkeep metadata yet: virsh exits 1 with this stderr.
virsh metadata --domain "$DOM" --uri "$NS" --config >/dev/null 2>"$FIX/metadata-none.stderr" && exit 1
virsh metadata --domain "$DOM" --uri "$NS" --key vmkeep --set '<tags><tag>db</tag><tag>prod</tag></tags>' --config >"$FIX/metadata--set.txt"
virsh metadata --domain "$DOM" --uri "$NS" --config >"$FIX/metadata-tags.xml"
virsh dumpxml --domain "$DOM" --inactive | sed -n '/<metadata>/,/<\/metadata>/p' >"$FIX/dumpxml-metadata-tags.xml"
echo "capture-tag-fixtures: wrote $FIX/metadata-*" >&2
