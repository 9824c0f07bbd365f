/**
 * Quiescing: the guest's filesystems frozen through its agent for the instant a point is taken.
 *
 * - virtnbdbackup (1.9.15 and 2.x) asks the agent to freeze right before it creates the
 *   checkpoint and thaws right after (libvirt's fsFreeze/fsThaw): exactly the window a
 *   consistent point needs. vmkeep does not freeze a second time around the whole run (that
 *   would block the guest's writes for the run's start-up and copy); it reads virtnbdbackup's
 *   log to learn whether the freeze happened and records that per restore point.
 * - push: libvirt's backup-begin freezes nothing, so vmkeep freezes, begins the job (the point in
 *   time) and thaws at once, with a freeze record beside the domain's lock in case it is killed
 *   while the guest is frozen.
 */
import { ToolError, VmkeepError } from '../errors.js';
import { classifyAgentError, freezeGuest, removeFreezeRecord, thawGuest, writeFreezeRecord } from '../domain/guest-freeze.js';
import type { DomainSettings } from '../config/settings.js';
import type { VirshClient } from '../virsh/client.js';
import type { Logger } from '../util/log.js';

export type FreezeEvent = { frozen: true; filesystems: number } | { frozen: false; reason: string };

/** One virtnbdbackup log line → a freeze event (undefined when the line is about something else). */
export function parseFreezeLine(line: string): FreezeEvent | undefined {
  const ok = /fsFreeze \[[^\]]*\]: Freezed \[(\d+)\] filesystems/.exec(line);
  if (ok) return { frozen: true, filesystems: Number(ok[1]) };
  const failed = /WARNING .*fsFreeze \[[^\]]*\]: (.+)$/.exec(line);
  if (failed) return { frozen: false, reason: failed[1]!.trim() };
  return undefined;
}

/** A logger that passes everything on and remembers the run's freeze event. */
export function watchFreeze(log: Logger): { log: Logger; event: () => FreezeEvent | undefined } {
  let event: FreezeEvent | undefined;
  const seen = (m: string) => {
    event = parseFreezeLine(m) ?? event;
  };
  return {
    log: {
      info: (m) => (seen(m), log.info(m)),
      warn: (m) => (seen(m), log.warn(m)),
      debug: (m) => (seen(m), log.debug(m)),
    },
    event: () => event,
  };
}

/** --quiesce: off; on (a point that could not be frozen is recorded crash-consistent, with a warning); require (no point then). */
export type QuiesceMode = DomainSettings['quiesce'];

/** What a point records about its freeze. */
export interface QuiesceResult {
  quiesced: boolean;
  /** Why the filesystems were not frozen. */
  reason?: string;
  /** How long the guest's writes were blocked (vmkeep's own freeze). */
  frozenMs?: number;
}

export interface PointFreezer {
  /** Runs `begin` (the call that fixes the point in time) with the guest frozen around it. */
  atPoint<T>(begin: () => Promise<T>): Promise<T>;
  result(): QuiesceResult | undefined;
}

/**
 * vmkeep's own freeze, for an engine that does not freeze by itself (push): the freeze record is
 * written, the guest frozen, `begin` run (libvirt's backup-begin: the point in time is when the
 * job starts), and the guest thawed at once, not at the end of the copy. The thaw runs on every
 * path, an error or an interruption included; a thaw that does not take within its bound fails
 * the point, and the engine undoes the job.
 */
export function createPointFreezer(args: {
  virsh: VirshClient;
  domain: string;
  mode: Exclude<QuiesceMode, 'off'>;
  recordFile: string;
  now: () => Date;
}): PointFreezer {
  const { virsh, domain, mode, recordFile } = args;
  let result: QuiesceResult | undefined;
  return {
    result: () => result,
    async atPoint<T>(begin: () => Promise<T>): Promise<T> {
      await writeFreezeRecord(recordFile, { pid: process.pid, time: args.now().toISOString() });
      const outcome = await freezeGuest(virsh, domain).catch(async (error: unknown) => {
        // Whether the freeze took is unknown: thaw to be sure, then the record may go.
        await thawGuest(virsh, domain);
        await removeFreezeRecord(recordFile);
        throw error;
      });
      if (!outcome.frozen) {
        await removeFreezeRecord(recordFile);
        result = { quiesced: false, reason: outcome.reason };
        if (mode === 'require') throw quiesceRequiredError(domain, outcome.reason);
        return begin();
      }
      const frozenAt = Date.now();
      try {
        return await begin();
      } finally {
        await thawGuest(virsh, domain);
        await removeFreezeRecord(recordFile);
        result = { quiesced: true, frozenMs: Date.now() - frozenAt };
      }
    },
  };
}

/** --quiesce=require and the guest cannot be frozen: the domain fails before any point exists. */
export function quiesceRequiredError(domain: string, reason: string): VmkeepError {
  return new VmkeepError('failure', `${domain} was not backed up: --quiesce=require, and ${reason}; no restore point was recorded`);
}

/**
 * Before an engine that freezes by itself (virtnbdbackup) runs with --quiesce=require: is there
 * an agent that answers? Its own freeze is the right one (around the checkpoint only), but it
 * only warns when it cannot freeze, after which the point exists.
 */
export async function checkAgentBeforeRun(virsh: VirshClient, domain: string): Promise<string | undefined> {
  try {
    await virsh.fsFreezeStatus(domain);
    return undefined;
  } catch (error) {
    if (!(error instanceof ToolError)) throw error;
    return classifyAgentError(error).reason;
  }
}
