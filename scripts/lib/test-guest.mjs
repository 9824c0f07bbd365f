// The booting test guest's domain definition and journal rules, in one place for the test
// helpers (test/helpers/guest.ts imports this module), the demo and the benchmarks (shell
// scripts run it as a command). The image itself is built by scripts/build-test-guest.sh.
//
//   node scripts/lib/test-guest.mjs domain-xml --name N --disk IMAGE --serial-log FILE [--uuid U] [--memory MIB] [--type qemu|kvm] [--vnc] [--no-agent]
//       print the domain XML (define it with virsh define)
//   node scripts/lib/test-guest.mjs check-journal FILE
//       check every journal line; prints "N lines, every checksum valid", exit 1 on a bad or torn line
//   node scripts/lib/test-guest.mjs exec URI DOMAIN PROGRAM [ARG...]
//       run PROGRAM in the running guest through its agent (guest-exec); prints its stdout, exits with its code
//
// No shell runs anywhere here: virsh is called with argument lists.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** The line the guest prints on its serial console once /data is mounted and qemu-ga runs. */
export const GUEST_READY_MARKER = 'VMKEEP-TEST-GUEST-READY';
/** The journal inside the running guest. */
export const GUEST_JOURNAL_PATH = '/data/journal.log';
/** The journal's path inside the ext4 partition (what a mount of a restored image shows). */
export const PARTITION_JOURNAL_PATH = 'journal.log';
/** The data partition starts at sector 2048. */
export const GUEST_PARTITION_OFFSET = 1024 * 1024;
export const GUEST_DISK_MIB = 64;

/** Text safe inside an XML attribute or element. */
export function escapeXml(text) {
  return text.replace(/[&<>'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The guest's domain XML: one virtio qcow2 disk, the serial console to a file the host reads,
 * the guest agent's channel (unless agentChannel is false), VNC on 127.0.0.1 with a VGA device
 * when vnc is set, and no network. Type `qemu` (TCG) unless told: an unmodified kernel does not
 * boot under a PVM /dev/kvm.
 */
export function guestDomainXml(d) {
  const channel =
    d.agentChannel === false
      ? ''
      : `    <channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>\n`;
  const display = d.vnc
    ? `    <graphics type='vnc' listen='127.0.0.1' autoport='yes'/>
    <video><model type='vga'/></video>\n`
    : '';
  const uuid = d.uuid ? `  <uuid>${escapeXml(d.uuid)}</uuid>\n` : '';
  const metadata = d.metadata ? `  <metadata>\n    ${d.metadata}\n  </metadata>\n` : '';
  // append='on' keeps earlier boots' lines in the log. ACPI lets a poweroff in the guest end the
  // domain instead of halting its CPU.
  return `<domain type='${d.type ?? 'qemu'}'>
  <name>${escapeXml(d.name)}</name>
${uuid}${metadata}  <memory unit='MiB'>${d.memoryMiB ?? 192}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
  </features>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${escapeXml(d.diskPath)}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='${escapeXml(d.serialLog)}' append='on'/>
      <target port='0'/>
    </serial>
${channel}${display}    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/**
 * Check every journal line ("SEQ BOOT UPTIME EPOCH PAYLOAD MD5"): its MD5 over the line before
 * its last space, and that SEQ is the line's place in the file.
 */
export function checkJournal(text) {
  const parts = text.split('\n');
  const tail = parts.pop() ?? '';
  const errors = [];
  const valid = [];
  parts.forEach((line, index) => {
    const cut = line.lastIndexOf(' ');
    const body = cut > 0 ? line.slice(0, cut) : '';
    const sum = cut > 0 ? line.slice(cut + 1) : '';
    const fields = body.split(' ');
    const expected = index + 1;
    if (createHash('md5').update(body).digest('hex') !== sum) {
      errors.push(`line ${expected}: checksum mismatch: ${JSON.stringify(line.slice(0, 120))}`);
      return;
    }
    const seq = Number(fields[0]);
    if (seq !== expected) {
      errors.push(`line ${expected}: numbered ${fields[0]}`);
      return;
    }
    valid.push({ seq, boot: fields[1] ?? '', uptime: Number(fields[2]), epoch: Number(fields[3]) });
  });
  return { lines: parts.length, valid, errors, tornLastLine: tail !== '' };
}

function agentCommand(uri, domain, request) {
  const stdout = execFileSync('virsh', ['-c', uri, 'qemu-agent-command', domain, '--timeout', '10', JSON.stringify(request)], { encoding: 'utf8' });
  return JSON.parse(stdout).return;
}

/** guest-exec, then guest-exec-status until it exits (30 s at most). */
function execInGuest(uri, domain, program, args) {
  const { pid } = agentCommand(uri, domain, { execute: 'guest-exec', arguments: { path: program, arg: args, 'capture-output': true } });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = agentCommand(uri, domain, { execute: 'guest-exec-status', arguments: { pid } });
    if (status.exited) {
      return {
        exitCode: status.exitcode ?? 128 + (status.signal ?? 0),
        stdout: Buffer.from(status['out-data'] ?? '', 'base64').toString('utf8'),
        stderr: Buffer.from(status['err-data'] ?? '', 'base64').toString('utf8'),
      };
    }
    if (Date.now() >= deadline) throw new Error(`${program} in guest ${domain} did not finish in 30 s`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}

function parseFlags(argv) {
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--vnc' || a === '--no-agent') flags[a.slice(2)] = true;
    else if (a.startsWith('--') && i + 1 < argv.length) flags[a.slice(2)] = argv[++i];
    else throw new Error(`unexpected argument ${JSON.stringify(a)}`);
  }
  return flags;
}

function main(argv) {
  const [command, ...rest] = argv;
  if (command === 'domain-xml') {
    const f = parseFlags(rest);
    if (!f.name || !f.disk || !f['serial-log']) throw new Error('domain-xml needs --name, --disk and --serial-log');
    if (f.type !== undefined && f.type !== 'qemu' && f.type !== 'kvm') throw new Error('--type is qemu or kvm');
    process.stdout.write(
      guestDomainXml({
        name: f.name,
        uuid: f.uuid,
        diskPath: f.disk,
        serialLog: f['serial-log'],
        memoryMiB: f.memory === undefined ? undefined : Number(f.memory),
        type: f.type,
        vnc: f.vnc === true,
        agentChannel: f['no-agent'] !== true,
      }),
    );
    return 0;
  }
  if (command === 'check-journal' && rest.length === 1) {
    const check = checkJournal(readFileSync(rest[0], 'utf8'));
    for (const e of check.errors.slice(0, 5)) process.stderr.write(`${e}\n`);
    if (check.tornLastLine) process.stderr.write('the last line is torn (no newline)\n');
    if (check.errors.length > 0 || check.tornLastLine || check.lines === 0) return 1;
    process.stdout.write(`${check.lines} lines, every checksum valid\n`);
    return 0;
  }
  if (command === 'exec' && rest.length >= 3) {
    const [uri, domain, program, ...args] = rest;
    const r = execInGuest(uri, domain, program, args);
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    return r.exitCode;
  }
  throw new Error('usage: test-guest.mjs domain-xml ... | check-journal FILE | exec URI DOMAIN PROGRAM [ARG...]');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`test-guest: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
