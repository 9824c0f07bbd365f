/**
 * Parse virtnbdbackup/virtnbdrestore stderr into events (pure). Feed `parseStderrText` the lines
 * the Runner's `onStderrLine` hands over (already split on \r and \n; a log line can still be
 * glued to the end of a progress bar, which this splits off).
 *
 * Log lines look like (1.9.15; 2.x adds ANSI colours unless --nocolor, and two spaces after the
 * colon):
 *   [2026-11-22 01:59:53] INFO root virtnbdbackup - backupDisk [vda]: 42401792 bytes of data extents to backup
 * tqdm progress redraws look like:
 *   saving disk vda:  45%|████▌     | 19.1M/42.4M [00:00<00:00, 122MB/s]
 *   restoring disk [vda]: 100%|██████████| 42.3M/42.4M [00:00<00:00, 86.5MB/s]
 * tqdm's numbers are rounded (SI units); exact progress is "bytes of data extents to backup"
 * per disk plus the growth of that disk's `.partial` file.
 */

/** One parsed log line. */
export interface VirtnbdLogLine {
  /** "YYYY-MM-DD HH:MM:SS", local time of the host. */
  time: string;
  level: 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';
  logger: string;
  module: string;
  func: string;
  /** Thread name: the disk target in per-disk worker threads, else MainThread/main. */
  thread: string;
  message: string;
}

/** What a stderr line tells vmkeep. */
export type VirtnbdEvent =
  | { kind: 'version'; version: string; line: VirtnbdLogLine }
  | { kind: 'checkpoint'; checkpoint: string; line: VirtnbdLogLine }
  | { kind: 'parent-checkpoint'; checkpoint: string; line: VirtnbdLogLine }
  | { kind: 'disk-size'; disk: string; bytes: number; line: VirtnbdLogLine }
  | { kind: 'data-size'; disk: string; bytes: number; line: VirtnbdLogLine }
  | { kind: 'target-file'; disk: string; path: string; line: VirtnbdLogLine }
  | { kind: 'disk-finished'; disk: string; path: string; line: VirtnbdLogLine }
  | { kind: 'estimated-size'; bytes: number; line: VirtnbdLogLine }
  | { kind: 'restore-file'; path: string; target: string; line: VirtnbdLogLine }
  | { kind: 'restore-file-empty'; path: string; line: VirtnbdLogLine }
  | { kind: 'restore-file-end'; bytes: number | null; line: VirtnbdLogLine }
  | { kind: 'until-reached'; checkpoint: string; line: VirtnbdLogLine }
  | { kind: 'signal'; signal: number; line: VirtnbdLogLine }
  | { kind: 'finished'; line: VirtnbdLogLine }
  | { kind: 'log'; line: VirtnbdLogLine }
  | { kind: 'progress'; action: 'saving' | 'restoring'; disk: string; percent: number }
  | { kind: 'other'; text: string };

// ESC [ ... final byte, and the few other escapes tqdm and colorlog emit.
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b[@-Z\\-_]/g;
const LOG = /^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\]\s+(DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+(\S+)\s+(\S+)\s+-\s+(\S+)\s+\[([^\]]*)\]:\s*(.*)$/;
const LOG_START = /\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]\s+(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\s/;
const PROGRESS = /^(?:saving disk (\S+)|restoring disk \[([^\]]+)\]):\s+(\d{1,3})%\|/;

/** Remove terminal escape sequences (colours, cursor moves). */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/** Parse one log line; null if the line is not one. */
export function parseLogLine(text: string): VirtnbdLogLine | null {
  const m = LOG.exec(stripAnsi(text).trim());
  if (!m) return null;
  return {
    time: m[1]!,
    level: m[2] as VirtnbdLogLine['level'],
    logger: m[3]!,
    module: m[4]!,
    func: m[5]!,
    thread: m[6]!,
    message: m[7]!.trim(),
  };
}

/**
 * Split stderr text into lines: on \r and \n (tqdm redraws with \r), and where a log line was
 * written right after an unterminated progress bar ("...[00:00<?, ?B/s][2026-11-22 01:52:12] ERROR...").
 */
function splitStderr(text: string): string[] {
  const out: string[] = [];
  for (const piece of stripAnsi(text).split(/\r\n|\r|\n/)) {
    let rest = piece;
    for (;;) {
      const at = rest.slice(1).search(LOG_START);
      if (at < 0) break;
      out.push(rest.slice(0, at + 1));
      rest = rest.slice(at + 1);
    }
    out.push(rest);
  }
  return out.filter((l) => l.trim().length > 0);
}

/** Parse stderr text (one Runner line, or a whole captured stderr) into events. */
export function parseStderrText(text: string): VirtnbdEvent[] {
  return splitStderr(text).map(parseStderrLine);
}

/** Parse one stderr line into an event. */
export function parseStderrLine(text: string): VirtnbdEvent {
  const clean = stripAnsi(text).trim();
  const p = PROGRESS.exec(clean);
  if (p) {
    return { kind: 'progress', action: p[1] ? 'saving' : 'restoring', disk: (p[1] ?? p[2])!, percent: Number(p[3]) };
  }
  const line = parseLogLine(clean);
  if (!line) return { kind: 'other', text: clean };
  const msg = line.message;
  let m: RegExpExecArray | null;
  if ((m = /^Version: (\S+) Arguments:/.exec(msg))) return { kind: 'version', version: m[1]!, line };
  if ((m = /^Using checkpoint name: \[?([^\]\s]+?)\]?\.?$/.exec(msg))) return { kind: 'checkpoint', checkpoint: m[1]!, line };
  if ((m = /^Parent checkpoint name \[?([^\]\s]+?)\]?\.?$/.exec(msg))) return { kind: 'parent-checkpoint', checkpoint: m[1]!, line };
  // 1.9.15: "67108864 bytes disk size"; 2.x: "67108864 bytes [64.0MiB] virtual disk size".
  if ((m = /^(\d+) bytes (?:\[[^\]]*\] )?(?:virtual )?disk size$/.exec(msg))) {
    return { kind: 'disk-size', disk: line.thread, bytes: Number(m[1]), line };
  }
  // 1.9.15: "N bytes of data extents to backup"; 2.x: "N bytes [40.0MiB] of data extents to backup".
  if ((m = /^(\d+) bytes (?:\[[^\]]*\] )?of data extents to backup$/.exec(msg))) {
    return { kind: 'data-size', disk: line.thread, bytes: Number(m[1]), line };
  }
  if ((m = /^Write data to target file: \[(.+)\]\.?$/.exec(msg))) return { kind: 'target-file', disk: line.thread, path: m[1]!, line };
  if ((m = /^Backup of disk \[([^\]]+)\] finished, file: \[(.+)\]$/.exec(msg))) {
    return { kind: 'disk-finished', disk: m[1]!, path: m[2]!, line };
  }
  if ((m = /^Estimated checkpoint backup size: \[(\d+)\] Bytes$/.exec(msg))) return { kind: 'estimated-size', bytes: Number(m[1]), line };
  if ((m = /^Applying data from backup file \[(.+)\] to target file \[(.+)\]\.?$/.exec(msg))) {
    return { kind: 'restore-file', path: m[1]!, target: m[2]!, line };
  }
  if ((m = /^File \[(.+)\] contains no dirty blocks, skipping\.?$/.exec(msg))) return { kind: 'restore-file-empty', path: m[1]!, line };
  if ((m = /^End of stream, \[([^\]]+)\](?: bytes)? of data processed$/.exec(msg))) {
    const bytes = /^\d+$/.test(m[1]!) ? Number(m[1]) : null; // 2.x logs a humanized size
    return { kind: 'restore-file-end', bytes, line };
  }
  if ((m = /^Reached checkpoint \[(.+)\], stopping$/.exec(msg))) return { kind: 'until-reached', checkpoint: m[1]!, line };
  if ((m = /^Caught signal: (\d+)$/.exec(msg))) return { kind: 'signal', signal: Number(m[1]), line };
  if (msg === 'Finished successfully') return { kind: 'finished', line };
  return { kind: 'log', line };
}

/**
 * True if this log line means the run went wrong even when the exit code says 0: virtnbdrestore
 * 1.9.15 logs ERROR for a broken data file, stops applying that disk's files and exits 0.
 */
export function isFailureLine(line: VirtnbdLogLine): boolean {
  return line.level === 'ERROR' || line.level === 'CRITICAL';
}
