/**
 * The long-lived virsh session against the real virsh and libvirtd: quoting round-trips, a
 * killed session, and the fallback to a process for arguments a session's line cannot carry.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ToolError } from '../../src/errors.js';
import { createExecaRunner } from '../../src/runner/runner.js';
import { VirshClient, isNoSuchDomain } from '../../src/virsh/client.js';
import { VirshSessionPool } from '../../src/virsh/session-pool.js';
import { isSessionSafeArg } from '../../src/virsh/session.js';

const URI = 'qemu:///system';
const runner = createExecaRunner();
const open = runner.open!.bind(runner);
const pools: VirshSessionPool[] = [];

function pool(size = 1): VirshSessionPool {
  const p = new VirshSessionPool({ run: runner.run.bind(runner), open }, URI, size);
  pools.push(p);
  return p;
}

afterAll(() => {
  for (const p of pools) p.shutdown();
});

/** Characters that quoting must carry: quotes, backslashes, shell syntax, spaces, dashes, unicode. */
const nasty = fc.constantFrom(...'\'"\\;$()`&|<>*?[]{}#~!%= -_./:,@^+', 'é', '日', '€', '🙂', 'ß', '\u00a0');
const argArb = fc.oneof(
  fc.string({ unit: nasty, minLength: 0, maxLength: 40 }),
  fc.string({ unit: 'grapheme', minLength: 0, maxLength: 40 }).filter(isSessionSafeArg),
  fc.string({ unit: nasty, minLength: 1, maxLength: 20 }).map((s) => `--${s}`),
  fc.string({ unit: nasty, minLength: 1, maxLength: 20 }).map((s) => `-${s}`),
);

describe('virsh session (real virsh)', () => {
  it('round-trips 1,000 random arguments exactly through quoting (virsh echo)', async () => {
    const p = pool();
    const samples = fc.sample(argArb, { numRuns: 1000, seed: 20261130 });
    expect(samples).toHaveLength(1000);
    // The samples must hold what the issue names, or the test proves less than it says.
    const all = samples.join('');
    for (const c of ["'", '\\', ';', '$(', ' ', '日']) expect(all).toContain(c);
    expect(samples.some((s) => s.startsWith('--'))).toBe(true);
    for (const arg of samples) {
      const { stdout } = await p.exec(['echo', '--', arg], ['-c', URI, 'echo', '--', arg], 10_000);
      expect(stdout).toBe(`${arg}\n`);
    }
    // One process served them all.
    expect(p.pids()).toHaveLength(1);
  });

  it('passes an argument with leading dashes, quotes and shell syntax as one value, and reports the error', async () => {
    const client = new VirshClient(runner, URI, pool());
    const name = '--help\'; $(touch /tmp/vmkeep-canary) "x"';
    const error = await client.domainState(name).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ToolError);
    expect(isNoSuchDomain(error)).toBe(true);
    expect((error as ToolError).stderr).toContain(`failed to get domain '${name}'`);
  });

  it('refuses newline and NUL in a session, and runs such a command as its own process instead', async () => {
    for (const bad of ['a\nb', 'a\0b', 'tab\there', 'esc\u001b']) expect(isSessionSafeArg(bad)).toBe(false);
    const p = pool();
    const client = new VirshClient(runner, URI, p);
    const error = await client.domainState('two\nlines').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isNoSuchDomain(error)).toBe(true);
    // The session was never asked: it did not even start.
    expect(p.pids()).toEqual([]);
  });

  it('fails the command in flight when the session process is killed, and the next command gets a new session', async () => {
    const p = pool();
    await p.exec(['version'], ['-c', URI, 'version'], 30_000);
    const [first] = p.pids();
    expect(first).toBeGreaterThan(0);
    // `event --loop --timeout 30` waits in virsh for 30 s: a command in flight when the kill comes.
    const inFlight = p.exec(['event', '--all', '--loop', '--timeout', '30'], ['-c', URI, 'event', '--all', '--loop', '--timeout', '30'], 60_000);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(first!, 'SIGKILL');
    const error = await inFlight.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ToolError);
    expect((error as ToolError).message).toMatch(/^virsh .*event .*killed by SIGKILL: the virsh session ended while this command ran$/);
    const { stdout } = await p.exec(['version'], ['-c', URI, 'version'], 30_000);
    expect(stdout).toMatch(/Running hypervisor: QEMU/);
    const [second] = p.pids();
    expect(second).toBeGreaterThan(0);
    expect(second).not.toBe(first);
  });

  it('times out a command that hangs, ends that session, and serves the next command', async () => {
    const p = pool();
    const error = await p.exec(['event', '--all', '--loop', '--timeout', '30'], ['-c', URI, 'event', '--all', '--loop', '--timeout', '30'], 500).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ToolError);
    expect((error as ToolError).timedOut).toBe(true);
    const { stdout } = await p.exec(['version'], ['-c', URI, 'version'], 30_000);
    expect(stdout).toMatch(/Using library: libvirt/);
  });

  it("leaves nothing in root's virsh history", async () => {
    const p = pool();
    const canary = `vmkeep-history-canary-${process.pid}-${Date.now()}`;
    await p.exec(['echo', '--', canary], ['-c', URI, 'echo', '--', canary], 10_000);
    const [pid] = p.pids();
    p.shutdown();
    // virsh writes its history when it exits: wait for that.
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 50));
    const history = join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'libvirt', 'virsh', 'history');
    expect(existsSync(history) ? readFileSync(history, 'utf8') : '').not.toContain(canary);
  });

  it("gives the same bytes as a virsh process for each command vmkeep's parsers read", async () => {
    const p = pool();
    for (const command of [['version'], ['list', '--all', '--uuid', '--name'], ['nodeinfo']]) {
      // `list` shows the whole host, which other test files change at any moment (a domain that
      // starts moves up the list): compare the session's answer only in a window where a virsh
      // process gave the same answer just before and just after it.
      let compared = false;
      for (let attempt = 0; attempt < 10 && !compared; attempt++) {
        const before = await runner.run('virsh', ['-c', URI, ...command]);
        const { stdout } = await p.exec(command, ['-c', URI, ...command], 30_000);
        const after = await runner.run('virsh', ['-c', URI, ...command]);
        if (before.stdout !== after.stdout) continue;
        expect(stdout).toBe(before.stdout);
        compared = true;
      }
      expect(compared, `the host's answer to virsh ${command.join(' ')} kept changing`).toBe(true);
    }
  });
});
