import { describe, expect, it } from 'vitest';
import { serialiseDocument } from '../../../src/cli/output.js';
import { createContext } from '../../../src/app/context.js';
import type { RunOptions, RunResult, Runner } from '../../../src/runner/runner.js';
import { runStatus, STATUS_CONCURRENCY } from '../../../src/status/run-status.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { fixture } from '../../helpers/fixtures.js';

const URI = 'qemu:///system';
const RUN_UUID = '00000000-0000-4000-8000-00000000f001';

function ctxWith(runner: Runner) {
  return createContext({
    runner,
    uri: URI,
    now: () => new Date('2026-11-22T12:00:00Z'),
    log: createMemoryLogger(),
    interactive: false,
    signal: new AbortController().signal,
  });
}

describe('runStatus with recorded outputs (exact argv)', () => {
  it('reports a running domain with two checkpoints: disks with sizes, both bitmaps from QEMU, overallStatus 0', async () => {
    const runner = new FakeRunner().expect({
      tool: 'virsh',
      argv: ['-c', URI, 'list', '--all', '--uuid', '--name'],
      result: { stdout: fixture('virsh/list--all--uuid--name.txt') },
    });
    // The state lists, read once for all domains, were recorded on another host state
    // (fixtures/status-reads): they do not name this domain, so its domstate is asked, as for a
    // domain in a state the lists do not cover.
    for (const s of ['running', 'paused', 'shutoff']) {
      runner.expect({
        tool: 'virsh',
        argv: ['-c', URI, 'list', '--all', '--uuid', `--state-${s}`],
        result: { stdout: fixture(`status-reads/running.list--state-${s}.txt`) },
      });
    }
    runner
      // Addressed by UUID from here on: virsh would read a numeric name as a domain id.
      // Tags (status shows them): this domain has none, which virsh reports as exit 1.
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'metadata', '--domain', RUN_UUID, '--uri', 'https://vmkeep.dev/xmlns/tags/1', '--config'],
        result: { exitCode: 1, stderr: fixture('virsh/metadata-none.stderr') },
      })
      .expect({ tool: 'virsh', argv: ['-c', URI, 'domstate', '--domain', RUN_UUID], result: { stdout: fixture('virsh/domstate-running.txt') } })
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'checkpoint-list', '--domain', RUN_UUID, '--name', '--topological'],
        result: { stdout: fixture('virsh/checkpoint-list--name--topological.txt') },
      })
      .expect({ tool: 'virsh', argv: ['-c', URI, 'dumpxml', '--domain', RUN_UUID], result: { stdout: fixture('virsh/dumpxml-running-2-checkpoints.xml') } })
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'checkpoint-dumpxml', '--domain', RUN_UUID, '--checkpointname', 'virtnbdbackup.0', '--no-domain'],
        result: { stdout: fixture('virsh/checkpoint-dumpxml-virtnbdbackup.0.xml') },
      })
      // Without --size: QEMU's block nodes give the bytes changed since it (the image has no
      // backing file), so libvirt's merge job is not run. That run recorded only the --size
      // dump of virtnbdbackup.1; libvirt formats the same XML without the size attributes
      // (test/unit/domain/changed-since-checkpoint.test.ts shows it on fixtures/status-reads/),
      // and the sizes come from the block nodes, whatever the answer says.
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'checkpoint-dumpxml', '--domain', RUN_UUID, '--checkpointname', 'virtnbdbackup.1', '--no-domain'],
        result: { stdout: fixture('virsh/checkpoint-dumpxml-virtnbdbackup.1--size--no-domain.xml') },
      })
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'qemu-monitor-command', '--domain', RUN_UUID, '--cmd', '{"execute":"query-named-block-nodes","arguments":{"flat":true}}'],
        result: { stdout: fixture('qmp/query-named-block-nodes-2-checkpoints.json') },
      });
    // No domjobinfo (status shows no job) and no guest agent question: this domain has no agent
    // channel, so libvirt's answer would be "not configured" (guestFrozen null).
    // No qemu-img for a running domain: QEMU's block nodes carry the image sizes too.
    const result = await runStatus(ctxWith(runner), { domains: ['vmkeep-scratch-fixtures-run'], output: undefined, colour: false });
    expect(runner.unmet()).toEqual([]);
    expect(result.outcome).toBe('ok');
    const doc = result.document as Record<string, { overallStatus: number; checkpoints: string[]; disks: Array<Record<string, unknown>> }>;
    const d = doc['vmkeep-scratch-fixtures-run']!;
    expect(d.overallStatus).toBe(0);
    expect((d as unknown as { tags: string[] }).tags).toEqual([]);
    expect(d.checkpoints).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
    expect(d.disks.map((x) => [x['disk'], x['virtualSize'], (x['bitmaps'] as string[]).slice().sort(), x['bitmapSource']])).toEqual([
      ['vda', 67108864, ['virtnbdbackup.0', 'virtnbdbackup.1'], 'qemu'],
      ['vdb', 33554432, ['virtnbdbackup.0', 'virtnbdbackup.1'], 'qemu'],
    ]);
    expect(d.disks[0]!['changedSinceLatestCheckpoint']).toBe(3145728);
    expect(JSON.parse(JSON.stringify(result.document))).toEqual(result.document);
    expect(result.text).toMatch(/vdb: qcow2 32 MiB virtual/);
    // Byte for byte what the status before the one-domain-reader rework printed (fixtures/README.md).
    // The golden files predate tags: tags added one field and one line.
    // The frozen-guest fields came later: no agent gives null and no warning.
    expect(d).toMatchObject({ guestFrozen: null, warnings: [] });
    const later = new Set(['tags', 'guestFrozen', 'warnings']);
    const withoutTags = Object.fromEntries(
      Object.entries(result.document as Record<string, Record<string, unknown>>).map(([k, v]) => [
        k,
        Object.fromEntries(Object.entries(v).filter(([f]) => !later.has(f))),
      ]),
    );
    expect(`${JSON.stringify(withoutTags, null, 2)}\n`).toBe(fixture('status/golden-running-2-checkpoints.json'));
    // Two lines were added since: the domain's tags, and VMSnap's "Overall status" line (scripts grep it).
    expect(result.text.replace('\n  Overall status: OK\n', '\n').replace('\n  tags: none\n', '\n')).toBe(fixture('status/golden-running-2-checkpoints.txt'));
    expect(result.text).toContain('(running)  consistent\n  Overall status: OK\n  tags: none\n');
    // --yaml and --yaml --pretty: byte for byte what vmkeep printed before it kept one YAML library.
    for (const [pretty, file] of [
      [false, 'status/golden-running-2-checkpoints.yaml'],
      [true, 'status/golden-running-2-checkpoints.pretty.yaml'],
    ] as const) {
      const yaml = await serialiseDocument(result.document, { format: 'yaml', machine: false, pretty });
      expect(yaml).toBe(fixture(file));
    }
  });

  it('reports an unknown name as unknown without running anything for it, and is partial', async () => {
    const runner = new FakeRunner().expect({
      tool: 'virsh',
      argv: ['-c', URI, 'list', '--all', '--uuid', '--name'],
      result: { stdout: fixture('virsh/list--all--uuid--name.txt') },
    });
    const result = await runStatus(ctxWith(runner), { domains: ['x;touch /tmp/canary;#'], output: undefined, colour: false });
    expect(result.outcome).toBe('partial');
    expect(result.document).toEqual({ 'x;touch /tmp/canary;#': { name: 'x;touch /tmp/canary;#', error: 'unknown domain', overallStatus: 1 } });
    expect(runner.calls.length).toBe(1);
  });
});

/** The three state lists status reads once, as recorded in fixtures/status-reads with the domain in `when`. */
function expectStateLists(runner: FakeRunner, when: 'running' | 'shutoff'): void {
  for (const s of ['running', 'paused', 'shutoff']) {
    runner.expect({
      tool: 'virsh',
      argv: ['-c', URI, 'list', '--all', '--uuid', `--state-${s}`],
      result: { stdout: fixture(`status-reads/${when}.list--state-${s}.txt`) },
    });
  }
}

/** The domain recorded in fixtures/status-reads (capture.sh there). */
const UUID = '00000000-0000-4000-8000-00000000d1c0';
const NAME = 'vmkeep-scratch-status-reads';
const dc = (file: string) => fixture(`status-reads/${file}`);

/** Both checkpoints dumped without --size, as recorded with the domain in `state`. */
function expectPlainDumps(runner: FakeRunner, state: string): void {
  for (const cp of ['virtnbdbackup.0', 'virtnbdbackup.1']) {
    runner.expect({
      tool: 'virsh',
      argv: ['-c', URI, 'checkpoint-dumpxml', '--domain', UUID, '--checkpointname', cp, '--no-domain'],
      result: { stdout: dc(`${state}.${cp}.xml`) },
    });
  }
}

describe('runStatus on a domain with a guest agent channel and an overlay (fixtures/status-reads)', () => {
  function runnerFor(c: 'two-checkpoints' | 'overlay'): FakeRunner {
    const runner = new FakeRunner()
      .expect({ tool: 'virsh', argv: ['-c', URI, 'list', '--all', '--uuid', '--name'], result: { stdout: dc('list--all--uuid--name.txt') } })
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'metadata', '--domain', UUID, '--uri', 'https://vmkeep.dev/xmlns/tags/1', '--config'],
        result: { exitCode: 1, stderr: fixture('virsh/metadata-none.stderr') },
      })
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'checkpoint-list', '--domain', UUID, '--name', '--topological'],
        result: { stdout: dc(`${c}.checkpoint-list.txt`) },
      })
      .expect({ tool: 'virsh', argv: ['-c', URI, 'dumpxml', '--domain', UUID], result: { stdout: dc(`${c}.dumpxml.xml`) } })
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'qemu-monitor-command', '--domain', UUID, '--cmd', '{"execute":"query-named-block-nodes","arguments":{"flat":true}}'],
        result: { stdout: dc(`${c}.nodes.json`) },
      })
      // The domain has an agent channel: the guest is asked whether it is frozen (no agent answers).
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'qemu-agent-command', '--domain', UUID, '--timeout', '5', '{"execute":"guest-fsfreeze-status"}'],
        result: { exitCode: 1, stderr: dc('agent-not-connected.stderr') },
      });
    expectPlainDumps(runner, c);
    // Listed as running, and its live definition has an id: no domstate.
    expectStateLists(runner, 'running');
    return runner;
  }

  it('takes the bytes changed since the newest checkpoint from the block nodes: what --size said', async () => {
    const runner = runnerFor('two-checkpoints');
    const result = await runStatus(ctxWith(runner), { domains: [NAME], output: undefined, colour: false });
    expect(runner.unmet()).toEqual([]);
    const d = (result.document as Record<string, { guestFrozen: unknown; disks: Array<{ disk: string; changedSinceLatestCheckpoint?: number }> }>)[NAME]!;
    // checkpoint-dumpxml --size said the same (two-checkpoints.virtnbdbackup.1--size.xml).
    expect(d.disks.map((x) => [x.disk, x.changedSinceLatestCheckpoint])).toEqual([
      ['vda', 2162688],
      ['vdb', 0],
    ]);
    expect(d.guestFrozen).toBeNull();
    expect(result.outcome).toBe('ok');
  });

  it("asks libvirt's --size where an overlay sits over the image: its figure merges both layers", async () => {
    const runner = runnerFor('overlay').expect({
      tool: 'virsh',
      argv: ['-c', URI, 'checkpoint-dumpxml', '--domain', UUID, '--checkpointname', 'virtnbdbackup.1', '--no-domain', '--size'],
      result: { stdout: dc('overlay.virtnbdbackup.1--size.xml') },
    });
    const result = await runStatus(ctxWith(runner), { domains: [NAME], output: undefined, colour: false });
    expect(runner.unmet()).toEqual([]);
    const d = (result.document as Record<string, { disks: Array<{ disk: string; changedSinceLatestCheckpoint?: number }> }>)[NAME]!;
    // Not the overlay's own 64 KiB.
    expect(d.disks.map((x) => [x.disk, x.changedSinceLatestCheckpoint])).toEqual([
      ['vda', 2228224],
      ['vdb', 0],
    ]);
  });
});

describe('runStatus and the state lists', () => {
  it('asks domstate when the definition disagrees with the list (the domain started between the two)', async () => {
    // Listed shut off, but the definition read after it is a live one (it has an id).
    const runner = new FakeRunner()
      .expect({ tool: 'virsh', argv: ['-c', URI, 'list', '--all', '--uuid', '--name'], result: { stdout: dc('list--all--uuid--name.txt') } })
      .expect({ tool: 'virsh', argv: ['-c', URI, 'dumpxml', '--domain', UUID], result: { stdout: dc('two-checkpoints.dumpxml.xml') } })
      .expect({ tool: 'virsh', argv: ['-c', URI, 'domstate', '--domain', UUID], result: { stdout: fixture('virsh/domstate-running.txt') } })
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'checkpoint-list', '--domain', UUID, '--name', '--topological'],
        result: { stdout: dc('two-checkpoints.checkpoint-list.txt') },
      })
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'qemu-monitor-command', '--domain', UUID, '--cmd', '{"execute":"query-named-block-nodes","arguments":{"flat":true}}'],
        result: { stdout: dc('two-checkpoints.nodes.json') },
      })
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'metadata', '--domain', UUID, '--uri', 'https://vmkeep.dev/xmlns/tags/1', '--config'],
        result: { exitCode: 1, stderr: fixture('virsh/metadata-none.stderr') },
      })
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'qemu-agent-command', '--domain', UUID, '--timeout', '5', '{"execute":"guest-fsfreeze-status"}'],
        result: { exitCode: 1, stderr: dc('agent-not-connected.stderr') },
      });
    expectPlainDumps(runner, 'two-checkpoints');
    expectStateLists(runner, 'shutoff');
    const result = await runStatus(ctxWith(runner), { domains: [NAME], output: undefined, colour: false });
    expect(runner.unmet()).toEqual([]);
    const d = (result.document as Record<string, { state: string; disks: Array<{ bitmapSource: string }> }>)[NAME]!;
    // Read as the running domain it is now: bitmaps from QEMU, not from the image files.
    expect(d.state).toBe('running');
    expect(d.disks.map((x) => x.bitmapSource)).toEqual(['qemu', 'qemu']);
  });
});

describe('runStatus and tags', () => {
  function shutOffRunner(): FakeRunner {
    const runner = new FakeRunner()
      .expect({ tool: 'virsh', argv: ['-c', URI, 'list', '--all', '--uuid', '--name'], result: { stdout: dc('list--all--uuid--name.txt') } })
      .expect({
        tool: 'virsh',
        argv: ['-c', URI, 'checkpoint-list', '--domain', UUID, '--name', '--topological'],
        result: { stdout: dc('shutoff.checkpoint-list.txt') },
      })
      .expect({ tool: 'virsh', argv: ['-c', URI, 'dumpxml', '--domain', UUID], result: { stdout: dc('shutoff.dumpxml.xml') } })
      .expect({
        tool: 'qemu-img',
        argv: ['info', '--output=json', '--force-share', '/var/tmp/vmkeep-scratch-status-reads/vda.overlay.qcow2'],
        result: { stdout: dc('shutoff.vda.info.json') },
      })
      .expect({
        tool: 'qemu-img',
        argv: ['info', '--output=json', '--force-share', '/var/tmp/vmkeep-scratch-status-reads/data disk.qcow2'],
        result: { stdout: dc('shutoff.vdb.info.json') },
      });
    expectPlainDumps(runner, 'shutoff');
    expectStateLists(runner, 'shutoff');
    return runner;
  }

  it("takes a shut-off domain's tags from the definition it reads anyway: no metadata command", async () => {
    const runner = shutOffRunner();
    const result = await runStatus(ctxWith(runner), { domains: [NAME], output: undefined, colour: false });
    expect(runner.unmet()).toEqual([]);
    const d = (result.document as Record<string, { tags: string[]; state: string; overallStatus: number }>)[NAME]!;
    // What virsh metadata --config printed for it (status-reads/shutoff.metadata.xml).
    expect(d.tags).toEqual(['db', 'prod']);
    expect(d.state).toBe('shut off');
    expect(result.text).toContain('tags: db, prod');
  });

  it('with --tag, reads the tags once, to select, and not again with the status', async () => {
    const runner = shutOffRunner().expect({
      tool: 'virsh',
      argv: ['-c', URI, 'metadata', '--domain', UUID, '--uri', 'https://vmkeep.dev/xmlns/tags/1', '--config'],
      result: { stdout: dc('shutoff.metadata.xml') },
    });
    const selection = { domains: undefined, tags: ['prod'], tagAny: false, exclude: [] };
    const result = await runStatus(ctxWith(runner), { domains: undefined, selection, output: undefined, colour: false });
    expect(runner.unmet()).toEqual([]);
    expect(runner.calls.filter((c) => c.argv.includes('metadata'))).toHaveLength(1);
    expect((result.document as Record<string, { tags: string[] }>)[NAME]!.tags).toEqual(['db', 'prod']);
  });
});

describe('runStatus concurrency', () => {
  it(`queries many domains at once, but never more than ${STATUS_CONCURRENCY}`, async () => {
    const names = Array.from({ length: 30 }, (_, i) => `dom-${i}`);
    let inFlight = 0;
    let maxInFlight = 0;
    const xml = (n: string) => `<domain type='kvm'><name>${n}</name><devices></devices></domain>`;
    const runner: Runner = {
      async run(tool: string, argv: readonly string[], _o?: RunOptions): Promise<RunResult> {
        if (argv.includes('list'))
          return { stdout: names.map((n, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')} ${n}\n`).join(''), stderr: '', exitCode: 0 };
        if (argv.includes('domstate')) {
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await new Promise((r) => setTimeout(r, 5));
          inFlight -= 1;
          return { stdout: 'shut off\n', stderr: '', exitCode: 0 };
        }
        if (argv.includes('checkpoint-list')) return { stdout: '\n', stderr: '', exitCode: 0 };
        if (argv.includes('metadata')) return { stdout: fixture('virsh/metadata-tags.xml'), stderr: '', exitCode: 0 };
        if (argv.includes('dumpxml')) {
          const uuid = argv[argv.indexOf('--domain') + 1]!;
          return { stdout: xml(names[Number(uuid.slice(-12))]!), stderr: '', exitCode: 0 };
        }
        throw new Error(`unexpected ${tool} ${argv.join(' ')}`);
      },
    };
    const result = await runStatus(ctxWith(runner), { domains: undefined, output: undefined, colour: false });
    expect(Object.keys(result.document as object)).toEqual(names);
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(STATUS_CONCURRENCY);
  });
});
