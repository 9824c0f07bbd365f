import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
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
