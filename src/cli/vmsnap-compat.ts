/**
 * VMSnap's command line selects the command with a flag (`--status`, `--backup`, `--scrub`).
 * Existing cron lines must keep working, so such an argv is rewritten to vmkeep's command form
 * before yargs sees it.
 */
import { usageError } from '../errors.js';

const FLAG_COMMANDS = ['status', 'backup', 'scrub'] as const;

/** Global options whose value may follow as the next argument (`--output DIR`). */
const VALUE_OPTIONS = new Set(['--connect', '-c', '--output', '--groupBy', '--scrubType', '--checkpointName', '--config']);
/** Boolean options VMSnap's lines give a separate value (`--prune true`). */
const BOOLEAN_VALUE_OPTIONS = new Set(['--prune', '--raw']);
/** Array options: yargs gives them every following argument up to the next option. */
const ARRAY_OPTIONS = new Set(['--domains']);
/** Arguments that ask yargs itself for something: no default command for them. */
const SELF_ANSWERED = new Set(['--help', '-h', '--version']);

/** The first argument that is neither an option nor an option's value: the command, if any. */
function firstPositional(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return argv[i + 1];
    if (!arg.startsWith('-')) return arg;
    if (arg.includes('=')) continue;
    if (VALUE_OPTIONS.has(arg)) i += 1;
    else if (BOOLEAN_VALUE_OPTIONS.has(arg) && /^(true|false|1|0|yes|no|on|off)$/i.test(argv[i + 1] ?? '')) i += 1;
    else if (ARRAY_OPTIONS.has(arg)) while (i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) i += 1;
  }
  return undefined;
}

/**
 * VMSnap's forms → vmkeep's command form:
 * - `vmkeep --domains=vm1 --status --json` → `vmkeep status --domains=vm1 --json`;
 * - no command and no `--backup`/`--scrub`: status, as VMSnap does (`vmkeep --domains=vm1 --json`).
 */
export function rewriteVmsnapArgv(argv: readonly string[], commands: readonly string[]): string[] {
  const first = firstPositional(argv);
  if (first !== undefined && commands.includes(first)) return [...argv];
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
  if (chosen.length === 0) {
    // An unknown word is left for yargs to reject; help and version are yargs's to answer.
    if (first !== undefined || argv.some((a) => SELF_ANSWERED.has(a))) return [...argv];
    return ['status', ...rest];
  }
  // Several flags at once (VMSnap allowed it) run nothing twice: the first wins, the rest is an error upstream.
  return [...chosen.slice(0, 1), ...rest, ...chosen.slice(1).map((c) => `--${c}`)];
}

/** Backup-only options a VMSnap status line may carry (its README: test with --status, then swap in --backup). */
const BACKUP_ONLY = new Set(['groupBy', 'prune', 'raw']);
const BOOLEAN_WORDS = /^(true|false|1|0|yes|no|on|off)$/i;

/**
 * For `status`, drop the backup-only options (`--groupBy`, `--prune`, `--raw`, with their values)
 * so that a VMSnap line tried with `--status` runs as it will with `--backup`; returns what was
 * dropped, for `--verbose` to say. Other commands' argv is returned as it is.
 */
export function dropBackupOnlyForStatus(argv: readonly string[], commands: readonly string[]): { args: string[]; ignored: string[] } {
  if (firstPositional(argv) !== 'status' || !commands.includes('status')) return { args: [...argv], ignored: [] };
  const args: string[] = [];
  const ignored: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const m = /^--(?:no-)?([A-Za-z-]+)(=.*)?$/.exec(arg);
    if (!m || !BACKUP_ONLY.has(m[1]!)) {
      args.push(arg);
      continue;
    }
    ignored.push(`--${m[1]}`);
    if (m[2] !== undefined || arg.startsWith('--no-')) continue;
    const next = argv[i + 1];
    // --groupBy takes a word; --prune/--raw may be followed by true/false (`--prune true`).
    if (next !== undefined && !next.startsWith('-') && (m[1] === 'groupBy' || BOOLEAN_WORDS.test(next))) i += 1;
  }
  return { args, ignored: [...new Set(ignored)] };
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
