/** What every command gets: the tool clients, the clock, the logger, the cancel signal, the environment and the lock files. */
import { QemuImgClient } from '../qemu/qemu-img.js';
import type { Runner } from '../runner/runner.js';
import type { Env } from '../util/env.js';
import { domainLockDir, domainLockFile, outputLockFile } from '../util/lock.js';
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
  /** The run's id (a UUID), as logging and notifications carry it; hooks get it as VMKEEP_RUN_ID. */
  runId?: string;
  /** The process environment, read once by the CLI entry: nothing below it reads process.env. */
  env: Env;
  /** Where this run's lock files are (src/repository/locks.ts takes them). */
  locks: LockService;
}

export type { Env } from '../util/env.js';

/**
 * The lock files of a run: one per output folder, inside it, and one per domain in a folder of
 * their own (VMKEEP_LOCK_DIR), since a domain may be backed up into several output folders. Two
 * hosts may both have a `web`: a remote host's context gets its own domain folder.
 */
export interface LockService {
  readonly domainDir: string;
  outputLockFile(output: string): string;
  domainLockFile(domain: string): string;
}

/** The lock files with the per-domain ones in `domainDir`. */
export function createLockService(domainDir: string): LockService {
  return Object.freeze({
    domainDir,
    outputLockFile,
    domainLockFile: (domain: string) => domainLockFile(domainDir, domain),
  });
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
  /** Read shut-off domains' qcow2 headers directly instead of a qemu-img process per disk (QemuImgClientOptions). */
  readImageHeaders?: boolean;
  faults?: FaultPoints;
  runId?: string;
  /** The environment (the CLI passes process.env; a test passes what it needs, e.g. VMKEEP_LOCK_DIR). */
  env?: Env;
  /** The lock files; by default VMKEEP_LOCK_DIR's (or /run/lock/vmkeep's) for the domains. */
  locks?: LockService;
}): AppContext {
  const { runner } = fields;
  const env = Object.freeze({ ...fields.env });
  const pool =
    fields.virshSessions && runner.open ? new VirshSessionPool({ run: runner.run.bind(runner), open: runner.open.bind(runner) }, fields.uri) : undefined;
  return {
    runner: fields.runner,
    virsh: new VirshClient(fields.runner, fields.uri, pool),
    qemuImg: new QemuImgClient(fields.runner, { readHeaders: fields.readImageHeaders === true }),
    now: fields.now,
    log: fields.log,
    interactive: fields.interactive,
    signal: fields.signal,
    ...(fields.faults ? { faults: fields.faults } : {}),
    ...(fields.runId ? { runId: fields.runId } : {}),
    env,
    locks: fields.locks ?? createLockService(domainLockDir(env)),
  };
}
