import { existsSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { ToolError } from '../../../src/errors.js';
import { createExecaRunner } from '../../../src/runner/runner.js';

const runner = createExecaRunner();

describe('the real runner (argv arrays, no shell)', () => {
  it('passes each argument literally, metacharacters and spaces included', async () => {
    const canary = `/tmp/vmkeep-canary-${process.pid}`;
    const { stdout } = await runner.run('printf', ['%s|', 'a b', `x;touch ${canary};#`, '$(id)']);
    expect(stdout).toBe(`a b|x;touch ${canary};#|$(id)|`);
    expect(existsSync(canary)).toBe(false);
  });

  it('throws a ToolError with exit code and stderr when the tool fails', async () => {
    const error = await runner.run('sh', ['-c', 'echo boom >&2; exit 3']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolError);
    expect(error).toMatchObject({ tool: 'sh', exitCode: 3, stderr: 'boom', code: 'failure' });
  });

  it('accepts exit codes the caller declares as answers', async () => {
    expect((await runner.run('sh', ['-c', 'exit 1'], { okExitCodes: [1] })).exitCode).toBe(1);
  });

  it('reports a missing tool as tool-missing', async () => {
    const error = await runner.run('vmkeep-no-such-tool', []).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'tool-missing' });
  });

  it('kills a call that outlives its timeout', async () => {
    const error = await runner.run('sleep', ['5'], { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ timedOut: true });
  });

  it('stops the tool with the chosen signal when cancelled', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await runner.run('sleep', ['5'], { cancelSignal: controller.signal, killSignal: 'SIGINT' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ signal: 'SIGINT' });
  });

  it('hands stderr lines to a callback, splitting progress redraws at \\r', async () => {
    const lines: string[] = [];
    await runner.run('sh', ['-c', 'printf "a\\rb\\nc\\n" >&2'], { onStderrLine: (l) => lines.push(l) });
    expect(lines).toEqual(['a', 'b', 'c']);
  });
});

describe('the real runner: a session (a tool that takes requests on stdin)', () => {
  const open = runner.open!.bind(runner);

  it('hands what the tool writes back in order, with its arguments literal and its environment merged', async () => {
    // sh echoes each line with its first argument (spaces, quotes and $ kept: no shell parses
    // it) and a variable from the environment the session was opened with.
    const tag = `a b 'c' $(id)`;
    const script = 'while read -r l; do printf "%s|%s|%s\\n" "$1" "$VMKEEP_T" "$l"; done; echo bye >&2';
    const session = open('sh', ['-c', script, 'sh', tag], { env: { VMKEEP_T: 'from-env' } });
    let out = '';
    let err = '';
    session.onOutput(
      (c) => (out += c),
      (c) => (err += c),
    );
    session.write('one\n');
    session.write('two\n');
    await vi.waitFor(() => expect(out).toBe(`${tag}|from-env|one\n${tag}|from-env|two\n`), { timeout: 5_000, interval: 10 });
    expect(session.pid).toBeGreaterThan(0);
    session.close();
    expect(await session.exited).toEqual({ exitCode: 0, signal: undefined });
    expect(err).toBe('bye\n');
  });

  it('a tool that cannot be started: exited settles, nothing throws, writes are dropped', async () => {
    const session = open('vmkeep-no-such-tool', []);
    session.onOutput(
      () => undefined,
      () => undefined,
    );
    session.write('ignored\n');
    expect(await session.exited).toEqual({ exitCode: undefined, signal: undefined });
  });

  it('a tool that ignores the end of its input is stopped with SIGTERM', async () => {
    const session = open('sh', ['-c', 'trap "" HUP; while :; do sleep 0.05; done']);
    session.close();
    expect(await session.exited).toEqual({ exitCode: undefined, signal: 'SIGTERM' });
  }, 10_000);
});
