/**
 * The reporting options (logging, notifications, metrics textfile), global so every command
 * accepts them. Kept apart from reporting.ts so that --help and parsing load nothing heavy.
 */
import type { Argv } from 'yargs';
import { usageError } from '../errors.js';
import { DEFAULT_TEXTFILE_NAME } from '../metrics/render-metrics.js';
import { SYSLOG_FACILITIES, type SyslogFacility } from '../util/log-sinks.js';

/** Commands that write the textfile with --textfile. */
export const TEXTFILE_COMMANDS = new Set(['status', 'backup']);

/** Commands after which the HTML report is written (--report-html, config report.html), and whose notification reads the forecast. */
export const REPORT_COMMANDS = new Set(['backup', 'verify', 'prune', 'replicate']);

export interface ReportingOptions {
  notify: readonly string[];
  notifyOn: readonly string[] | undefined;
  notifyConfig: string | undefined;
  textfile: string | undefined;
  textfileName: string;
  metricsHost: string | undefined;
  logFile: string | undefined;
  logJson: boolean;
  syslog: boolean;
  syslogSocket: string;
  syslogFacility: SyslogFacility;
  syslogTag: string;
  quiet: boolean;
  /** --report-html: the HTML report's file, written after the run. */
  reportHtml: string | undefined;
}

/** The reporting options, global so every command accepts them (--textfile only where it means something). */
export function addReportingOptions(y: Argv): Argv {
  const g = 'Reporting:';
  return y
    .option('quiet', {
      alias: 'q',
      type: 'boolean',
      default: false,
      describe: 'no progress or info lines on stderr (warnings and errors still)',
      global: true,
      group: g,
    })
    .option('log-file', { type: 'string', describe: 'append every log line to FILE, with time and run id', global: true, group: g })
    .option('log-json', { type: 'boolean', default: false, describe: 'log lines as JSON objects (stderr and --log-file)', global: true, group: g })
    .option('syslog', { type: 'boolean', default: false, describe: 'also send log lines to syslog (journald reads it)', global: true, group: g })
    .option('syslog-socket', { type: 'string', default: '/dev/log', describe: 'syslog Unix datagram socket', global: true, group: g })
    .option('syslog-facility', { type: 'string', default: 'daemon', choices: SYSLOG_FACILITIES, describe: 'syslog facility', global: true, group: g })
    .option('syslog-tag', { type: 'string', default: 'vmkeep', describe: 'syslog tag', global: true, group: g })
    .option('notify', {
      type: 'string',
      array: true,
      describe: 'tell a target how the run ended: https://... (webhook), hc+https://... (healthchecks), ntfy+https://..., mailto:a@b',
      global: true,
      group: g,
    })
    .option('notify-on', { type: 'string', array: true, describe: 'outcomes the --notify targets hear of: failure,partial,success', global: true, group: g })
    .option('notify-config', { type: 'string', describe: 'YAML file with a notify: section (targets, tokens from files)', global: true, group: g })
    .option('textfile', {
      type: 'string',
      describe: 'status/backup: write Prometheus metrics of the --output folder to DIR/vmkeep.prom',
      global: true,
      group: g,
    })
    .option('textfile-name', { type: 'string', default: DEFAULT_TEXTFILE_NAME, describe: 'file name for --textfile', global: true, group: g })
    .option('metrics-host', { type: 'string', describe: 'host label in the metrics (default: host name)', global: true, group: g })
    .option('report-html', {
      type: 'string',
      describe: "backup/verify/prune/replicate: write the --output folder's HTML report to FILE after the run (as vmkeep report; a failure is a warning)",
      global: true,
      group: g,
    });
}

/** Parsed argv → frozen reporting options (usage errors for bad values). */
export function buildReportingOptions(argv: Record<string, unknown>): ReportingOptions {
  const str = (k: string) => (argv[k] === undefined ? undefined : String(argv[k]));
  const textfileName = str('textfile-name') ?? DEFAULT_TEXTFILE_NAME;
  if (textfileName.includes('/') || !textfileName.endsWith('.prom'))
    throw usageError(`--textfile-name must be a file name ending in .prom, got ${JSON.stringify(textfileName)}`);
  const tag = str('syslog-tag') ?? 'vmkeep';
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(tag)) throw usageError('--syslog-tag takes up to 32 letters, digits, dots, dashes or underscores');
  const list = (k: string) => (Array.isArray(argv[k]) ? (argv[k] as unknown[]).map(String) : argv[k] === undefined ? undefined : [String(argv[k])]);
  return Object.freeze({
    notify: Object.freeze(list('notify') ?? []),
    notifyOn: list('notify-on'),
    notifyConfig: str('notify-config'),
    textfile: str('textfile'),
    textfileName,
    metricsHost: str('metrics-host'),
    logFile: str('log-file'),
    logJson: argv['log-json'] === true,
    syslog: argv['syslog'] === true,
    syslogSocket: str('syslog-socket') ?? '/dev/log',
    syslogFacility: (str('syslog-facility') ?? 'daemon') as SyslogFacility,
    syslogTag: tag,
    quiet: argv['quiet'] === true,
    reportHtml: str('report-html'),
  });
}
