/**
 * Human log lines go to stderr, so stdout stays clean for --json/--yaml documents. A run's
 * logger can also append every line to a file and send it to syslog, each line carrying the
 * run id; --log-json makes every line one JSON object.
 */

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** Shown with --verbose only. */
  debug(message: string): void;
  /**
   * The same lines without the terminal: the log file and syslog only. Progress bars draw their
   * own terminal lines and pass them here, so the file never holds a bar and never misses a line.
   */
  sideOnly?: Logger;
}

/** A logger writing to a stream (stderr in the CLI). */
export function createLogger(write: (line: string) => void, verbose: boolean, quiet = false): Logger {
  return {
    info: (m) => {
      if (!quiet) write(`${m}\n`);
    },
    warn: (m) => write(`warning: ${m}\n`),
    debug: (m) => {
      if (verbose) write(`debug: ${m}\n`);
    },
  };
}

/** A logger that keeps lines in memory (tests). */
export function createMemoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(m),
    warn: (m) => lines.push(`warning: ${m}`),
    debug: (m) => lines.push(`debug: ${m}`),
  };
}

export type LogLevel = 'info' | 'warning' | 'debug';

/** Where else a run's lines go besides stderr. */
export interface LogSink {
  write(level: LogLevel, message: string, time: Date): void;
  /** Wait until every line is out (syslog sends are asynchronous). */
  close(): Promise<void>;
}

export interface RunLoggerOptions {
  stderr: (text: string) => void;
  verbose: boolean;
  /** --quiet: no info lines on stderr (warnings still are); files and syslog get everything. */
  quiet: boolean;
  /** --log-json: one JSON object per line, on stderr and in the log file. */
  json: boolean;
  runId: string;
  sinks: readonly LogSink[];
  /** Applied to every message before it goes anywhere (secret masking). */
  mask?: (message: string) => string;
  clock?: () => Date;
}

export interface RunLogger extends Logger {
  close(): Promise<void>;
}

/** One JSON log line (no newline). */
export function formatJsonLine(level: LogLevel, message: string, time: Date, runId: string): string {
  return JSON.stringify({ time: time.toISOString(), level, runId, message });
}

/** One text line for a file: time, run id, level, message (no newline). */
export function formatFileLine(level: LogLevel, message: string, time: Date, runId: string): string {
  return `${time.toISOString()} vmkeep[${runId}] ${level}: ${message}`;
}

/** The CLI's logger for one run: stderr plus the configured sinks, every line masked. */
export function createRunLogger(options: RunLoggerOptions): RunLogger {
  const mask = options.mask ?? ((m: string) => m);
  const clock = options.clock ?? (() => new Date());
  const side = (level: LogLevel, raw: string) => {
    if (level === 'debug' && !options.verbose) return;
    const m = mask(raw);
    const t = clock();
    for (const s of options.sinks) s.write(level, m, t);
  };
  const terminal = (level: LogLevel, raw: string) => {
    if (level === 'debug' && !options.verbose) return;
    if (level === 'info' && options.quiet) return;
    const m = mask(raw);
    if (options.json) options.stderr(`${formatJsonLine(level, m, clock(), options.runId)}\n`);
    else options.stderr(`${level === 'info' ? '' : `${level}: `}${m}\n`);
  };
  const sideOnly: Logger = {
    info: (m) => side('info', m),
    warn: (m) => side('warning', m),
    debug: (m) => side('debug', m),
  };
  return {
    info: (m) => (terminal('info', m), side('info', m)),
    warn: (m) => (terminal('warning', m), side('warning', m)),
    debug: (m) => (terminal('debug', m), side('debug', m)),
    sideOnly,
    close: async () => {
      await Promise.all(options.sinks.map((s) => s.close()));
    },
  };
}
