/**
 * What went wrong, in vmkeep's words. virtnbdbackup and virsh end a failed run with a Python
 * traceback or a libvirt error; an admin reading a failure at 3 a.m. needs what happened to which
 * domain and folder and what to do. The tool's own text stays available as `detail` (shown with
 * --verbose and in --json).
 */
import prettyBytes from 'pretty-bytes';
import { ToolError, VmkeepError, type ErrorCode, messageOf } from '../errors.js';

/** The kinds of failure vmkeep tells apart. */
export type FailureKind = 'no-space' | 'domain-gone' | 'permission' | 'timeout' | 'lock' | 'engine-missing' | 'engine-too-old' | 'other';

/** The patterns, most specific first. Matched against a tool's stderr and an error's message. */
const PATTERNS: ReadonlyArray<readonly [Exclude<FailureKind, 'other' | 'domain-gone'>, RegExp]> = [
  ['no-space', /No space left on device|ENOSPC|Errno 28\b|Disk quota exceeded|EDQUOT/i],
  ['engine-too-old', /unrecognized arguments|invalid choice|no such option/i],
  [
    'lock',
    /cannot acquire state change lock|Failed to get ".*" lock|is locked by|another job is running|job .* already|already in use|Is another process using the image/i,
  ],
  ['permission', /Permission denied|EACCES|Errno 13\b|Operation not permitted|EPERM|Read-only file system|EROFS/i],
  ['timeout', /timed out|Timed out/],
];

/** Text that says the domain or its QEMU went away (checked after the patterns above). */
const DOMAIN_GONE =
  /Domain not found|domain is not running|no domain with matching|failed to get domain|qemu unexpectedly closed the monitor|monitor (was )?closed|End of file while reading data|Connection reset by peer|Broken pipe|Unable to connect to NBD|Failed to connect to NBD/i;

/** Classify a failure from the text it left (stderr and message). Pure. */
export function classifyFailureText(text: string): FailureKind {
  for (const [kind, re] of PATTERNS) if (re.test(text)) return kind;
  if (DOMAIN_GONE.test(text)) return 'domain-gone';
  return 'other';
}

/** The text a failure left: a tool's stderr and the error messages down its cause chain. */
export function failureText(error: unknown): string {
  const parts: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth += 1) {
    // A tool's message repeats its argv (URIs, domain and folder names): classify its stderr only.
    if (e instanceof ToolError) parts.push(e.stderr);
    if (e instanceof Error) {
      if (!(e instanceof ToolError)) parts.push(e.message);
      const code = (e as NodeJS.ErrnoException).code;
      if (typeof code === 'string') parts.push(code);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join('\n');
}

/** Classify an error thrown during a backup (tool failure, file system error...). */
export function classifyFailure(error: unknown): FailureKind {
  if (error instanceof VmkeepError && error.code === 'tool-missing') return 'engine-missing';
  if (error instanceof ToolError && error.timedOut) return 'timeout';
  return classifyFailureText(failureText(error));
}

/** Failures already put in vmkeep's words where they happened (an engine's own diagnosis). */
const explained = new WeakSet<object>();

/** Mark an error as already in vmkeep's words: explainFailure passes it on unchanged. */
export function markExplained<E extends object>(error: E): E {
  explained.add(error);
  return error;
}

/** What vmkeep knew when the failure happened, to say it precisely. */
export interface FailureFacts {
  domain: string;
  level: 'full' | 'inc';
  /** The folder the run wrote into. */
  folder: string;
  /** The domain's state when the run started and now ('missing' when libvirt no longer knows it). */
  stateBefore?: string;
  stateNow?: string;
  /** Bytes the run was expected to write, and free bytes in the folder (when known). */
  neededBytes?: number;
  freeBytes?: number;
}

const bytes = (n: number) => prettyBytes(n, { binary: true });

/**
 * Turn a failure into one line in vmkeep's words, keeping the tool's text as detail. A failure
 * that is already vmkeep's own (an interruption, a lock held by another run, a refused plan) is
 * returned as it is.
 */
export function explainFailure(error: unknown, facts: FailureFacts): VmkeepError {
  if (error instanceof VmkeepError && !(error instanceof ToolError) && (error.code !== 'failure' || explained.has(error))) return error;
  const kind = classifyFailure(error);
  const base = messageOf(error);
  const detail = detailOf(error);
  const what = `the ${facts.level} backup of ${facts.domain}`;
  const stopped = facts.stateBefore !== undefined && facts.stateNow !== undefined && isLive(facts.stateBefore) && !isLive(facts.stateNow);
  let code: ErrorCode = 'failure';
  let message: string;
  switch (kind) {
    case 'no-space': {
      const need = facts.neededBytes !== undefined ? `it needs about ${bytes(facts.neededBytes)}` : undefined;
      const free = facts.freeBytes !== undefined ? `${bytes(facts.freeBytes)} ${facts.neededBytes !== undefined ? 'was' : 'is'} free` : undefined;
      const numbers = [need, free].filter(Boolean).join(', ');
      message = `no space left in ${facts.folder}: ${what} could not be written${numbers ? ` (${numbers})` : ''}; free space there or back up into another --output`;
      break;
    }
    case 'engine-missing':
      code = 'tool-missing';
      message = `${what} cannot run: ${base}`;
      break;
    case 'engine-too-old':
      message = `${what} failed: the installed virtnbdbackup does not accept the options vmkeep passes (too old or too new?); vmkeep supports 1.9.x and 2.x, see --verbose for what it said`;
      break;
    case 'permission':
      message = `${what} failed: cannot write ${facts.folder} or reach the domain's disks (permission denied or a read-only file system); run vmkeep as root and check that the folder is writable`;
      break;
    case 'timeout':
      message = `${what} failed: it timed out; the domain or libvirt did not answer in time`;
      break;
    case 'lock':
      message = `${what} failed: the domain or one of its images is busy (another job or program holds its lock); try again when it is done`;
      break;
    default:
      if (kind === 'domain-gone' || stopped) {
        const now =
          facts.stateNow === undefined ? 'in an unknown state' : facts.stateNow === 'missing' ? 'no longer defined in libvirt' : `now ${facts.stateNow}`;
        message = `domain ${facts.domain} stopped during ${what} (its QEMU process exited or it was shut down); it is ${now}. Recorded points are intact; run the backup again once the domain is back`;
      } else {
        message = `${what} failed: ${base}`;
      }
  }
  return new VmkeepError(code, message, { detail, cause: error });
}

function isLive(state: string): boolean {
  return state === 'running' || state === 'paused';
}

function detailOf(error: unknown): string | undefined {
  if (error instanceof VmkeepError && error.detail) return error.detail;
  if (error instanceof Error) return error.message;
  return error === undefined ? undefined : String(error);
}
