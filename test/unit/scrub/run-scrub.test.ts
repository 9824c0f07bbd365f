/**
 * The scrub executor against a FakeRunner replaying outputs captured from real runs
 * (fixtures/scrub, see its README): exact argv, call order, and the re-read deciding the outcome.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createContext, type AppContext } from '../../../src/app/context.js';
import { runScrub, type ScrubDocument, type ScrubOptions } from '../../../src/scrub/index.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner, type RecordedCall } from '../../helpers/fake-runner.js';

const URI = 'qemu:///system';
const DOM = 'vmkeep-scratch-scrub-fx';
const IMG = '/var/tmp/vmkeep-scratch-scrub/fx/vda.qcow2';
const NODE = 'libvirt-1-format';

const fx = (path: string) => readFileSync(new URL(`../../../fixtures/scrub/${path}`, import.meta.url), 'utf8');
const virsh = (...argv: string[]) => ['-c', URI, ...argv];
const qmpArgv = (domain: string, body: object) => virsh('qemu-monitor-command', '--domain', domain, '--cmd', JSON.stringify(body));
const nodesArgv = (domain: string) => qmpArgv(domain, { execute: 'query-named-block-nodes', arguments: { flat: true } });
const deleteArgv = (name: string, metadata = false) =>
  virsh('checkpoint-delete', '--domain', DOM, '--checkpointname', name, ...(metadata ? ['--metadata'] : []));
const removeQmpArgv = (name: string) => qmpArgv(DOM, { execute: 'block-dirty-bitmap-remove', arguments: { node: NODE, name } });
const removeImgArgv = (name: string) => ['bitmap', '--remove', '--', IMG, name];

type Expected = { tool: string; argv: string[]; stdout?: string; fail?: string };

/** The calls readScrubState makes, answered from one captured state directory. */
function readCalls(dir: string, live: boolean): Expected[] {
  const names = fx(`${dir}/checkpoint-list.txt`).split('\n').filter(Boolean);
  return [
    { tool: 'virsh', argv: virsh('domstate', '--domain', DOM), stdout: fx(`${dir}/domstate.txt`) },
    ...(live ? [{ tool: 'virsh', argv: virsh('domjobinfo', '--domain', DOM), stdout: fx(`${dir}/domjobinfo.txt`) }] : []),
    { tool: 'virsh', argv: virsh('checkpoint-list', '--domain', DOM, '--name', '--topological'), stdout: fx(`${dir}/checkpoint-list.txt`) },
    ...names.map((n) => ({
      tool: 'virsh',
      argv: virsh('checkpoint-dumpxml', '--domain', DOM, '--checkpointname', n, '--no-domain'),
      stdout: fx(`${dir}/checkpoint-${n}.xml`),
    })),
    { tool: 'virsh', argv: virsh('dumpxml', '--domain', DOM), stdout: fx(`${dir}/dumpxml.xml`) },
    live
      ? { tool: 'virsh', argv: nodesArgv(DOM), stdout: fx(`${dir}/query-named-block-nodes.json`) }
      : { tool: 'qemu-img', argv: ['info', '--output=json', '--force-share', IMG], stdout: fx(`${dir}/qemu-img-info.json`) },
  ];
}

function setup(calls: Expected[]): { ctx: AppContext; runner: FakeRunner; log: ReturnType<typeof createMemoryLogger> } {
  const runner = new FakeRunner();
  for (const c of calls) {
    runner.expect({
      tool: c.tool,
      argv: c.argv,
      result: c.fail === undefined ? { stdout: c.stdout ?? '' } : { exitCode: 1, stderr: c.fail },
    });
  }
  const log = createMemoryLogger();
  const ctx = createContext({ runner, uri: URI, now: () => new Date(0), log, interactive: false, signal: new AbortController().signal });
  return { ctx, runner, log };
}

const options = (more: Partial<ScrubOptions>): ScrubOptions => ({ domains: [DOM], scrubType: '*', dryRun: false, force: false, ...more });
const callsOf = (calls: Expected[]): RecordedCall[] => calls.map((c) => ({ tool: c.tool, argv: c.argv }));

const READS = new Set(['domstate', 'domjobinfo', 'checkpoint-list', 'checkpoint-dumpxml', 'dumpxml']);
const isRead = (c: RecordedCall) =>
  (c.tool === 'virsh' && (READS.has(c.argv[2] ?? '') || (c.argv[2] === 'qemu-monitor-command' && c.argv.at(-1)!.includes('query-named-block-nodes')))) ||
  (c.tool === 'qemu-img' && c.argv[0] === 'info');

/**
 * The domain reader asks its questions concurrently, so their order within one read is free;
 * the order of reads and actions is not. Each run of consecutive reads is compared as a set.
 */
function inPhases(calls: readonly RecordedCall[]): Array<RecordedCall | string[]> {
  const out: Array<RecordedCall | string[]> = [];
  for (const c of calls) {
    const last = out.at(-1);
    if (isRead(c)) {
      if (Array.isArray(last)) last.push(JSON.stringify(c));
      else out.push([JSON.stringify(c)]);
    } else out.push(c);
  }
  return out.map((x) => (Array.isArray(x) ? x.sort() : x));
}

describe('runScrub on a running domain', () => {
  const actions: Expected[] = [
    { tool: 'virsh', argv: deleteArgv('virtnbdbackup.1'), stdout: fx('running/calls/checkpoint-delete-virtnbdbackup.1.txt') },
    { tool: 'virsh', argv: deleteArgv('virtnbdbackup.0'), stdout: fx('running/calls/checkpoint-delete-virtnbdbackup.0.txt') },
    { tool: 'virsh', argv: removeQmpArgv('virtnbdbackup.7'), stdout: fx('running/calls/qmp-remove-virtnbdbackup.7.json') },
  ];

  it("'*' deletes children first, removes the orphan through QMP, skips foreign names, and re-reads", async () => {
    const calls = [...readCalls('running/before', true), ...actions, ...readCalls('running/after', true)];
    const { ctx, runner, log } = setup(calls);
    const result = await runScrub(ctx, options({}));

    expect(inPhases(runner.calls)).toEqual(inPhases(callsOf(calls)));
    expect(runner.unmet()).toEqual([]);
    expect(result.outcome).toBe('ok');
    expect(result.document).toEqual({
      [DOM]: {
        state: 'running',
        dryRun: false,
        actions: [
          { action: 'skip-checkpoint', target: 'manual', reason: 'not a vmkeep-owned name (use --force)', done: false },
          {
            action: 'delete-checkpoint',
            target: 'virtnbdbackup.1',
            reason: 'libvirt deletes the checkpoint and removes its bitmap virtnbdbackup.1 on vda in QEMU',
            done: true,
          },
          {
            action: 'delete-checkpoint',
            target: 'virtnbdbackup.0',
            reason: 'libvirt deletes the checkpoint and removes its bitmap virtnbdbackup.0 on vda in QEMU',
            done: true,
          },
          // Orphans in the order QEMU lists them (newest first).
          { action: 'skip-bitmap', target: 'foreign', disk: 'vda', reason: 'not a vmkeep-owned name (use --force)', done: false },
          { action: 'remove-bitmap', target: 'virtnbdbackup.7', disk: 'vda', reason: 'no checkpoint refers to it', done: true },
        ],
        remaining: { checkpoints: ['manual'], bitmaps: { vda: ['foreign', 'manual'] } },
        ok: true,
      },
    } satisfies ScrubDocument);
    expect(result.text).toContain(`${DOM} (running): clean\n`);
    expect(result.text).toContain('  deleted checkpoint virtnbdbackup.1: libvirt deletes the checkpoint');
    expect(result.text).toContain('  removed bitmap virtnbdbackup.7 on vda: no checkpoint refers to it');
    expect(result.text).toContain('  skipped checkpoint manual: not a vmkeep-owned name (use --force)');
    expect(result.text).toContain('  left: checkpoints manual; bitmaps vda: foreign, manual');
    expect(result.text).toMatch(/scrub: 1 of 1 domain\(s\) clean\n$/);
    expect(log.lines).toContain(`${DOM}: delete checkpoint virtnbdbackup.1`);
  });

  it('the re-read decides: commands that exited 0 do not count while the items are still there', async () => {
    // The re-read answers with the state from before the run, as if every command had been a no-op.
    const calls = [...readCalls('running/before', true), ...actions, ...readCalls('running/before', true)];
    const { ctx, runner } = setup(calls);
    const result = await runScrub(ctx, options({}));

    expect(inPhases(runner.calls)).toEqual(inPhases(callsOf(calls)));
    expect(result.outcome).toBe('failure');
    const report = (result.document as ScrubDocument)[DOM]!;
    expect(report.ok).toBe(false);
    expect(report.error).toBe(
      'still there: checkpoint virtnbdbackup.1, checkpoint virtnbdbackup.0, bitmap virtnbdbackup.1 on vda, bitmap virtnbdbackup.0 on vda, bitmap virtnbdbackup.7 on vda',
    );
    expect(report.actions.map((a) => [a.target, a.done, a.error])).toEqual([
      ['manual', false, undefined],
      [
        'virtnbdbackup.1',
        false,
        'the command succeeded but the re-read shows: checkpoint virtnbdbackup.1 is still there; bitmap virtnbdbackup.1 is still on vda',
      ],
      [
        'virtnbdbackup.0',
        false,
        'the command succeeded but the re-read shows: checkpoint virtnbdbackup.0 is still there; bitmap virtnbdbackup.0 is still on vda',
      ],
      ['foreign', false, undefined],
      ['virtnbdbackup.7', false, 'the command succeeded but the re-read shows: bitmap virtnbdbackup.7 is still on vda'],
    ]);
    expect(result.text).toContain(`${DOM} (running): NOT CLEAN\n`);
    expect(result.text).toContain('  FAILED to remove bitmap virtnbdbackup.7 on vda: the command succeeded but the re-read shows');
  });

  it('drops only the metadata of a checkpoint whose bitmap is gone', async () => {
    const calls = [
      ...readCalls('running-lost-bitmap/before', true),
      { tool: 'virsh', argv: deleteArgv('virtnbdbackup.1'), stdout: fx('running-lost-bitmap/calls/checkpoint-delete-virtnbdbackup.1.txt') },
      {
        tool: 'virsh',
        argv: deleteArgv('virtnbdbackup.0', true),
        stdout: fx('running-lost-bitmap/calls/checkpoint-delete-virtnbdbackup.0-metadata.txt'),
      },
      ...readCalls('running-lost-bitmap/after', true),
    ];
    const { ctx, runner } = setup(calls);
    const result = await runScrub(ctx, options({ scrubType: 'checkpoint' }));

    expect(inPhases(runner.calls)).toEqual(inPhases(callsOf(calls)));
    expect(result.outcome).toBe('ok');
    const report = (result.document as ScrubDocument)[DOM]!;
    expect(report.actions.map((a) => [a.action, a.target, a.done])).toEqual([
      ['delete-checkpoint', 'virtnbdbackup.1', true],
      ['delete-checkpoint-metadata', 'virtnbdbackup.0', true],
    ]);
    expect(report.actions[1]!.reason).toBe('its bitmap virtnbdbackup.0 on vda is already gone, so a plain delete would fail: drop the metadata only');
    // --scrubType checkpoint leaves orphan bitmaps alone.
    expect(report.remaining).toEqual({ checkpoints: [], bitmaps: { vda: ['foreign'] } });
  });

  it('reports a failing libvirt call and still finishes the plan', async () => {
    const calls = [
      ...readCalls('running/before', true),
      { tool: 'virsh', argv: deleteArgv('virtnbdbackup.1'), fail: fx('running-lost-bitmap/calls/checkpoint-delete-virtnbdbackup.0.stderr.txt') },
      ...actions.slice(1),
      ...readCalls('running/before', true),
    ];
    const { ctx, runner } = setup(calls);
    const result = await runScrub(ctx, options({}));
    expect(inPhases(runner.calls)).toEqual(inPhases(callsOf(calls)));
    const report = (result.document as ScrubDocument)[DOM]!;
    expect(report.actions[1]).toMatchObject({
      action: 'delete-checkpoint',
      target: 'virtnbdbackup.1',
      done: false,
      error: expect.stringContaining("bitmap 'virtnbdbackup.0' not found in backing chain of 'vda'"),
    });
    expect(result.outcome).toBe('failure');
  });
});

describe('runScrub on a shut-off domain', () => {
  const plan: Expected[] = [
    { tool: 'virsh', argv: deleteArgv('manual', true), stdout: fx('shutoff/calls/checkpoint-delete-manual-metadata.txt') },
    { tool: 'qemu-img', argv: removeImgArgv('manual'), stdout: fx('shutoff/calls/qemu-img-bitmap-remove-manual.txt') },
    { tool: 'virsh', argv: deleteArgv('virtnbdbackup.1', true), stdout: fx('shutoff/calls/checkpoint-delete-virtnbdbackup.1-metadata.txt') },
    { tool: 'qemu-img', argv: removeImgArgv('virtnbdbackup.1'), stdout: fx('shutoff/calls/qemu-img-bitmap-remove-virtnbdbackup.1.txt') },
    { tool: 'virsh', argv: deleteArgv('virtnbdbackup.0', true), stdout: fx('shutoff/calls/checkpoint-delete-virtnbdbackup.0-metadata.txt') },
    { tool: 'qemu-img', argv: removeImgArgv('virtnbdbackup.0'), stdout: fx('shutoff/calls/qemu-img-bitmap-remove-virtnbdbackup.0.txt') },
    { tool: 'qemu-img', argv: removeImgArgv('virtnbdbackup.7'), stdout: fx('shutoff/calls/qemu-img-bitmap-remove-virtnbdbackup.7.txt') },
    { tool: 'qemu-img', argv: removeImgArgv('foreign'), stdout: fx('shutoff/calls/qemu-img-bitmap-remove-foreign.txt') },
  ];

  it("'*' --force drops metadata with virsh and bitmaps with qemu-img, then checks the image", async () => {
    const calls = [...readCalls('shutoff/before', false), ...plan, ...readCalls('shutoff/after', false)];
    const { ctx, runner } = setup(calls);
    const result = await runScrub(ctx, options({ force: true }));

    expect(inPhases(runner.calls)).toEqual(inPhases(callsOf(calls)));
    expect(result.outcome).toBe('ok');
    const report = (result.document as ScrubDocument)[DOM]!;
    expect(report.state).toBe('shut off');
    expect(report.actions.every((a) => a.done)).toBe(true);
    expect(report.remaining).toEqual({ checkpoints: [], bitmaps: { vda: [] } });
  });

  it('does not remove the bitmap of a checkpoint whose metadata delete failed', async () => {
    const failing = plan.map((c) =>
      c.argv.join(' ') === deleteArgv('virtnbdbackup.1', true).join(' ')
        ? { ...c, stdout: undefined, fail: fx('shutoff/calls/checkpoint-delete-missing-metadata.stderr.txt') }
        : c,
    );
    // Without the removal of virtnbdbackup.1's bitmap (FakeRunner throws on any call not declared).
    const executed = failing.filter((c) => c.argv.join(' ') !== removeImgArgv('virtnbdbackup.1').join(' '));
    // The re-read replays the state from before the run: nothing the plan wanted gone is gone.
    const calls = [...readCalls('shutoff/before', false), ...executed, ...readCalls('shutoff/before', false)];
    const { ctx, runner } = setup(calls);
    const result = await runScrub(ctx, options({ force: true }));

    expect(inPhases(runner.calls)).toEqual(inPhases(callsOf(calls)));
    const report = (result.document as ScrubDocument)[DOM]!;
    expect(report.actions.slice(2, 4)).toEqual([
      expect.objectContaining({
        action: 'delete-checkpoint-metadata',
        target: 'virtnbdbackup.1',
        done: false,
        error: expect.stringContaining('no domain checkpoint with matching name'),
      }),
      expect.objectContaining({
        action: 'remove-bitmap',
        target: 'virtnbdbackup.1',
        done: false,
        error: 'not attempted: deleting checkpoint virtnbdbackup.1 failed',
      }),
    ]);
    expect(report.ok).toBe(false);
    expect(result.outcome).toBe('failure');
  });

  it('a failed qemu-img call does not fail the domain when the re-read shows the bitmap gone anyway', async () => {
    const failing = plan.map((c) =>
      c.argv.join(' ') === removeImgArgv('foreign').join(' ')
        ? { ...c, stdout: undefined, fail: fx('shutoff/calls/qemu-img-bitmap-remove-missing.stderr.txt') }
        : c,
    );
    const calls = [...readCalls('shutoff/before', false), ...failing, ...readCalls('shutoff/after', false)];
    const { ctx } = setup(calls);
    const result = await runScrub(ctx, options({ force: true }));
    const report = (result.document as ScrubDocument)[DOM]!;
    expect(report.actions.at(-1)).toMatchObject({
      target: 'foreign',
      done: false,
      error: expect.stringMatching(/Dirty bitmap 'foreign' not found \(the re-read shows it gone anyway\)$/),
    });
    expect(result.text).toContain(`${DOM} (shut off): clean\n`);
    expect(report.ok).toBe(true);
    expect(result.outcome).toBe('ok');
  });
});

describe('runScrub across domains, dry runs and errors', () => {
  it('one unreadable domain does not stop the next; dry run changes nothing and predicts what is left', async () => {
    const missing = 'vmkeep-scratch-scrub-nosuch';
    const calls = [
      // The reader asks its first three questions at once; libvirt refuses each the same way.
      { tool: 'virsh', argv: virsh('domstate', '--domain', missing), fail: fx('domstate-unknown.stderr.txt') },
      { tool: 'virsh', argv: virsh('checkpoint-list', '--domain', missing, '--name', '--topological'), fail: fx('domstate-unknown.stderr.txt') },
      { tool: 'virsh', argv: virsh('dumpxml', '--domain', missing), fail: fx('domstate-unknown.stderr.txt') },
      ...readCalls('running/before', true),
    ];
    const { ctx, runner } = setup(calls);
    const result = await runScrub(ctx, options({ domains: [missing, DOM], dryRun: true }));

    expect(inPhases(runner.calls)).toEqual(inPhases(callsOf(calls)));
    expect(result.outcome).toBe('partial');
    const doc = result.document as ScrubDocument;
    expect(Object.keys(doc)).toEqual([missing, DOM]);
    expect(doc[missing]).toEqual({
      state: 'unknown',
      dryRun: true,
      actions: [],
      remaining: null,
      ok: false,
      error: expect.stringContaining("failed to get domain 'vmkeep-scratch-scrub-nosuch'"),
    });
    expect(doc[DOM]!.ok).toBe(true);
    expect(doc[DOM]!.actions.every((a) => !a.done)).toBe(true);
    expect(doc[DOM]!.remaining).toEqual({ checkpoints: ['manual'], bitmaps: { vda: ['foreign', 'manual'] } });
    expect(result.text).toContain('  would delete checkpoint virtnbdbackup.1: libvirt deletes the checkpoint');
    expect(result.text).toContain('  would be left: checkpoints manual; bitmaps vda: foreign, manual');
    expect(result.text).toContain(`${DOM} (running): would be clean\n`);
    expect(result.text).toMatch(/dry run: nothing changed; 1 of 2 domain\(s\) would be clean\n$/);
  });

  it('an unknown --checkpointName fails that domain without touching it', async () => {
    const calls = readCalls('running/before', true);
    const { ctx, runner } = setup(calls);
    const result = await runScrub(ctx, options({ checkpointName: 'virtnbdbackup.42' }));
    expect(inPhases(runner.calls)).toEqual(inPhases(callsOf(calls)));
    expect(result.outcome).toBe('failure');
    expect((result.document as ScrubDocument)[DOM]).toMatchObject({
      ok: false,
      actions: [],
      error: `${DOM} has no checkpoint and no orphan bitmap named "virtnbdbackup.42"`,
      remaining: { checkpoints: ['virtnbdbackup.0', 'virtnbdbackup.1', 'manual'] },
    });
  });

  it('a foreign --checkpointName without --force is a planned skip and not ok, even in a dry run', async () => {
    const { ctx } = setup(readCalls('running/before', true));
    const result = await runScrub(ctx, options({ checkpointName: 'manual', dryRun: true }));
    const report = (result.document as ScrubDocument)[DOM]!;
    expect(report.actions).toEqual([{ action: 'skip-checkpoint', target: 'manual', reason: 'not a vmkeep-owned name (use --force)', done: false }]);
    expect(report.ok).toBe(false);
    expect(report.error).toBe('would be left: checkpoint manual');
    expect(result.outcome).toBe('failure');
  });

  it('refuses a domain with a backup job running, and ignores the anonymous bitmaps of that job', async () => {
    const calls = readCalls('running-job/before', true);
    const { ctx, runner } = setup(calls);
    const result = await runScrub(ctx, options({}));
    expect(inPhases(runner.calls)).toEqual(inPhases(callsOf(calls)));
    expect(result.outcome).toBe('failure');
    expect((result.document as ScrubDocument)[DOM]).toEqual({
      state: 'running',
      dryRun: false,
      actions: [],
      remaining: { checkpoints: ['virtnbdbackup.0', 'virtnbdbackup.1'], bitmaps: { vda: ['virtnbdbackup.1', 'virtnbdbackup.0', 'foreign'] } },
      ok: false,
      error: `a job (a backup?) is running on ${DOM}: let it finish or abort it (virsh domjobabort) before scrubbing`,
    });
  });

  it('no domains: nothing to do', async () => {
    const { ctx, runner } = setup([]);
    const result = await runScrub(ctx, options({ domains: [] }));
    expect(runner.calls).toEqual([]);
    expect(result).toEqual({ document: {}, text: 'scrub: no domains to scrub\n', outcome: 'ok' });
  });
});
