import { describe, expect, it } from 'vitest';
import { createContext } from '../../../src/app/context.js';
import type { CommandResult } from '../../../src/app/command-result.js';
import { mergeBackup, mergeCheck, mergePerHost, mergeStatus, runAcrossHosts } from '../../../src/fleet/index.js';
import { checkResult, judgeCheck } from '../../../src/check/index.js';
import { parseDuration } from '../../../src/retention/duration.js';
import type { RunHistory } from '../../../src/repository/run-history.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';

const hosts = [
  { name: 'a', uri: 'qemu+ssh://root@10.0.0.1/system' },
  { name: 'b', uri: 'qemu+ssh://root@10.0.0.2/system' },
  { name: 'c', uri: 'qemu+ssh://root@10.0.0.3/system' },
];

function ctx() {
  const log = createMemoryLogger();
  return {
    log,
    ctx: createContext({
      runner: new FakeRunner(),
      uri: 'qemu:///system',
      now: () => new Date(0),
      log,
      interactive: false,
      signal: new AbortController().signal,
    }),
  };
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

describe('merging verify, prune and check', () => {
  const ok = (document: unknown): CommandResult => ({ document, text: 't', outcome: 'ok' });

  it("verify/prune: each host's own document under hosts; one host failing makes the run partial, all failing a failure", () => {
    const merged = mergePerHost(
      [
        { host: hosts[0]!, result: ok({ chains: [1] }) },
        { host: hosts[1]!, error: 'host b: unreachable' },
      ],
      { output: '/r' },
    );
    expect(merged.document).toEqual({
      output: '/r',
      hosts: [
        { host: 'a', uri: hosts[0]!.uri, outcome: 'ok', result: { chains: [1] } },
        { host: 'b', uri: hosts[1]!.uri, error: 'host b: unreachable' },
      ],
    });
    expect(merged.outcome).toBe('partial');
    expect(mergePerHost([{ host: hosts[0]!, result: { ...ok({}), outcome: 'failure' } }], {}).outcome).toBe('failure');
    expect(mergePerHost([{ host: hosts[0]!, result: ok({}) }], {}).outcome).toBe('ok');
  });

  it("check: one plugin line over every host's domains as host/domain; an unreachable host is an UNKNOWN item, a problem elsewhere still wins", () => {
    const now = new Date('2026-12-01T12:00:00Z');
    const t = { warning: parseDuration('26h', 'w'), critical: parseDuration('50h', 'c'), verifyWarning: undefined, verifyCritical: undefined };
    const history = (time: string): RunHistory => ({
      domain: 'web',
      chains: 1,
      unhealthyChains: 0,
      restorePoints: 1,
      repositoryBytes: 1,
      lastSuccess: { time, durationSeconds: 1, bytes: 1, chain: 'c', checkpoint: 'virtnbdbackup.0' },
      lastRun: { time, result: 'success', durationSeconds: 1, bytes: 1, message: undefined },
      lastVerify: undefined,
    });
    const hostResult = (time: string) =>
      checkResult(judgeCheck([{ domain: 'web', history: history(time), consistent: true, error: undefined }], t, now), [], []);
    const fine = mergeCheck(
      [
        { host: hosts[0]!, result: hostResult('2026-12-01T03:00:00Z') },
        { host: hosts[1]!, result: hostResult('2026-12-01T04:00:00Z') },
      ],
      t,
      now,
    );
    expect(fine.outcome).toBe('ok');
    expect(fine.text.split('\n')[0]).toBe(
      "VMKEEP OK - 2 domains, newest backup 8h ago, oldest 9h ago | 'age_a/web'=32400s;93600;180000;0; 'age_b/web'=28800s;93600;180000;0;",
    );
    const down = mergeCheck(
      [
        { host: hosts[0]!, result: hostResult('2026-11-28T03:00:00Z') },
        { host: hosts[1]!, error: 'host b (x): unreachable' },
      ],
      t,
      now,
    );
    expect(down.outcome).toBe('failure');
    expect(down.text.split('\n')[0]).toContain('2 of 2 domains need attention: host b (x): unreachable; a/web: last backup');
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

describe('list across hosts with --tag (the CLI, a fake runner with recorded virsh output)', () => {
  it("reads each host's tags from that host's libvirt; a domain only the host's folder knows is left out by --tag", async () => {
    const { mkdtempSync, mkdirSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { main } = await import('../../../src/cli/main.js');
    const { fixture } = await import('../../helpers/fixtures.js');
    const { TAGS_NAMESPACE } = await import('../../../src/virsh/tags-xml.js');
    const out = mkdtempSync(join(tmpdir(), 'vmkeep-unit-list-hosts-'));
    try {
      for (const d of ['a/web-1', 'a/db-1', 'b/web-1', 'b/old-1']) mkdirSync(join(out, d), { recursive: true });
      const A = 'qemu:///system';
      const B = 'qemu:///session';
      const list = (uri: string, names: string[]) => ({
        tool: 'virsh',
        argv: ['-c', uri, 'list', '--all', '--uuid', '--name'],
        result: { stdout: names.map((n, i) => `00000000-0000-4000-8000-00000000000${i} ${n}\n`).join('') },
      });
      const tags = (uri: string, uuid: string, result: { stdout?: string; stderr?: string; exitCode?: number }) => ({
        tool: 'virsh',
        argv: ['-c', uri, 'metadata', '--domain', uuid, '--uri', TAGS_NAMESPACE, '--config'],
        result,
      });
      const runner = new FakeRunner()
        .expect(list(A, ['db-1', 'web-1']))
        .expect(tags(A, '00000000-0000-4000-8000-000000000000', { stdout: '<tags><tag>dev</tag></tags>' }))
        .expect(tags(A, '00000000-0000-4000-8000-000000000001', { stdout: fixture('virsh/metadata-tags.xml') }))
        .expect(list(B, ['web-1']))
        .expect(tags(B, '00000000-0000-4000-8000-000000000000', { stderr: fixture('virsh/metadata-none.stderr'), exitCode: 1 }));
      const stdout: string[] = [];
      const stderr: string[] = [];
      const code = await main(['list', '--output', out, '--connect', `a=${A}`, '--connect', `b=${B}`, '--tag', 'prod', '--json'], {
        stdout: (t) => stdout.push(t),
        stderr: (t) => stderr.push(t),
        env: { VMKEEP_CONFIG: '' },
        interactive: false,
        runner,
      });
      expect(code, stderr.join('')).toBe(0);
      const doc = JSON.parse(stdout.join('')) as { domains: Array<{ address: string }>; filteredOut: Array<{ domain: string; why: string }> };
      expect(doc.domains.map((d) => d.address)).toEqual(['a/web-1']);
      expect(doc.filteredOut).toEqual(
        expect.arrayContaining([
          { domain: 'a/db-1', why: 'tags [dev] do not match all of prod' },
          { domain: 'b/web-1', why: 'tags [] do not match all of prod' },
          { domain: 'b/old-1', why: 'not defined in libvirt, so it has no tags' },
        ]),
      );
      expect(doc.filteredOut).toHaveLength(3);
      expect(runner.unmet()).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
