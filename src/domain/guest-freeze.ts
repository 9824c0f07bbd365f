/**
 * Guest filesystem freezes through the QEMU guest agent (what `virsh domfsfreeze/domfsthaw`
 * do), and the record of the freezes vmkeep itself makes.
 *
 * Words:
 * - freeze: the agent runs the guest's fsfreeze hook (where a database flushes), then FIFREEZE
 *   on every mounted filesystem; the guest's writes block until the thaw.
 * - freeze record: a small file beside the domain's lock, written before vmkeep freezes and
 *   removed once the guest is thawed. A run killed while the guest is frozen leaves it behind;
 *   the next run that takes the domain's lock reads it, thaws the guest and says so. vmkeep
 *   thaws only a freeze it recorded: a freeze someone else made is theirs to end.
 */
import { besideDomainLock } from '../util/lock.js';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { ToolError, VmkeepError } from '../errors.js';
import type { VirshClient } from '../virsh/client.js';

/** Why a guest could not be frozen. */
export type FreezeFailureKind = 'no-agent-channel' | 'agent-not-answering' | 'freeze-failed';

export type FreezeOutcome = { frozen: true; filesystems: number | undefined } | { frozen: false; kind: FreezeFailureKind; reason: string };

/** How long thawing may take before vmkeep calls the guest stuck frozen. */
export const THAW_BOUND_MS = 10_000;

/** A guest agent failure reported by virsh → why, in vmkeep's words. */
export function classifyAgentError(error: unknown): { kind: FreezeFailureKind; reason: string } {
  const text = error instanceof ToolError ? error.stderr : error instanceof Error ? error.message : String(error);
  if (/agent is not configured|unable to execute QEMU agent command.*not configured/i.test(text)) {
    return { kind: 'no-agent-channel', reason: 'the domain has no guest agent channel' };
  }
  if (/not responding|not connected|not available|timed? ?out|timeout/i.test(text)) {
    return { kind: 'agent-not-answering', reason: 'the guest agent does not answer' };
  }
  const line =
    text
      .split('\n')
      .map((l) => l.replace(/^error:\s*/, '').trim())
      .find((l) => l !== '' && !/^Unable to freeze/i.test(l)) ?? text.trim();
  return { kind: 'freeze-failed', reason: `the guest agent could not freeze the filesystems: ${line}` };
}

/** Freeze every guest filesystem; a failure is an outcome, not an exception. */
export async function freezeGuest(virsh: VirshClient, domain: string): Promise<FreezeOutcome> {
  try {
    const filesystems = await virsh.fsFreeze(domain);
    return { frozen: true, filesystems };
  } catch (error) {
    if (!(error instanceof ToolError)) throw error;
    return { frozen: false, ...classifyAgentError(error) };
  }
}

/**
 * Thaw the guest and make sure it is thawed: retried until `boundMs`, then a failure that names
 * the domain (its writes stay blocked until someone thaws it).
 */
export async function thawGuest(virsh: VirshClient, domain: string, boundMs = THAW_BOUND_MS): Promise<void> {
  const deadline = Date.now() + boundMs;
  let last: unknown;
  for (;;) {
    try {
      await virsh.fsThaw(domain);
      const state = await guestFreezeState(virsh, domain);
      // No answer after a thaw that worked: the thaw's own success is the best evidence there is.
      if (state !== 'frozen') return;
      last = new Error('the agent still reports the filesystems frozen');
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new VmkeepError(
    'failure',
    `the guest filesystems of ${domain} could not be thawed within ${Math.round(boundMs / 1000)} s: its writes are blocked; run virsh domfsthaw ${domain}`,
    { cause: last, ...(last instanceof ToolError ? { detail: last.stderr } : {}) },
  );
}

/** 'frozen' or 'thawed' as the guest agent says; undefined when the domain has no agent or it does not answer. */
export async function guestFreezeState(virsh: VirshClient, domain: string): Promise<'frozen' | 'thawed' | undefined> {
  try {
    return await virsh.fsFreezeStatus(domain);
  } catch (error) {
    if (error instanceof ToolError) return undefined;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// The freeze record

export interface FreezeRecord {
  pid: number;
  /** When vmkeep froze (ISO time). */
  time: string;
}

/** The record of vmkeep's own freeze of a domain: beside the domain's lock file. */
export function freezeRecordFile(domainLockFile: string): string {
  return besideDomainLock(domainLockFile, '.frozen');
}

/** Written before the freeze, so no kill can leave a freeze of vmkeep's without a record. */
export async function writeFreezeRecord(file: string, record: FreezeRecord): Promise<void> {
  await writeFile(file, `${JSON.stringify(record)}\n`, { mode: 0o600 });
}

export async function readFreezeRecord(file: string): Promise<FreezeRecord | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const parsed = JSON.parse(text) as Partial<FreezeRecord>;
    return { pid: Number(parsed.pid ?? 0), time: String(parsed.time ?? '?') };
  } catch {
    // A record cut short by the kill still says vmkeep was about to freeze.
    return { pid: 0, time: '?' };
  }
}

export async function removeFreezeRecord(file: string): Promise<void> {
  await rm(file, { force: true });
}

/**
 * With the domain's lock held: a freeze an earlier, killed vmkeep run left is undone. Returns
 * what was done, for the run's notes (undefined when there was no record).
 */
export async function thawLeftoverFreeze(virsh: VirshClient, domain: string, recordFile: string): Promise<string | undefined> {
  const record = await readFreezeRecord(recordFile);
  if (!record) return undefined;
  const about = [record.pid > 0 ? `pid ${record.pid}` : undefined, record.time !== '?' ? `frozen at ${record.time}` : undefined].filter(Boolean);
  const who = `an interrupted vmkeep run${about.length > 0 ? ` (${about.join(', ')})` : ''}`;
  const state = await guestFreezeState(virsh, domain);
  if (state === 'frozen') {
    await thawGuest(virsh, domain);
    await removeFreezeRecord(recordFile);
    return `thawed the guest filesystems of ${domain}: ${who} had left them frozen`;
  }
  // Thawed, or no agent answers (a guest that stopped ended the freeze with it): the record is spent.
  await removeFreezeRecord(recordFile);
  return undefined;
}
