/**
 * The built CLI as a background process, for tests that interrupt a run (kill -9 of its process
 * group, SIGTERM/SIGINT) or race two runs. test/helpers/cli.ts runs it to completion instead.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VMKEEP_BIN, withTestEngine } from './cli.js';

export interface FinishedRun {
  /** Exit code; null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningVmkeep {
  pid: number;
  /** Settles when the process has exited. */
  finished: Promise<FinishedRun>;
  /** Send a signal to the process only. */
  signal(sig: NodeJS.Signals): void;
  /** kill -9 of the whole process group (vmkeep and every child it started). */
  killGroup(): void;
  /** What the process has written to stderr so far. */
  stderrSoFar(): string;
}

/** Start `vmkeep ARGS` in its own process group (so killGroup reaches its children too). */
export function startVmkeep(args: readonly string[], options: { env?: Record<string, string>; engine?: 'auto' } = {}): RunningVmkeep {
  const child = spawn(process.execPath, [VMKEEP_BIN, ...withTestEngine(args, undefined, options.engine)], {
    env: { ...process.env, ...options.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const finished = new Promise<FinishedRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  if (child.pid === undefined) throw new Error('vmkeep did not start');
  const pid = child.pid;
  return {
    pid,
    finished,
    signal: (sig) => process.kill(pid, sig),
    killGroup: () => process.kill(-pid, 'SIGKILL'),
    stderrSoFar: () => stderr,
  };
}

/** All files under `dir` ending in `.partial`, with sizes and inode numbers. */
export function partialFiles(dir: string): Array<{ file: string; size: number; ino: number; id: string }> {
  const out: Array<{ file: string; size: number; ino: number; id: string }> = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.partial')) {
        try {
          const st = fs.statSync(p);
          // A new file may get the inode number of one just deleted: its birth time tells them apart.
          out.push({ file: p, size: st.size, ino: st.ino, id: `${p}:${st.ino}:${st.birthtimeMs || st.ctimeMs}` });
        } catch {
          // renamed meanwhile
        }
      }
    }
  };
  walk(dir);
  return out;
}

/**
 * Wait until a new `.partial` data file under `dir` has grown past `minBytes` (the run is
 * copying data), polling every 5 ms. Files left by an earlier interrupted run do not count,
 * even when the new run's file has the same name. Fails if `run` ends first or after `timeoutMs`.
 * A run that must still be copying when the test acts needs its copy paced (withPacedDiskReads).
 */
export async function waitForPartial(dir: string, minBytes: number, run: RunningVmkeep, options: { timeoutMs?: number } = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  let ended: FinishedRun | undefined;
  void run.finished.then((r) => (ended = r));
  const old = new Set(partialFiles(dir).map((p) => p.id));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const hit = partialFiles(dir).find((p) => p.size >= minBytes && !old.has(p.id));
    if (hit) return hit.file;
    if (ended) {
      throw new Error(`vmkeep ended (exit ${ended.code}) before a .partial file reached ${minBytes} bytes:\n${ended.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no .partial file under ${dir} reached ${minBytes} bytes within ${timeoutMs} ms`);
}

/** Wait until `file` exists and holds a pid (a lock file written by a running vmkeep). */
export async function waitForLockHolder(file: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const text = fs.readFileSync(file, 'utf8').trim();
      if (/^\d+$/.test(text)) return Number(text);
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${file} held no pid within ${timeoutMs} ms`);
}
