/** Run one hook through the Runner: argv only, a timeout, output to the log, an outcome back. */
import type { Logger } from '../util/log.js';
import type { Runner } from '../runner/runner.js';
import { usageError } from '../errors.js';
import type { HookSpec } from '../config/schema.js';

export type HookPhase = 'pre-run' | 'post-run' | 'pre-domain' | 'post-domain' | 'on-error';

export const DEFAULT_HOOK_TIMEOUT_MS = 300_000;

/** What a hook is told; empty values are passed as empty strings so a hook can rely on the names. */
export interface HookEnv {
  phase: HookPhase;
  runId: string;
  output: string;
  domain?: string;
  chainDir?: string;
  level?: string;
  result?: string;
  error?: string;
}

export interface HookOutcome {
  phase: HookPhase;
  argv: string[];
  ok: boolean;
  /** Why it failed (exit code, timeout), in vmkeep's words. */
  error?: string;
  durationMs: number;
}

/**
 * Split a command string into words the way a user expects without any shell: whitespace
 * separates, single and double quotes group, a backslash escapes the next character. No
 * variables, globs, pipes or redirections: those need `shell: true`.
 */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw usageError(`hook command has an unclosed ${quote} quote: ${text}`);
  if (inWord) words.push(cur);
  return words;
}

/** The argv a hook runs and its timeout. */
export function hookArgv(hook: HookSpec): { argv: string[]; timeoutMs: number } {
  const spec = typeof hook === 'string' || Array.isArray(hook) ? { command: hook } : hook;
  const timeoutMs = Math.round((('timeout' in spec ? spec.timeout : undefined) ?? DEFAULT_HOOK_TIMEOUT_MS / 1000) * 1000);
  const shell = 'shell' in spec && spec.shell === true;
  if (shell) return { argv: ['/bin/sh', '-c', String(spec.command)], timeoutMs };
  const argv = Array.isArray(spec.command) ? [...spec.command] : splitWords(spec.command);
  if (argv.length === 0 || argv[0] === '') throw usageError('a hook needs a program to run');
  return { argv, timeoutMs };
}

function envOf(env: HookEnv): Record<string, string> {
  return {
    VMKEEP_PHASE: env.phase,
    VMKEEP_RUN_ID: env.runId,
    VMKEEP_OUTPUT: env.output,
    VMKEEP_DOMAIN: env.domain ?? '',
    VMKEEP_CHAIN_DIR: env.chainDir ?? '',
    VMKEEP_LEVEL: env.level ?? '',
    VMKEEP_RESULT: env.result ?? '',
    VMKEEP_ERROR: env.error ?? '',
  };
}

/** Run a hook; never throws for the hook's own failure (the caller decides what it means). */
export async function runHook(runner: Runner, log: Logger, hook: HookSpec, env: HookEnv, signal?: AbortSignal): Promise<HookOutcome> {
  const { argv, timeoutMs } = hookArgv(hook);
  const who = env.domain ? `${env.domain}: ${env.phase} hook` : `${env.phase} hook`;
  const started = Date.now();
  log.info(`${who}: running ${JSON.stringify(argv)}`);
  try {
    const r = await runner.run(argv[0]!, argv.slice(1), { timeoutMs, env: envOf(env), ...(signal ? { cancelSignal: signal } : {}) });
    logOutput(log, who, r.stdout, r.stderr);
    return { phase: env.phase, argv, ok: true, durationMs: Date.now() - started };
  } catch (e) {
    const err = e as {
      stdout?: unknown;
      stderr?: unknown;
      timedOut?: boolean;
      exitCode?: number;
      signal?: string;
      tool?: string;
      code?: string;
      message?: string;
    };
    logOutput(log, who, '', typeof err.stderr === 'string' ? err.stderr : '');
    const why = err.timedOut
      ? `timed out after ${timeoutMs / 1000} s and was killed`
      : err.code === 'tool-missing'
        ? `program ${argv[0]} not found`
        : err.signal
          ? `killed by ${err.signal}`
          : err.exitCode !== undefined
            ? `exited ${err.exitCode}`
            : (err.message ?? String(e));
    log.warn(`${who} failed: ${why}`);
    return { phase: env.phase, argv, ok: false, error: `${env.phase} hook ${why}`, durationMs: Date.now() - started };
  }
}

function logOutput(log: Logger, who: string, stdout: string, stderr: string): void {
  for (const line of stdout.split('\n')) if (line.trim() !== '') log.info(`${who}: ${line}`);
  for (const line of stderr.split('\n')) if (line.trim() !== '') log.info(`${who} (stderr): ${line}`);
}
