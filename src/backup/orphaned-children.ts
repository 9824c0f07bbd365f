/**
 * Tool processes a backup starts that must not outlive vmkeep unnoticed. flock locks die with
 * vmkeep, but a kill -9 of vmkeep alone (the OOM killer) leaves its virtnbdbackup running: it goes
 * on writing into the chain folder while the next run repairs that folder, and the files it adds
 * then are missing from the manifest. So each such child is recorded beside the domain's lock
 * (pid and start time, so a reused pid is never taken for it) while it runs, and the next run
 * that holds the lock ends what is still running before it reads or repairs anything.
 */
import { besideDomainLock } from '../util/lock.js';
import { appendFileSync, readFileSync, rmSync } from 'node:fs';
import { endProcesses } from '../runner/processes.js';

interface ChildRecord {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22). */
  start: string;
  tool: string;
}

/** The record of running children that goes with a domain lock file. */
export function childRecordFileFor(domainLock: string): string {
  return besideDomainLock(domainLock, '.children');
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Note a child that runs for this domain (synchronously: a kill -9 may follow at any moment). */
export function recordChild(file: string, pid: number, tool: string): void {
  const start = startTimeOf(pid);
  if (start === undefined) return; // already gone
  appendFileSync(file, `${JSON.stringify({ pid, start, tool } satisfies ChildRecord)}\n`, { mode: 0o600 });
}

/** The children are done (or ended): nothing to look for next time. */
export function clearChildRecord(file: string): void {
  rmSync(file, { force: true });
}

/**
 * End the children an interrupted run left running for this domain. Returns one sentence per
 * process ended, in vmkeep's words, for the log and the run's notes.
 */
export async function endOrphanedChildren(file: string, domain: string): Promise<string[]> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const records: ChildRecord[] = [];
  for (const line of text.split('\n')) {
    try {
      const r = JSON.parse(line) as ChildRecord;
      if (Number.isInteger(r.pid) && typeof r.start === 'string') records.push(r);
    } catch {
      // a line cut short by the kill: nothing of it can be trusted
    }
  }
  const alive = records.filter((r) => r.pid !== process.pid && startTimeOf(r.pid) === r.start);
  const ended =
    alive.length === 0
      ? []
      : await endProcesses(
          alive.map((r) => r.pid),
          { graceMs: 0, termMs: 10_000 },
        );
  clearChildRecord(file);
  return alive
    .filter((r) => ended.includes(r.pid))
    .map((r) => `ended ${r.tool} (pid ${r.pid}), left running for ${domain} by an interrupted vmkeep run, before repairing its chain`);
}
