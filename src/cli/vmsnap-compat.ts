/**
 * VMSnap's command line selects the command with a flag (`--status`, `--backup`, `--scrub`).
 * Existing cron lines must keep working, so such an argv is rewritten to vmkeep's command form
 * before yargs sees it.
 */
import { usageError } from '../errors.js';

export const COMMANDS = ['status', 'backup', 'scrub', 'list', 'restore', 'verify', 'prune', 'protect', 'unprotect'] as const;
const FLAG_COMMANDS = ['status', 'backup', 'scrub'] as const;

/** `vmkeep --domains=vm1 --status --json` → `vmkeep status --domains=vm1 --json`. */
export function rewriteVmsnapArgv(argv: readonly string[]): string[] {
  const first = argv.find((a) => !a.startsWith('-'));
  const hasCommand = first !== undefined && (COMMANDS as readonly string[]).includes(first);
  if (hasCommand) return [...argv];
  const chosen: string[] = [];
  const rest: string[] = [];
  for (const arg of argv) {
    const m = /^--(status|backup|scrub)(?:=(true|false|1|0))?$/.exec(arg);
    if (m && (FLAG_COMMANDS as readonly string[]).includes(m[1]!)) {
      if (m[2] === undefined || m[2] === 'true' || m[2] === '1') chosen.push(m[1]!);
      continue;
    }
    rest.push(arg);
  }
  if (chosen.length === 0) return [...argv];
  // Several flags at once (VMSnap allowed it) run nothing twice: the first wins, the rest is an error upstream.
  return [...chosen.slice(0, 1), ...rest, ...chosen.slice(1).map((c) => `--${c}`)];
}

/**
 * VMSnap prunes on `--prune=false` (string truthiness). vmkeep reads `--prune=false`,
 * `--prune false` and `--no-prune` as "do not prune".
 */
export function parseBooleanFlag(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  const s = String(value).trim().toLowerCase();
  if (['false', '0', 'no', 'off', ''].includes(s)) return false;
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  throw usageError(`not a yes/no value: ${JSON.stringify(String(value))} (use true or false)`);
}
