/** Human log lines go to stderr, so stdout stays clean for --json/--yaml documents. */

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** Shown with --verbose only. */
  debug(message: string): void;
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
