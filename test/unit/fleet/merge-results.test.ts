import { describe, expect, it } from 'vitest';
import { createContext } from '../../../src/app/context.js';
import type { CommandResult } from '../../../src/app/command-result.js';
import { mergeBackup, mergeStatus, runAcrossHosts } from '../../../src/fleet/index.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';

const hosts = [
  { name: 'a', uri: 'qemu+ssh://root@10.0.0.1/system' },
  { name: 'b', uri: 'qemu+ssh://root@10.0.0.2/system' },
  { name: 'c', uri: 'qemu+ssh://root@10.0.0.3/system' },
];

function ctx() {
  const log = createMemoryLogger();
  return { log, ctx: createContext({ runner: new FakeRunner(), uri: 'qemu:///system', now: () => new Date(0), log, interactive: false, signal: new AbortController().signal }) };
}

describe('runAcrossHosts', () => {
  it('one context per host URI; a throwing host becomes its error; host/ patterns pick hosts', async () => {
    const { ctx: c, log } = ctx();
    const seen: Array<[string, string, readonly string[] | undefined]> = [];
    const outcomes = await runAcrossHosts(c, hosts, ['a/web', 'db'], async (hc, host, domains) => {
      seen.push([host.name, hc.virsh.uri, domains]);
      if (host.name === 'b') throw new Error('virsh exited 1: Connection refused');
      return { document: {}, text: '', outcome: 'ok' } satisfies CommandResult;
    });
    expect(seen.sort()).toEqual([
      ['a', hosts[0]!.uri, ['web', 'db']],
      ['b', hosts[1]!.uri, ['db']],
      ['c', hosts[2]!.uri, ['db']],
    ]);
    expect(outcomes.map((o) => [o.host.name, o.error])).toEqual([
      ['a', undefined],
      ['b', `host b (${hosts[1]!.uri}): virsh exited 1: Connection refused`],
      ['c', undefined],
    ]);
    expect(log.lines.join('\n')).toContain('host b');
    // Only a/ patterns: b and c are not contacted at all.
    const only = await runAcrossHosts(c, hosts, ['a/web'], async () => ({ document: {}, text: '', outcome: 'ok' }));
    expect(only.map((o) => o.host.name)).toEqual(['a']);
  });
});

describe('merging', () => {
  const ok = (document: unknown): CommandResult => ({ document, text: 't', outcome: 'ok' });

  it('status: host/domain keys, an unreachable host one key with overallStatus 1, exit partial', () => {
    const merged = mergeStatus([
      { host: hosts[0]!, result: ok({ web: { name: 'web', overallStatus: 0 } }) },
      { host: hosts[1]!, error: 'host b: unreachable' },
    ]);
    expect(merged.document).toEqual({
      'a/web': { host: 'a', name: 'web', overallStatus: 0 },
      b: { host: 'b', uri: hosts[1]!.uri, error: 'host b: unreachable', overallStatus: 1 },
    });
    expect(merged.outcome).toBe('partial');
    expect(mergeStatus([{ host: hosts[0]!, result: ok({ web: { overallStatus: 0 } }) }]).outcome).toBe('ok');
  });

  it('backup: one results list; an unreachable host is one failed row host/*; partial when others succeeded', () => {
    const merged = mergeBackup(
      [
        { host: hosts[0]!, result: ok({ results: [{ domain: 'web', result: 'done', level: 'full' }] }) },
        { host: hosts[1]!, error: 'host b: unreachable' },
      ],
      { dryRun: false, output: '/b', groupBy: 'month' },
    );
    const doc = merged.document as { results: Array<{ host: string; domain: string; result: string; reason?: string }> };
    expect(doc.results).toEqual([
      { host: 'a', domain: 'a/web', result: 'done', level: 'full' },
      { host: 'b', domain: 'b/*', result: 'failed', reason: 'host b: unreachable' },
    ]);
    expect(merged.outcome).toBe('partial');
    expect(merged.text).toContain('b/*');
  });
});

describe('describeHostFailure', () => {
  it("a virsh that cannot connect over ssh (recorded) is 'unreachable' in vmkeep's words; other errors keep their message", async () => {
    const { describeHostFailure } = await import('../../../src/fleet/run-across-hosts.js');
    const { ToolError } = await import('../../../src/errors.js');
    const { fixture } = await import('../../helpers/fixtures.js');
    const stderr = fixture('fleet/virsh-ssh-connection-refused.stderr');
    const e = new ToolError({ tool: 'virsh', argv: ['-c', 'qemu+ssh://root@127.0.0.1:1/system', 'list'], exitCode: 1, stderr });
    const text = describeHostFailure(e);
    expect(text).toMatch(/^unreachable: libvirt could not be reached \(.*Connection refused.*\); check the URI/);
    expect(text).not.toContain('virsh -c');
    expect(describeHostFailure(new Error('output folder /b is locked'))).toBe('output folder /b is locked');
  });
});
