/** What a scrub run reports: the document run-scrub builds and render-scrub prints. */
import type { DomainState } from '../domain/types.js';
import type { ScrubActionResult } from '../domain/execute-scrub.js';

/** One action as the document shows it. */
export interface ScrubActionReport {
  action: ScrubActionResult['action'];
  target: string;
  disk?: string;
  reason: string;
  done: boolean;
  error?: string;
}

/** Checkpoints and bitmaps (per disk) a domain holds. */
export interface ScrubRemaining {
  checkpoints: string[];
  bitmaps: Record<string, string[]>;
}

/** The per-domain part of the document. */
export interface DomainScrubReport {
  /** 'unknown' when even the state could not be read. */
  state: DomainState | 'unknown';
  dryRun: boolean;
  actions: ScrubActionReport[];
  /** After the run: what the re-read found (null when it failed). In a dry run: what would be left. */
  remaining: ScrubRemaining | null;
  /** Everything the request asked to remove is gone (dry run: would be gone), and nothing failed. */
  ok: boolean;
  /** Why the domain could not be scrubbed or checked (read, plan or re-read failure; items left). */
  error?: string;
}

/** The CommandResult document: domain name → report. */
export type ScrubDocument = Record<string, DomainScrubReport>;
