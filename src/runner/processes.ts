/**
 * Processes vmkeep did not start directly but must still end: a tool's daemon that forked away
 * from it (virtnbdrestore's `qemu-nbd --fork` is reparented to init, so the runner never sees
 * it). They are found by an argument only this run gave them (a socket path in a private
 * folder), never by name: other runs, and other people's QEMU processes, share the host.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The pids (other than vmkeep's own) whose command line has `arg` as one whole argument. */
export function findProcessesWithArg(arg: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return []; // no procfs: nothing can be found this way
  }
  const out: number[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
    } catch {
      continue; // ended meanwhile, or not ours to read
    }
    if (cmdline.split('\0').some((a) => a === arg || a === `--socket=${arg}`)) out.push(pid);
  }
  return out;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers signal 0: it has ended all the same.
  try {
    return !/^\S+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitGone(pids: readonly number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = alive.filter(isAlive);
  }
  return alive;
}

/**
 * End these processes: first give them `graceMs` to end on their own, then SIGTERM (a clean
 * shutdown for qemu-nbd: it flushes and closes the image), then SIGKILL. Returns the pids that
 * had to be signalled. SIGCONT follows SIGTERM: a stopped process (^Z, a debugger, a frozen
 * job) holds SIGTERM pending until it runs again, and would otherwise only ever meet SIGKILL.
 */
export async function endProcesses(pids: readonly number[], options: { graceMs?: number; termMs?: number } = {}): Promise<number[]> {
  let alive = await waitGone(pids, options.graceMs ?? 0);
  const signalled = [...alive];
  for (const pid of alive) {
    signal(pid, 'SIGTERM');
    signal(pid, 'SIGCONT');
  }
  alive = await waitGone(alive, options.termMs ?? 5_000);
  for (const pid of alive) signal(pid, 'SIGKILL');
  await waitGone(alive, 5_000);
  return signalled;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
