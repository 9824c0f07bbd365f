/**
 * One long-lived `virsh` process that takes commands on stdin: one libvirt connection for many
 * commands (~1 ms each instead of ~45 ms for a new virsh process).
 *
 * Safety rests on three things:
 * - every argument is quoted by one function, quoteVirshArg, for virsh's own tokenizer (not a
 *   shell): `'…'` is literal and `'\''` is a quote. Arguments virsh's line reader would not pass
 *   through literally (newline, NUL, any control character) are never sent to a session; the
 *   client runs such a command as its own process instead (argv, no quoting at all).
 * - each reply is framed by a random per-run marker on stdout and on stderr, so no output of a
 *   command (a domain description, an error text) can end another command's reply early;
 * - readline, which virsh uses even on a pipe, is told by an inputrc not to complete, not to
 *   scroll long lines and not to touch 8-bit input, so the line virsh parses is the line written.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToolError } from '../errors.js';
import type { InteractiveProcess, Runner } from '../runner/runner.js';

/** The prompt virsh prints before reading each line, even with -q on a pipe. */
const PROMPT = 'virsh # ';

/** Can this argument go through a session's line unchanged? */
export function isSessionSafeArg(arg: string): boolean {
  // C0 controls (newline ends the line, TAB triggers readline completion, ESC starts key
  // sequences), DEL, and lone surrogates (not encodable as UTF-8) cannot.
  return !/[\u0000-\u001f\u007f]/.test(arg) && !/[\uD800-\uDFFF]/u.test(arg);
}

/** Quote one argument for virsh's tokenizer: single quotes, with `'\''` for a quote inside. */
function quoteVirshArg(arg: string): string {
  if (!isSessionSafeArg(arg)) {
    throw new ToolError({ tool: 'virsh', argv: [arg], stderr: 'argument holds a newline, NUL or control character' });
  }
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The line a session is sent for one command. */
function virshCommandLine(command: readonly string[]): string {
  return command.map(quoteVirshArg).join(' ');
}

const INPUTRC = [
  'set disable-completion on',
  'set horizontal-scroll-mode off',
  'set enable-bracketed-paste off',
  'set convert-meta off',
  'set input-meta on',
  'set output-meta on',
  'set echo-control-characters off',
  'set bell-style none',
  '',
].join('\n');

let sessionDir: string | undefined;
/** Pids of this process's virsh sessions that have not exited yet. */
const livePids = new Set<number>();

/**
 * At exit, a session told to end may still be writing its (empty) history into the folder:
 * removing the folder then fails with ENOTEMPTY, and a throw in an exit handler would print a
 * stack trace after vmkeep's own last line. So the sessions still there are ended first, the
 * removal retries, and a folder that still cannot go is left in /tmp rather than failing the run.
 */
function removeSessionFolder(dir: string): void {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  } catch {
    // left for the system's /tmp cleaning: nothing of it is needed any more
  }
}

/**
 * A private folder for the sessions, written once per vmkeep process and removed at exit: the
 * inputrc every session reads, and virsh's cache folder. An interactive virsh keeps a command
 * history in $XDG_CACHE_HOME/libvirt/virsh/history; vmkeep's commands (domain names included)
 * must not end up in root's history, so that file lands here and goes with the folder.
 */
function sessionFolder(): string {
  if (sessionDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'vmkeep-virsh-'));
    writeFileSync(join(dir, 'inputrc'), INPUTRC, { mode: 0o600 });
    process.once('exit', () => removeSessionFolder(dir));
    sessionDir = dir;
  }
  return sessionDir;
}

interface Pending {
  argv: readonly string[];
  marker: string;
  stdoutDone: boolean;
  stderrDone: boolean;
  stdout: string;
  stderr: string;
  timer: NodeJS.Timeout;
  resolve: (r: { stdout: string; stderr: string }) => void;
  reject: (e: unknown) => void;
}

/** One virsh process; runs one command at a time. */
export class VirshSession {
  private proc: InteractiveProcess | undefined;
  private outBuf = '';
  private errBuf = '';
  private pending: Pending | undefined;
  private previousMarker: string | undefined;
  private seq = 0;
  private readonly runId = randomBytes(6).toString('hex');
  /** Set once the process has ended (or was closed): the pool starts a new session. */
  dead = false;
  /** Set once the first reply came back: the process is up and connected. */
  ready = false;

  constructor(
    private readonly runner: Runner & { open: NonNullable<Runner['open']> },
    private readonly uri: string,
  ) {}

  /** Run one command (argv without `-c URI`); resolves with its stdout and stderr. */
  exec(command: readonly string[], fullArgv: readonly string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
    if (this.dead) return Promise.reject(new Error('virsh session already ended'));
    if (this.pending) return Promise.reject(new Error('virsh session is busy'));
    const line = virshCommandLine(command);
    this.ensureStarted();
    this.seq += 1;
    const marker = `vmkeep-${this.runId}-${this.seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending?.marker !== marker) return;
        this.pending = undefined;
        // A command that hangs holds the whole session: end it, the pool starts another.
        this.kill();
        reject(new ToolError({ tool: 'virsh', argv: fullArgv, timedOut: true, stderr: '' }));
      }, timeoutMs);
      this.pending = { argv: fullArgv, marker, stdoutDone: false, stderrDone: false, stdout: '', stderr: '', timer, resolve, reject };
      this.proc!.write(`${line}\necho '${marker}' 'END'\necho --err '${marker}' 'END'\n`);
      // Output may already be buffered (never in practice, but cheap to check).
      this.drain();
    });
  }

  /** The virsh process's pid once started. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** End the process (idempotent). */
  close(): void {
    this.kill();
  }

  private kill(): void {
    this.dead = true;
    this.proc?.close();
  }

  /** Start the process now rather than with the first command. */
  start(): void {
    this.ensureStarted();
  }

  private ensureStarted(): void {
    if (this.proc) return;
    const dir = sessionFolder();
    const proc = this.runner.open('virsh', ['-q', '-c', this.uri], {
      env: { INPUTRC: join(dir, 'inputrc'), XDG_CACHE_HOME: dir, VIRSH_HISTSIZE: '0', COLUMNS: '1000000', LINES: '1000', TERM: 'dumb' },
    });
    this.proc = proc;
    const pid = proc.pid;
    if (pid !== undefined) livePids.add(pid);
    proc.onOutput(
      (chunk) => {
        this.outBuf += chunk;
        this.drain();
      },
      (chunk) => {
        this.errBuf += chunk;
        this.drain();
      },
    );
    void proc.exited.then(({ exitCode, signal }) => {
      if (pid !== undefined) livePids.delete(pid);
      this.dead = true;
      const p = this.pending;
      if (!p) return;
      this.pending = undefined;
      clearTimeout(p.timer);
      p.reject(
        new ToolError({
          tool: 'virsh',
          argv: p.argv,
          exitCode,
          signal,
          stderr: `${p.stderr}${this.errBuf}\nthe virsh session ended while this command ran`,
        }),
      );
    });
  }

  private drain(): void {
    const p = this.pending;
    if (!p) return;
    if (!p.stdoutDone) {
      const end = this.outBuf.indexOf(`${p.marker} END`);
      if (end >= 0) {
        p.stdout = this.outBuf.slice(0, end);
        this.outBuf = this.outBuf.slice(end + p.marker.length + 4);
        p.stdoutDone = true;
      }
    }
    if (!p.stderrDone) {
      const endLine = `error: ${p.marker} END\n`;
      const end = this.errBuf.indexOf(endLine);
      if (end >= 0) {
        p.stderr = this.errBuf.slice(0, end);
        this.errBuf = this.errBuf.slice(end + endLine.length);
        p.stderrDone = true;
      }
    }
    if (!p.stdoutDone || !p.stderrDone) return;
    this.ready = true;
    this.pending = undefined;
    clearTimeout(p.timer);
    const previous = this.previousMarker;
    this.previousMarker = p.marker;
    const stdout = unframe(p.stdout, p.marker, previous);
    if (stdout === undefined) {
      // The reply did not have the shape every reply has: trust nothing more from this process.
      this.kill();
      p.reject(new ToolError({ tool: 'virsh', argv: p.argv, stderr: 'virsh session out of step; it was restarted' }));
      return;
    }
    if (/^error: /m.test(p.stderr)) {
      p.reject(new ToolError({ tool: 'virsh', argv: p.argv, exitCode: 1, stderr: p.stderr }));
      return;
    }
    p.resolve({ stdout, stderr: p.stderr });
  }
}

/**
 * Cut a command's own output out of its stdout frame:
 * [`virsh # echo --err 'PREV' 'END'\n`] `virsh # <command line>\n` OUTPUT `virsh # echo 'MARK' 'END'\n`.
 * A virsh process prints one more newline before it exits than a session prints after each
 * command: it is put back, so a session's reply is byte for byte what `virsh -c URI CMD` prints.
 */
function unframe(frame: string, marker: string, previousMarker: string | undefined): string | undefined {
  let rest = frame;
  if (previousMarker !== undefined) {
    const prevEcho = `${PROMPT}echo --err '${previousMarker}' 'END'\n`;
    if (!rest.startsWith(prevEcho)) return undefined;
    rest = rest.slice(prevEcho.length);
  }
  if (!rest.startsWith(PROMPT)) return undefined;
  const eol = rest.indexOf('\n');
  if (eol < 0) return undefined;
  rest = rest.slice(eol + 1);
  const tail = `${PROMPT}echo '${marker}' 'END'\n`;
  if (!rest.endsWith(tail)) return undefined;
  return `${rest.slice(0, rest.length - tail.length)}\n`;
}
