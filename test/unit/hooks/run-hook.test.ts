import { describe, expect, it } from 'vitest';
import { hookArgv, runHook, splitWords } from '../../../src/hooks/run-hook.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';

describe('hook commands become argv without a shell', () => {
  it('splits a string into words: quotes group, metacharacters stay literal', () => {
    expect(splitWords(`logger -t vmkeep 'run started' "a \\"b\\"" x\\ y`)).toEqual(['logger', '-t', 'vmkeep', 'run started', 'a "b"', 'x y']);
    expect(splitWords('touch /tmp/x; rm -rf $HOME | cat')).toEqual(['touch', '/tmp/x;', 'rm', '-rf', '$HOME', '|', 'cat']);
    expect(() => splitWords("echo 'open")).toThrow(/unclosed ' quote/);
  });

  it('argv lists pass unchanged; shell: true goes through /bin/sh -c explicitly; timeouts in seconds', () => {
    expect(hookArgv(['a b', 'c'])).toEqual({ argv: ['a b', 'c'], timeoutMs: 300_000 });
    expect(hookArgv({ command: 'echo $VMKEEP_DOMAIN > /tmp/f', shell: true, timeout: 5 })).toEqual({
      argv: ['/bin/sh', '-c', 'echo $VMKEEP_DOMAIN > /tmp/f'],
      timeoutMs: 5000,
    });
    expect(hookArgv({ command: 'echo hi', timeout: 1.5 })).toEqual({ argv: ['echo', 'hi'], timeoutMs: 1500 });
  });
});

describe('runHook through the runner (exact argv, env, outcome)', () => {
  it('passes the environment and logs the output', async () => {
    let seen: Record<string, string> | undefined;
    const runner = new FakeRunner().expect({
      tool: '/usr/local/sbin/db-freeze',
      argv: ['--fast'],
      result: { stdout: 'frozen\n' },
      effect: (o) => {
        seen = o?.env;
        expect(o?.timeoutMs).toBe(300_000);
      },
    });
    const log = createMemoryLogger();
    const out = await runHook(runner, log, '/usr/local/sbin/db-freeze --fast', { phase: 'pre-domain', runId: 'r1', output: '/b', domain: 'pg' });
    expect(runner.unmet()).toEqual([]);
    expect(out.ok).toBe(true);
    expect(seen).toEqual({
      VMKEEP_PHASE: 'pre-domain',
      VMKEEP_RUN_ID: 'r1',
      VMKEEP_OUTPUT: '/b',
      VMKEEP_DOMAIN: 'pg',
      VMKEEP_CHAIN_DIR: '',
      VMKEEP_LEVEL: '',
      VMKEEP_RESULT: '',
      VMKEEP_ERROR: '',
    });
    expect(log.lines.join('\n')).toMatch(/pg: pre-domain hook: frozen/);
  });

  it('a failing hook is an outcome, not a throw', async () => {
    const runner = new FakeRunner().expect({ tool: 'false', argv: [], result: { exitCode: 1, stderr: 'nope\n' } });
    const log = createMemoryLogger();
    const out = await runHook(runner, log, ['false'], { phase: 'post-domain', runId: 'r', output: '/b', domain: 'd' });
    expect(out).toMatchObject({ ok: false, error: 'post-domain hook exited 1' });
    expect(log.lines.join('\n')).toMatch(/d: post-domain hook \(stderr\): nope/);
  });
});
