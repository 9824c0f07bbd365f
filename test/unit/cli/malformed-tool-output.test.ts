/**
 * Bad input from the tools themselves: malformed domain XML, checkpoint XML, QMP JSON and
 * qemu-img JSON, each cut or bent from an output recorded on a real host (fixtures/). The CLI runs
 * in-process on a runner that answers every call from those recordings except the one under test.
 * Each case asserts the exit code and the first line of what the user reads, that the line names
 * the domain, and that no stack trace reaches the user.
 */
import { describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli/main.js';
import { ToolError } from '../../../src/errors.js';
import type { RunOptions, RunResult, Runner } from '../../../src/runner/runner.js';
import { fixture } from '../../helpers/fixtures.js';

const DOMAIN = 'vmkeep-scratch-fixtures-run';
const NO_METADATA = fixture('virsh/metadata-none.stderr');

/** What the reader asks, keyed by the command word (qemu-img: 'info'), answered from recordings. */
const RECORDED: Record<string, string> = {
  list: fixture('virsh/list--all--uuid--name.txt'),
  domstate: fixture('virsh/domstate-running.txt'),
  'checkpoint-list': fixture('virsh/checkpoint-list--name--topological.txt'),
  dumpxml: fixture('virsh/dumpxml-running-2-checkpoints.xml'),
  // Each checkpoint answers with its own recorded XML (see checkpointXml below).
  'checkpoint-dumpxml': '',
  'qemu-monitor-command': fixture('qmp/query-named-block-nodes-2-checkpoints.json'),
  domjobinfo: fixture('virsh/domjobinfo-no-job.txt'),
  info: fixture('qemu-img/info-running-domain-disk.json'),
};

/** The recorded XML of the checkpoint asked for (virtnbdbackup.1 with --size, as status asks it). */
function checkpointXml(argv: readonly string[]): string {
  const name = argv[argv.indexOf('--checkpointname') + 1];
  return name === 'virtnbdbackup.0'
    ? fixture('virsh/checkpoint-dumpxml-virtnbdbackup.0.xml')
    : fixture('virsh/checkpoint-dumpxml-virtnbdbackup.1--size--no-domain.xml');
}

function runnerWith(overrides: Record<string, string>): Runner {
  return {
    async run(tool: string, argv: readonly string[], _o?: RunOptions): Promise<RunResult> {
      const word = tool === 'qemu-img' ? argv[0]! : argv[2]!;
      if (word === 'metadata') throw new ToolError({ tool, argv, exitCode: 1, stderr: NO_METADATA });
      // The recorded domain has no guest agent channel: libvirt refuses the freeze-status question.
      if (word === 'qemu-agent-command')
        throw new ToolError({ tool, argv, exitCode: 1, stderr: fixture('virsh/qemu-agent-command-fsfreeze-status-no-agent.stderr') });
      const stdout = overrides[word] ?? (word === 'checkpoint-dumpxml' ? checkpointXml(argv) : RECORDED[word]);
      if (stdout === undefined) throw new Error(`unexpected call ${tool} ${argv.join(' ')}`);
      return { stdout, stderr: '', exitCode: 0 };
    },
  };
}

async function status(overrides: Record<string, string>, json = false) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env: {}, interactive: false, runner: runnerWith(overrides) };
  const code = await main(['status', '--domains', DOMAIN, ...(json ? ['--json'] : [])], io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

const cut = (text: string, at: number) => text.slice(0, at);
const xml = RECORDED['dumpxml']!;
const cpXml = fixture('virsh/checkpoint-dumpxml-virtnbdbackup.0.xml');
const qmp = RECORDED['qemu-monitor-command']!;
const info = RECORDED['info']!;
const SHUT_OFF = fixture('virsh/domstate-shutoff.txt');

/** [what, the replaced answer, the first line of status's text for the domain]. */
const CASES: Array<[string, Record<string, string>, RegExp]> = [
  [
    'domain XML cut short',
    { dumpxml: cut(xml, 300) },
    /^vmkeep-scratch-fixtures-run: error: domain XML from libvirt is not well-formed \(line \d+, column \d+: .+\)$/,
  ],
  [
    'domain XML that is not XML',
    { dumpxml: 'Segmentation fault\n' },
    /^vmkeep-scratch-fixtures-run: error: (domain XML from libvirt is not well-formed|not a libvirt domain XML document)/,
  ],
  [
    'domain XML of another kind of object',
    { dumpxml: '<network><name>default</name></network>\n' },
    /^vmkeep-scratch-fixtures-run: error: not a libvirt domain XML document \(no <domain> element\)$/,
  ],
  [
    'checkpoint XML cut short',
    { 'checkpoint-dumpxml': cut(cpXml, 120) },
    /^vmkeep-scratch-fixtures-run: error: checkpoint XML from libvirt is not well-formed \(line \d+, column \d+: .+\)$/,
  ],
  [
    'checkpoint XML without a name',
    { 'checkpoint-dumpxml': cpXml.replace(/<name>[^<]*<\/name>/, '') },
    /^vmkeep-scratch-fixtures-run: error: checkpoint XML has no <name>$/,
  ],
  ['QMP reply that is not JSON', { 'qemu-monitor-command': cut(qmp, 50) }, /^vmkeep-scratch-fixtures-run {2}\(running\) {2}INCONSISTENT$/],
  [
    'QMP reply with an error',
    { 'qemu-monitor-command': '{"id":"libvirt-1","error":{"class":"GenericError","desc":"boom"}}\n' },
    /^vmkeep-scratch-fixtures-run {2}\(running\) {2}INCONSISTENT$/,
  ],
  [
    'QMP reply whose return is not a list',
    { 'qemu-monitor-command': '{"return":{"node-name":"x"},"id":"libvirt-1"}\n' },
    /^vmkeep-scratch-fixtures-run {2}\(running\) {2}INCONSISTENT$/,
  ],
  // A shut-off domain's sizes and bitmaps come from qemu-img (a running one's from QEMU).
  ['qemu-img JSON cut short', { domstate: SHUT_OFF, info: cut(info, 40) }, /^vmkeep-scratch-fixtures-run {2}\(shut off\) {2}INCONSISTENT$/],
  [
    'qemu-img JSON with wrong types',
    { domstate: SHUT_OFF, info: info.replace(/"virtual-size": \d+/, '"virtual-size": "big"') },
    /^vmkeep-scratch-fixtures-run {2}\(shut off\) {2}INCONSISTENT$/,
  ],
  ['a domain state virsh never prints', { domstate: 'exploded\n' }, /^vmkeep-scratch-fixtures-run {2}\(other\) {2}INCONSISTENT$/],
];

describe('status on malformed tool output', () => {
  for (const [what, overrides, firstLine] of CASES) {
    it(`${what}: one clear line naming the domain, exit 1, no stack trace`, async () => {
      const r = await status(overrides);
      const first = r.stdout.split('\n')[0] ?? '';
      expect(first).toMatch(firstLine);
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)|^\s+at /m);
      expect(r.stderr).not.toMatch(/TypeError|ReferenceError|Cannot read prop/);
      // A domain whose checkpoints or bitmaps could not be read is never reported as all well.
      expect(r.code).toBe(1);
      if (overrides['info']) expect(r.stdout).toMatch(/\n {4}error: qemu-img info (output is not JSON|gave virtual-size "big", not a size in bytes)/);
    });
  }

  it('the JSON document marks the domain unreadable or inconsistent, never consistent, when its XML is broken', async () => {
    const r = await status({ dumpxml: cut(xml, 300) }, true);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as Record<string, { overallStatus: number; error?: string }>;
    expect(doc[DOMAIN]!.overallStatus).toBe(1);
    expect(doc[DOMAIN]!.error).toMatch(/./);
  });
});
