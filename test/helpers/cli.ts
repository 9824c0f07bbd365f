/** Run the built CLI (bin/vmkeep → dist/) as a user would, capturing exit code and output. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const VMKEEP_BIN = fileURLToPath(new URL('../../bin/vmkeep', import.meta.url));
/** VMSnap's command name for the same program (package.json bin). */
export const VMSNAP_BIN = fileURLToPath(new URL('../../bin/vmsnap', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The integration scenarios were written for the virtnbdbackup engine (stream files, virtnbdrestore
 * reference checks). Since the default became `--engine auto` (push for a new local chain), a
 * `vmkeep backup` without --engine gets `--engine virtnbdbackup` here, said once for all of them;
 * a test of auto itself passes `engine: 'auto'` and gets the line as written.
 */
export function withTestEngine(args: readonly string[], bin: string | undefined, engine: 'auto' | undefined): readonly string[] {
  if (engine === 'auto' || (bin ?? VMKEEP_BIN) !== VMKEEP_BIN || args[0] !== 'backup') return args;
  if (args.some((a) => a === '--engine' || a.startsWith('--engine='))) return args;
  return ['backup', '--engine', 'virtnbdbackup', ...args.slice(1)];
}

/** argv array in, no shell; `env` is merged over the current environment. */
export function runVmkeep(
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number; bin?: string; engine?: 'auto' } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [options.bin ?? VMKEEP_BIN, ...withTestEngine(args, options.bin, options.engine)],
      { env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 600_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Parse stdout as JSON, failing the test with the output when it is not. */
export function parseJsonOutput<T = unknown>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${run.code}):\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
}
