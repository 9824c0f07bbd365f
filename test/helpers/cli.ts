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

/** argv array in, no shell; `env` is merged over the current environment. */
export function runVmkeep(args: readonly string[], options: { env?: Record<string, string>; timeoutMs?: number; bin?: string } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [options.bin ?? VMKEEP_BIN, ...args],
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
