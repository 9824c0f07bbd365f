/**
 * A small pool of virsh sessions for one connection URI: concurrent domains each get a session,
 * one command at a time per session. Sessions start when first needed, a dead one is replaced on
 * the next request, and close() ends them all (the CLI calls it at exit and on SIGINT/SIGTERM).
 */
import type { Runner } from '../runner/runner.js';
import { VirshSession } from './session.js';

const DEFAULT_SESSIONS = 4;

export class VirshSessionPool {
  private readonly idle: VirshSession[] = [];
  private readonly all = new Set<VirshSession>();
  private readonly waiters: Array<(s: VirshSession) => void> = [];
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

  /** close(), and refuse further requests. */
  shutdown(): void {
    this.closed = true;
    this.close();
  }

  private async acquire(): Promise<VirshSession> {
    if (this.closed) throw new Error('virsh sessions were shut down');
    for (;;) {
      const s = this.idle.pop();
      if (!s) break;
      if (!s.dead) return s;
      this.all.delete(s);
    }
    if (this.all.size < this.size) {
      const s = new VirshSession(this.runner, this.uri);
      this.all.add(s);
      return s;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(session: VirshSession): void {
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
