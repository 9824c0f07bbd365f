/**
 * Quiescing. virtnbdbackup (1.9.15 and 2.x) already asks the guest agent to freeze the
 * filesystems right before it creates the checkpoint and thaws them right after (libvirt's
 * fsFreeze/fsThaw, what `virsh domfsfreeze/domfsthaw` call): exactly the window a consistent
 * point needs. vmkeep does not freeze a second time around the whole copy (that would block the
 * guest's writes for minutes); it reads virtnbdbackup's log to learn whether the freeze happened
 * and records that per restore point.
 */
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
