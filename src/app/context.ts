/** What every command gets: the tool clients, the clock, the logger, and the cancel signal. */
import { QemuImgClient } from '../qemu/qemu-img.js';
import type { Runner } from '../runner/runner.js';
import type { Logger } from '../util/log.js';
import { VirshClient } from '../virsh/client.js';
import { VirshSessionPool } from '../virsh/session-pool.js';

export interface AppContext {
  runner: Runner;
  virsh: VirshClient;
  qemuImg: QemuImgClient;
  /** The clock; VMKEEP_NOW overrides it (testing and simulation aid). */
  now: () => Date;
  log: Logger;
  /** Is stderr a terminal (progress bars, colour)? */
  interactive: boolean;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /**
   * Fault points for tests that run a command in-process against real libvirt: an executor calls
   * `after(step)` when a step is done, and a test may throw there to prove the rollback. The CLI
   * never sets it; nothing in the environment or on the command line reaches it.
   */
  faults?: FaultPoints;
}

export interface FaultPoints {
  after(step: string): void;
}

/** Build a context around a runner (the real one in the CLI, a fake one in tests). */
export function createContext(fields: {
  runner: Runner;
  uri: string;
  now: () => Date;
  log: Logger;
  interactive: boolean;
  signal: AbortSignal;
  /** Talk to libvirt through long-lived virsh sessions (needs a runner that can open them). */
  virshSessions?: boolean;
  faults?: FaultPoints;
}): AppContext {
  const { runner } = fields;
  const pool =
    fields.virshSessions && runner.open ? new VirshSessionPool({ run: runner.run.bind(runner), open: runner.open.bind(runner) }, fields.uri) : undefined;
  return {
    runner: fields.runner,
    virsh: new VirshClient(fields.runner, fields.uri, pool),
    qemuImg: new QemuImgClient(fields.runner),
    now: fields.now,
    log: fields.log,
    interactive: fields.interactive,
    signal: fields.signal,
    ...(fields.faults ? { faults: fields.faults } : {}),
  };
}
