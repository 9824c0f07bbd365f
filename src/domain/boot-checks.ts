/**
 * The checks `verify --boot` runs against a booting verify domain, and how they are written on
 * the command line and in the config:
 * - `agent`: the guest agent answers `guest-ping`;
 * - `console:REGEX`: the serial console's log matches REGEX (`console` alone: a login prompt);
 * - `exec:CMD ARGS`: CMD runs in the guest through `guest-exec` and exits 0; its output is kept.
 *   The words are split like a shell would split them (quotes group, nothing is expanded), and
 *   the guest agent runs the program itself: no shell in the guest either, unless CMD is one.
 * Every check must pass before one deadline (`--boot-timeout`).
 */
import { readFile } from 'node:fs/promises';
import { ToolError, VmkeepError, usageError } from '../errors.js';
import type { VirshClient } from '../virsh/client.js';

export type BootCheck = { kind: 'agent' } | { kind: 'console'; pattern: string } | { kind: 'exec'; argv: readonly string[] };

/** What `console` alone waits for: a getty's or busybox's login prompt, or a shell's. */
export const DEFAULT_CONSOLE_PATTERN = 'login:|Please press Enter to activate this console|[#$] $';

export interface BootCheckResult {
  check: string;
  ok: boolean;
  /** Milliseconds from start to the check passing (or giving up). */
  ms: number;
  /** Why it failed, in vmkeep's words. */
  reason?: string;
  /** exec: the program's exit code, stdout and stderr (guest output, kept as text). */
  exitCode?: number;
  stdout?: string;
  stderr?: string;
}

/** A check as written on the command line. */
export function formatBootCheck(check: BootCheck): string {
  if (check.kind === 'agent') return 'agent';
  if (check.kind === 'console') return `console:${check.pattern}`;
  return `exec:${check.argv.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'"'"'`)}'`)).join(' ')}`;
}

/** Read one `--check` value; a usage error names what is wrong with it. */
export function parseBootCheck(text: string): BootCheck {
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? undefined : text.slice(colon + 1);
  if (kind === 'agent') {
    if (rest !== undefined && rest !== '') throw usageError(`--check agent takes no value: ${JSON.stringify(text)}`);
    return { kind: 'agent' };
  }
  if (kind === 'console') {
    const pattern = rest === undefined || rest === '' ? DEFAULT_CONSOLE_PATTERN : rest;
    try {
      new RegExp(pattern, 'm');
    } catch (e) {
      throw usageError(`--check console:REGEX: ${JSON.stringify(pattern)} is not a regular expression (${(e as Error).message})`);
    }
    return { kind: 'console', pattern };
  }
  if (kind === 'exec') {
    const argv = splitWords(rest ?? '');
    if (argv === undefined) throw usageError(`--check exec:CMD ARGS: cannot read the words of ${JSON.stringify(rest)} (a quote is not closed)`);
    if (argv.length === 0 || argv[0] === '') throw usageError('--check exec: needs a program to run in the guest, as in exec:/usr/bin/pg_isready');
    return { kind: 'exec', argv };
  }
  throw usageError(`--check ${JSON.stringify(text)}: unknown kind ${JSON.stringify(kind)}; use agent, console:REGEX or exec:CMD ARGS`);
}

/**
 * Split words like a POSIX shell without expanding anything: blanks separate, '…' is literal,
 * "…" is literal but for \" and \\, a backslash outside quotes takes the next character.
 * undefined when a quote is left open or the text ends in a lone backslash.
 */
export function splitWords(text: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word += text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && (text[j + 1] === '"' || text[j + 1] === '\\')) j++;
        word += text[j];
      }
      if (j >= text.length) return undefined;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= text.length) return undefined;
      word += text[++i];
    } else {
      word += c;
    }
  }
  if (inWord) words.push(word);
  return words;
}

export interface RunBootChecksRequest {
  virsh: VirshClient;
  domain: string;
  serialLog: string;
  checks: readonly BootCheck[];
  /** Date.now() when the guest was started: times are counted from it. */
  startedAt: number;
  /** Date.now() by which every check must have passed. */
  deadline: number;
  signal: AbortSignal;
}

export interface BootChecksOutcome {
  results: BootCheckResult[];
  /** Milliseconds from start to the first answer from the guest (agent or console match); undefined when none. */
  firstAnswerMs: number | undefined;
}

/** Run the checks in order against the running domain, each until it passes or the deadline. */
export async function runBootChecks(req: RunBootChecksRequest): Promise<BootChecksOutcome> {
  const t0 = req.startedAt;
  let firstAnswerMs: number | undefined;
  const answered = () => (firstAnswerMs ??= Date.now() - t0);
  const results: BootCheckResult[] = [];
  const seconds = () => Math.max(1, Math.round((req.deadline - t0) / 1000));
  for (const check of req.checks) {
    const name = formatBootCheck(check);
    let result: BootCheckResult;
    if (check.kind === 'console') {
      const re = new RegExp(check.pattern, 'm');
      const ok = await pollUntil(req, async () => re.test(await readText(req.serialLog)));
      if (ok) answered();
      result = ok
        ? { check: name, ok, ms: Date.now() - t0 }
        : { check: name, ok, ms: Date.now() - t0, reason: `the console did not match ${check.pattern} in ${seconds()} s` };
    } else {
      const ok = await pollUntil(req, () => pingAgent(req.virsh, req.domain));
      if (ok) answered();
      if (!ok) result = { check: name, ok, ms: Date.now() - t0, reason: `no answer from the guest agent in ${seconds()} s` };
      else if (check.kind === 'agent') result = { check: name, ok, ms: Date.now() - t0 };
      else result = await execInGuest(req, check.argv, name, t0);
    }
    results.push(result);
    // The first failure already used up the deadline or says why: later checks are not run.
    if (!result.ok) break;
  }
  return { results, firstAnswerMs };
}

async function execInGuest(req: RunBootChecksRequest, argv: readonly string[], name: string, t0: number): Promise<BootCheckResult> {
  let pid: number;
  try {
    const started = (await req.virsh.agent(req.domain, 'guest-exec', { path: argv[0], arg: argv.slice(1), 'capture-output': true }, 10)) as { pid?: unknown };
    if (typeof started?.pid !== 'number') throw new VmkeepError('failure', 'guest-exec gave no pid');
    pid = started.pid;
  } catch (e) {
    return { check: name, ok: false, ms: Date.now() - t0, reason: `the guest agent could not run ${argv[0]}: ${agentErrorText(e)}` };
  }
  for (;;) {
    let status: { exited?: boolean; exitcode?: number; signal?: number; 'out-data'?: string; 'err-data'?: string };
    try {
      status = (await req.virsh.agent(req.domain, 'guest-exec-status', { pid }, 10)) as typeof status;
    } catch (e) {
      return { check: name, ok: false, ms: Date.now() - t0, reason: `the guest agent stopped answering while ${argv[0]} ran: ${agentErrorText(e)}` };
    }
    if (status.exited) {
      const exitCode = status.exitcode ?? 128 + (status.signal ?? 0);
      const stdout = Buffer.from(status['out-data'] ?? '', 'base64').toString('utf8');
      const stderr = Buffer.from(status['err-data'] ?? '', 'base64').toString('utf8');
      const ok = exitCode === 0;
      return {
        check: name,
        ok,
        ms: Date.now() - t0,
        exitCode,
        stdout,
        stderr,
        ...(ok ? {} : { reason: `${argv[0]} exited ${exitCode} in the guest${stderr.trim() ? `: ${lastLine(stderr)}` : ''}` }),
      };
    }
    if (Date.now() >= req.deadline || req.signal.aborted) {
      return { check: name, ok: false, ms: Date.now() - t0, reason: `${argv[0]} did not finish in the guest within the boot timeout` };
    }
    await sleep(200);
  }
}

async function pingAgent(virsh: VirshClient, domain: string): Promise<boolean> {
  try {
    await virsh.agent(domain, 'guest-ping', undefined, 2);
    return true;
  } catch (e) {
    if (e instanceof ToolError) return false;
    throw e;
  }
}

/** Ask `ok` every half second until it says yes, the deadline passes or the run is cancelled. */
async function pollUntil(req: RunBootChecksRequest, ok: () => Promise<boolean>): Promise<boolean> {
  for (;;) {
    req.signal.throwIfAborted();
    if (await ok()) return true;
    if (Date.now() >= req.deadline) return false;
    await sleep(500);
  }
}

async function readText(file: string): Promise<string> {
  return readFile(file, 'utf8').catch(() => '');
}

function agentErrorText(e: unknown): string {
  const text = e instanceof ToolError ? e.stderr : e instanceof Error ? e.message : String(e);
  return lastLine(text.replace(/^error:\s*/gm, ''));
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .at(-1) ?? ''
  ).slice(0, 300);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
