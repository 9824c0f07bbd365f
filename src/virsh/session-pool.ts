/**
 * A small pool of virsh sessions for one connection URI, one command at a time per session. It
 * grows (up to 4) only when requests wait for a busy session, a dead one is replaced on the next
 * request, and close() ends them all (the CLI calls it when the command ends).
 */
import type { Runner } from '../runner/runner.js';
import { VirshSession } from './session.js';

const DEFAULT_SESSIONS = 4;
/**
 * A command takes about a millisecond and a new session ~50 ms to start: a request first waits
 * this long for a busy session before the pool starts another one.
 */
const GROW_AFTER_MS = 15;

export class VirshSessionPool {
  private readonly idle: VirshSession[] = [];
  private readonly all = new Set<VirshSession>();
  /** Requests waiting for a session; called with undefined when the pool shuts down. */
  private readonly waiters: Array<(s: VirshSession | undefined) => void> = [];
  private closed = false;

  constructor(
    private readonly runner: Runner & { open: NonNullable<Runner['open']> },
    readonly uri: string,
    private readonly size = DEFAULT_SESSIONS,
  ) {}

  /** Run one command (argv without `-c URI`); `fullArgv` names it in errors. */
  async exec(command: readonly string[], fullArgv: readonly string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
    const session = await this.acquire();
    try {
      return await session.exec(command, fullArgv, timeoutMs);
    } finally {
      this.release(session);
    }
  }

  /** The pids of the virsh processes this pool holds (for tests and diagnostics). */
  pids(): number[] {
    return [...this.all].filter((s) => !s.dead).flatMap((s) => (s.pid === undefined ? [] : [s.pid]));
  }

  /** End every session; later requests start new ones. */
  close(): void {
    for (const s of this.all) s.close();
    this.all.clear();
    this.idle.length = 0;
  }

  /**
   * close(), and refuse further requests. Requests still waiting for a session fail now: a
   * session started for one of them after this point would outlive the command.
   */
  shutdown(): void {
    this.closed = true;
    this.close();
    const waiting = this.waiters.splice(0);
    for (const w of waiting) w(undefined);
  }

  /** Start the first session now (its ~50 ms overlap with whatever the caller does next). */
  warm(): void {
    if (this.closed || this.all.size > 0) return;
    const s = new VirshSession(this.runner, this.uri);
    this.all.add(s);
    s.start();
    this.idle.push(s);
  }

  private async acquire(): Promise<VirshSession> {
    const s = await this.waitForSession();
    if (!s) throw new Error('virsh sessions were shut down');
    return s;
  }

  private async waitForSession(): Promise<VirshSession | undefined> {
    if (this.closed) return undefined;
    for (;;) {
      const s = this.idle.pop();
      if (!s) break;
      if (!s.dead) return s;
      this.all.delete(s);
    }
    if (this.all.size === 0) return this.grow();
    // A session still starting answers sooner than a new one would start.
    const starting = [...this.all].some((s) => !s.ready && !s.dead);
    if (this.all.size >= this.size || starting) return new Promise((resolve) => this.waiters.push(resolve));
    // Busy, with room to grow: a session is usually free again within a millisecond or two.
    return new Promise((resolve) => {
      const waiter = (s: VirshSession | undefined) => {
        clearTimeout(timer);
        resolve(s);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        if (this.closed) resolve(undefined);
        else resolve(this.all.size < this.size ? this.grow() : new Promise((r) => this.waiters.push(r)));
      }, GROW_AFTER_MS);
      this.waiters.push(waiter);
    });
  }

  private grow(): VirshSession {
    const s = new VirshSession(this.runner, this.uri);
    this.all.add(s);
    return s;
  }

  private release(session: VirshSession): void {
    if (this.closed) {
      // Shut down while this command ran: no new session for anyone, and this one ends too.
      session.close();
      return;
    }
    if (session.dead) {
      this.all.delete(session);
      const waiter = this.waiters.shift();
      if (waiter) {
        const s = new VirshSession(this.runner, this.uri);
        this.all.add(s);
        waiter(s);
      }
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter(session);
    else this.idle.push(session);
  }
}
