/**
 * Errors and exit codes, in one place.
 *
 * Every failure that reaches the user is a VmkeepError with a code; only the CLI entry turns a
 * code into a process exit code, through EXIT_CODE. Messages are one line; `detail` holds what
 * `--verbose` adds.
 */

/** What kind of failure ended (part of) a run. */
export type ErrorCode =
  | 'partial' // some requested items failed, others succeeded
  | 'failure' // the run failed
  | 'usage' // bad command line or bad input value
  | 'tool-missing' // a required external tool is not installed
  | 'locked' // another run holds the lock
  | 'interrupted' // SIGINT/SIGTERM
  | 'unknown'; // `vmkeep check` could not judge (Nagios UNKNOWN)

/** The one table from error code to process exit code (documented in README.md). */
export const EXIT_CODE: Readonly<Record<ErrorCode | 'ok', number>> = Object.freeze({
  ok: 0,
  partial: 1,
  failure: 2,
  usage: 64,
  'tool-missing': 69,
  locked: 75,
  interrupted: 130,
  // Nagios plugin convention: 0 OK, 1 WARNING (partial), 2 CRITICAL (failure), 3 UNKNOWN.
  unknown: 3,
});

export interface VmkeepErrorOptions {
  /** Extra lines shown with --verbose. */
  detail?: string;
  cause?: unknown;
}

/** A failure with a one-line message and a code that decides the exit status. */
export class VmkeepError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, options: VmkeepErrorOptions = {}) {
    super(oneLine(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VmkeepError';
    this.code = code;
    this.detail = options.detail;
  }
}

/** The message of anything thrown: an Error's own message, anything else as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Shorthand for a usage error (exit 64). */
export function usageError(message: string, detail?: string): VmkeepError {
  return new VmkeepError('usage', message, { detail });
}

/** Which Debian package provides each external tool, for the exit-69 message. */
const TOOL_PACKAGE: Readonly<Record<string, string>> = Object.freeze({
  virsh: 'libvirt-clients',
  'qemu-img': 'qemu-utils',
  virtnbdbackup: 'virtnbdbackup',
  virtnbdrestore: 'virtnbdbackup',
  restic: 'restic',
});

/** A failed external tool call: what was run, how it ended, and the tail of its stderr. */
export class ToolError extends VmkeepError {
  readonly tool: string;
  readonly argv: readonly string[];
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stderr: string;
  readonly timedOut: boolean;

  constructor(fields: {
    tool: string;
    argv: readonly string[];
    exitCode?: number | undefined;
    signal?: string | undefined;
    stderr?: string;
    timedOut?: boolean;
    missing?: boolean;
    cause?: unknown;
  }) {
    const stderr = trimStderr(fields.stderr ?? '');
    const how = fields.missing
      ? `not found (install the ${TOOL_PACKAGE[fields.tool] ?? fields.tool} package)`
      : fields.timedOut
        ? 'timed out'
        : fields.signal
          ? `killed by ${fields.signal}`
          : `exited ${fields.exitCode ?? '?'}`;
    const last = lastMeaningfulLine(stderr);
    const message = `${fields.tool} ${summarizeArgv(fields.argv)} ${how}${last ? `: ${last}` : ''}`;
    super(fields.missing ? 'tool-missing' : 'failure', message, {
      detail: stderr ? `argv: ${JSON.stringify([fields.tool, ...fields.argv])}\nstderr:\n${stderr}` : undefined,
      cause: fields.cause,
    });
    this.name = 'ToolError';
    this.tool = fields.tool;
    this.argv = Object.freeze([...fields.argv]);
    this.exitCode = fields.exitCode;
    this.signal = fields.signal;
    this.stderr = stderr;
    this.timedOut = fields.timedOut ?? false;
  }
}

/** Collapse whitespace so a message stays on one line. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

const STDERR_LIMIT = 4000;

function trimStderr(stderr: string): string {
  const t = stderr.trim();
  return t.length > STDERR_LIMIT ? `…${t.slice(-STDERR_LIMIT)}` : t;
}

function lastMeaningfulLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !/^\s*$/.test(l));
  // Prefer a line that says "error"; tools often end with a blank or a usage hint.
  const err = [...lines].reverse().find((l) => /error|fail|denied|not found|cannot|unable/i.test(l));
  const line = err ?? lines.at(-1) ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function summarizeArgv(argv: readonly string[]): string {
  const shown = argv.slice(0, 6).map((a) => (/[\s"'\\]/.test(a) || a === '' ? JSON.stringify(a) : a));
  const text = shown.join(' ') + (argv.length > 6 ? ' …' : '');
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** The exit code for an error thrown anywhere below the CLI. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof VmkeepError) return EXIT_CODE[error.code];
  return EXIT_CODE.failure;
}
