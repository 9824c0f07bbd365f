/** Log sinks beside stderr: an appended log file and the local syslog socket. */
import { closeSync, openSync, writeSync } from 'node:fs';
import { usageError, messageOf } from '../errors.js';
import { formatFileLine, formatJsonLine, type LogLevel, type LogSink } from './log.js';

/** Append every line to FILE (created 0640 when missing); opened once, written synchronously so a crash keeps what was logged. */
export function createFileSink(path: string, options: { json: boolean; runId: string }): LogSink {
  let fd: number;
  try {
    fd = openSync(path, 'a', 0o640);
  } catch (e) {
    throw usageError(`cannot open --log-file ${path} for appending: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let open = true;
  return {
    write(level, message, time) {
      if (!open) return;
      const line = options.json ? formatJsonLine(level, message, time, options.runId) : formatFileLine(level, message, time, options.runId);
      writeSync(fd, `${line}\n`);
    },
    async close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

export const SYSLOG_FACILITIES = ['user', 'daemon', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'] as const;
export type SyslogFacility = (typeof SYSLOG_FACILITIES)[number];

export interface SyslogOptions {
  /** Unix datagram socket (default /dev/log, which journald and rsyslog read). */
  socket: string;
  facility: SyslogFacility;
  tag: string;
  runId: string;
  pid: number;
}

const SEVERITY: Readonly<Record<LogLevel, string>> = { info: 'info', warning: 'warning', debug: 'debug' };

/** argv for util-linux `logger`: one message to a Unix datagram socket, run id in front. */
export function syslogArgv(options: SyslogOptions, level: LogLevel, message: string): string[] {
  return [
    '--socket',
    options.socket,
    '--udp',
    '--socket-errors=on',
    '--tag',
    options.tag,
    '--priority',
    `${options.facility}.${SEVERITY[level]}`,
    `--id=${options.pid}`,
    '--',
    `[${options.runId}] ${message}`,
  ];
}

/**
 * Node has no Unix datagram sockets, so each line goes through util-linux `logger` (argv, no
 * shell), one at a time in order. A send that fails is reported once through `onError`.
 */
export function createSyslogSink(options: SyslogOptions, run: (argv: string[]) => Promise<void>, onError: (message: string) => void): LogSink {
  let chain: Promise<void> = Promise.resolve();
  let failed = false;
  return {
    write(level, message) {
      const argv = syslogArgv(options, level, message);
      chain = chain.then(() =>
        run(argv).catch((e: unknown) => {
          if (!failed) onError(`syslog: cannot write to ${options.socket}: ${messageOf(e)}`);
          failed = true;
        }),
      );
    },
    close: () => chain,
  };
}
