import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { endProcesses } from '../../../src/runner/processes.js';

/** A process state letter from /proc (S sleeping, T stopped, Z zombie), or undefined once reaped. */
function stateOf(pid: number): string | undefined {
  try {
    return /^\S+ \(.*\) (\S) /s.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** A process that handles SIGTERM by exiting 0, so how it ended tells which signal did it. */
function startTermHandler() {
  const child = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000); console.log('ready')"], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  return { pid: child.pid!, ended, ready };
}

describe('endProcesses', () => {
  it('ends a running process with SIGTERM, not SIGKILL', async () => {
    const p = startTermHandler();
    await p.ready;
    expect(await endProcesses([p.pid], { termMs: 10_000 })).toEqual([p.pid]);
    expect(await p.ended).toEqual({ code: 0, signal: null });
  });

  it('ends a stopped process with SIGTERM too: it is continued, so it can handle the signal', async () => {
    const p = startTermHandler();
    await p.ready;
    process.kill(p.pid, 'SIGSTOP');
    await vi.waitFor(() => expect(stateOf(p.pid)).toBe('T'), { timeout: 5_000, interval: 10 });
    const started = Date.now();
    expect(await endProcesses([p.pid], { termMs: 10_000 })).toEqual([p.pid]);
    // Exit code 0 is its SIGTERM handler; SIGKILL would have come only after the 10 s.
    expect(await p.ended).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(9_000);
  });

  it('leaves a process that ends within the grace time unsignalled', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 100)'], { stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    expect(await endProcesses([child.pid!], { graceMs: 5_000 })).toEqual([]);
    await exited;
  });
});
