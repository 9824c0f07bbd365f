/**
 * The one door to external tools. This is the only module that imports execa.
 *
 * Arguments are always arrays; no shell is ever involved, so a domain name or a path with
 * spaces or metacharacters reaches the tool as one literal argument.
 */
import { execa, type ResultPromise } from 'execa';
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

/** What the rest of vmkeep sees of external tools. */
export interface Runner {
  run(tool: string, argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

export const DEFAULT_TIMEOUT_MS = 120_000;

/** The real runner: execa with argv arrays, a timeout per call, and ToolError on failure. */
export function createExecaRunner(): Runner {
  return {
    async run(tool, argv, options = {}) {
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
  };
}

function isMissing(cause: unknown): boolean {
  return typeof cause === 'object' && cause !== null && (cause as { code?: string }).code === 'ENOENT';
}
