/** What a command hands back to the CLI: a document for --json/--yaml, text for people, an outcome. */
import type { ErrorCode } from '../errors.js';

export interface CommandResult {
  /** Serialised as-is with --json / --yaml. Sizes are numbers. */
  document: unknown;
  /** Rendered for people (stdout) when neither --json nor --yaml is given. */
  text: string;
  /** 'ok' or the error code whose exit status ends the run (partial, failure...). */
  outcome: 'ok' | ErrorCode;
}

/** Outcome for a set of per-item results: ok if all ok, partial if some, failure if none. */
export function outcomeOf(okCount: number, total: number): 'ok' | ErrorCode {
  if (okCount === total) return 'ok';
  return okCount === 0 ? 'failure' : 'partial';
}
