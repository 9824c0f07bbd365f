/**
 * The one door to external tools. This is the only module that starts processes: one-shot calls
 * through execa, long-lived sessions (virsh's interactive mode) through node:child_process.
 *
 * Arguments are always arrays; no shell is ever involved, so a domain name or a path with
 * spaces or metacharacters reaches the tool as one literal argument.
 *
 * execa is loaded with the first one-shot call: a run that only talks to its virsh sessions (a
 * status of local domains) never loads its 190 kB. A session needs none of what execa adds
 * (its output is framed by the session, its timeouts are per command), and starting one through
 * execa took ~3-5 ms of the main thread each, against ~1.5 ms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { ResultPromise } from 'execa';
import { ToolError } from '../errors.js';

export interface RunOptions {
  /** Milliseconds before the call is killed and reported as timed out. Default 120 s. */
  timeoutMs?: number;
  /** Extra environment variables (merged over the current environment). */
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  /** Text written to the tool's stdin. */
  input?: string;
  /** Exit codes that are not failures (0 always is). */
  okExitCodes?: readonly number[];
  /** Aborting this signal stops the tool with `killSignal` (default SIGTERM). */
  cancelSignal?: AbortSignal;
  killSignal?: NodeJS.Signals;
  /** Called with each stderr line as it arrives (progress parsing). */
  onStderrLine?: (line: string) => void;
  /** Called once the child has a pid. */
  onSpawn?: (pid: number) => void;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** A long-lived tool process that reads requests on stdin (virsh's interactive mode). */
export interface InteractiveProcess {
  readonly pid: number | undefined;
  /** Write text to the process's stdin. */
  write(text: string): void;
  /** Register the receiver of stdout and stderr chunks (decoded as UTF-8, in order). */
  onOutput(stdout: (chunk: string) => void, stderr: (chunk: string) => void): void;
  /** Settles when the process has exited, for whatever reason. */
  readonly exited: Promise<{ exitCode: number | undefined; signal: string | undefined }>;
  /** Stop the process: end its input; SIGTERM after 2 s, SIGKILL after a further grace period. */
  close(): void;
}

export interface OpenOptions {
  env?: Readonly<Record<string, string>>;
}

/** What the rest of vmkeep sees of external tools. */
export interface Runner {
  run(tool: string, argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /**
   * Start a tool that takes requests on stdin. Optional: a runner without it (the fake runner
   * of the unit tests) makes clients fall back to one process per request.
   */
  open?(tool: string, argv: readonly string[], options?: OpenOptions): InteractiveProcess;
}

export const DEFAULT_TIMEOUT_MS = 120_000;

/** The real runner: one-shot calls through execa with argv arrays, a timeout per call, and ToolError on failure; sessions through node:child_process. */
export function createExecaRunner(): Runner {
  return {
    async run(tool, argv, options = {}) {
      const { execa } = await import('execa');
      let child: ResultPromise;
      try {
        child = execa(tool, [...argv], {
          shell: false,
          reject: false,
          stripFinalNewline: false,
          timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          env: { LC_ALL: 'C', ...options.env },
          extendEnv: true,
          cwd: options.cwd,
          input: options.input,
          stdin: options.input === undefined ? 'ignore' : 'pipe',
          cancelSignal: options.cancelSignal,
          killSignal: options.killSignal ?? 'SIGTERM',
          forceKillAfterDelay: 30_000,
          // vmkeep runs as root from cron: children must not outlive a killed vmkeep by accident.
          cleanup: true,
        });
      } catch (cause) {
        throw new ToolError({ tool, argv, missing: isMissing(cause), cause });
      }
      if (child.pid !== undefined) options.onSpawn?.(child.pid);
      if (options.onStderrLine && child.stderr) {
        let buffered = '';
        child.stderr.on('data', (chunk: Buffer) => {
          buffered += chunk.toString('utf8');
          // tqdm redraws with \r: treat it as a line end too.
          const parts = buffered.split(/\r\n|\r|\n/);
          buffered = parts.pop() ?? '';
          for (const p of parts) if (p.length > 0) options.onStderrLine?.(p);
        });
      }
      const result = await child;
      const stdout = String(result.stdout ?? '');
      const stderr = String(result.stderr ?? '');
      if (result.failed) {
        const code = (result as { code?: string }).code;
        const ok =
          !result.timedOut &&
          !result.isCanceled &&
          result.signal === undefined &&
          typeof result.exitCode === 'number' &&
          (options.okExitCodes ?? []).includes(result.exitCode);
        if (!ok) {
          throw new ToolError({
            tool,
            argv,
            exitCode: result.exitCode,
            signal: result.signal,
            stderr,
            timedOut: result.timedOut,
            missing: code === 'ENOENT' || isMissing(result.cause),
            cause: result,
          });
        }
      }
      return { stdout, stderr, exitCode: result.exitCode ?? 0 };
    },

    open: openSession,
  };
}

/** Sessions still running: ended when vmkeep exits, as execa's `cleanup` ends one-shot calls. */
const openSessions = new Set<ChildProcess>();
let endSessionsAtExit = false;

/** Start a tool that takes requests on stdin (argv array, no shell), as an InteractiveProcess. */
function openSession(tool: string, argv: readonly string[], options: OpenOptions = {}): InteractiveProcess {
  let child: ChildProcess;
  try {
    child = spawn(tool, [...argv], { shell: false, env: { ...process.env, LC_ALL: 'C', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (cause) {
    throw new ToolError({ tool, argv, missing: isMissing(cause), cause });
  }
  if (!endSessionsAtExit) {
    endSessionsAtExit = true;
    process.once('exit', () => {
      for (const c of openSessions) c.kill('SIGTERM');
    });
  }
  openSessions.add(child);
  const exited = new Promise<{ exitCode: number | undefined; signal: string | undefined }>((resolve) => {
    const done = (exitCode: number | null | undefined, signal: NodeJS.Signals | null | undefined) => {
      openSessions.delete(child);
      resolve({ exitCode: exitCode ?? undefined, signal: signal ?? undefined });
    };
    // A tool that cannot be started (not installed) reports 'error' with no pid: no exit code.
    // Another 'error' (a kill that failed) leaves the process running: it settles nothing.
    child.on('error', () => {
      if (child.pid === undefined) done(undefined, undefined);
    });
    // 'close', not 'exit': the last output (an error message before virsh gave up) has arrived.
    child.once('close', done);
  });
  // An idle session must never keep vmkeep alive: not the process, not its pipes. A command in
  // flight keeps the event loop going through its own timeout timer; at exit it is ended above.
  // A write to a process that just died, or a pipe that fails, must not crash vmkeep: the exit
  // is reported instead.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    stream?.on('error', () => undefined);
    unrefHandle(stream);
  }
  return {
    pid: child.pid,
    write(text) {
      if (child.stdin && !child.stdin.destroyed) child.stdin.write(text);
    },
    onOutput(onStdout, onStderr) {
      child.stdout?.setEncoding('utf8');
      child.stderr?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => onStdout(chunk));
      child.stderr?.on('data', (chunk: string) => onStderr(chunk));
    },
    exited,
    close() {
      // End of input is the normal way out (the tool disconnects cleanly); SIGTERM if it lingers,
      // SIGKILL if even that is not enough.
      child.stdin?.end();
      setTimeout(() => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        }, 5_000).unref();
      }, 2_000).unref();
    },
  };
}

/** Let the event loop end while this pipe is open (a pipe to a child is a net.Socket). */
function unrefHandle(stream: unknown): void {
  const handle = stream as { unref?: () => void } | null | undefined;
  handle?.unref?.();
}

function isMissing(cause: unknown): boolean {
  return typeof cause === 'object' && cause !== null && (cause as { code?: string }).code === 'ENOENT';
}
