/**
 * Telling people, at the CLI/commands boundary: the run's logger (stderr, --log-file, --syslog,
 * --log-json), notifications (--notify, --notify-config) and the Prometheus textfile
 * (--textfile). Commands know nothing of these: the CLI starts reporting before the command
 * and finishes it with the command's result (or its error) before it exits. Nothing here
 * changes a run's exit code: a failing notifier or textfile is a warning.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Argv } from 'yargs';
import type { AppContext } from '../app/context.js';
import { usageError } from '../errors.js';
import { DEFAULT_TEXTFILE_NAME, writeTextfile } from '../metrics/write-textfile.js';
import { buildRunReport } from '../notify/report.js';
import { loadNotifySettings, mergeTargets } from '../notify/load-settings.js';
import { maskSecrets } from '../notify/mask.js';
import { parseNotifyFlag, parseNotifyOn } from '../notify/parse-flag.js';
import { notifyEnd, notifyStart, resolveTargets, type ResolvedTargets } from '../notify/send.js';
import type { Runner } from '../runner/runner.js';
import { createRunLogger, type LogSink, type RunLogger } from '../util/log.js';
import { SYSLOG_FACILITIES, createFileSink, createSyslogSink, type SyslogFacility } from '../util/log-sinks.js';

/** Commands that write the textfile with --textfile. */
const TEXTFILE_COMMANDS = new Set(['status', 'backup']);

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
}

/** The reporting options, global so every command accepts them (--textfile only where it means something). */
export function addReportingOptions(y: Argv): Argv {
  const g = 'Reporting:';
  return y
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress or info lines on stderr (warnings and errors still)', global: true, group: g })
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
    .option('notify-config', { type: 'string', describe: "YAML file with a notify: section (targets, tokens from files)", global: true, group: g })
    .option('textfile', { type: 'string', describe: 'status/backup: write Prometheus metrics of the --output folder to DIR/vmkeep.prom', global: true, group: g })
    .option('textfile-name', { type: 'string', default: DEFAULT_TEXTFILE_NAME, describe: 'file name for --textfile', global: true, group: g })
    .option('metrics-host', { type: 'string', describe: 'host label in the metrics (default: host name)', global: true, group: g });
}

/** Parsed argv → frozen reporting options (usage errors for bad values). */
export function buildReportingOptions(argv: Record<string, unknown>): ReportingOptions {
  const str = (k: string) => (argv[k] === undefined ? undefined : String(argv[k]));
  const textfileName = str('textfile-name') ?? DEFAULT_TEXTFILE_NAME;
  if (textfileName.includes('/') || !textfileName.endsWith('.prom')) throw usageError(`--textfile-name must be a file name ending in .prom, got ${JSON.stringify(textfileName)}`);
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
  });
}

export interface RunEnd {
  /** 'ok' or the error code the run ended with. */
  outcome: string;
  exitCode: number;
  document: unknown;
  /** The error that ended the run, when the command threw. */
  error?: string;
}

export interface Reporting {
  runId: string;
  log: RunLogger;
  /** Before the command: healthchecks /start. */
  begin(ctx: AppContext): Promise<void>;
  /** After the command: textfile, notifications, then the log sinks are flushed. Never throws. */
  finish(ctx: AppContext | undefined, end: RunEnd): Promise<void>;
}

/**
 * Set up reporting for one run of `command`: open the log sinks, read notification targets and
 * their secrets (so every log line can mask them from the start).
 */
export async function startReporting(fields: {
  command: string;
  options: ReportingOptions;
  output: string | undefined;
  verbose: boolean;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  runner: Runner;
  fetch?: typeof fetch;
}): Promise<Reporting> {
  const { options, command } = fields;
  if (options.textfile !== undefined) {
    if (!TEXTFILE_COMMANDS.has(command)) throw usageError(`--textfile works with status and backup, not ${command}`);
    if (!fields.output) throw usageError('--textfile needs --output DIR: the metrics describe that backup folder');
  }
  const flagTargets = options.notify.map((v) => parseNotifyFlag(v, parseNotifyOn(options.notifyOn)));
  const settings = options.notifyConfig ? await loadNotifySettings(options.notifyConfig) : undefined;
  const merged = mergeTargets(settings, flagTargets);
  const resolved: ResolvedTargets = merged.targets.length > 0 ? await resolveTargets(merged, fields.env) : { targets: [], secrets: [], problems: [] };
  const runId = randomUUID();
  const sinks: LogSink[] = [];
  if (options.logFile) sinks.push(createFileSink(options.logFile, { json: options.logJson, runId }));
  if (options.syslog) {
    sinks.push(
      createSyslogSink(
        { socket: options.syslogSocket, facility: options.syslogFacility, tag: options.syslogTag, runId, pid: process.pid },
        async (argv) => {
          await fields.runner.run('logger', argv, { timeoutMs: 5_000 });
        },
        (m) => fields.stderr(`warning: ${m}\n`),
      ),
    );
  }
  const log = createRunLogger({
    stderr: fields.stderr,
    verbose: fields.verbose,
    quiet: options.quiet,
    json: options.logJson,
    runId,
    sinks,
    mask: resolved.secrets.length > 0 ? (m) => maskSecrets(m, resolved.secrets) : undefined,
  });
  for (const p of resolved.problems) log.warn(p);
  const startedAt = new Date();
  const deps = (ctx: AppContext) => ({ fetch: fields.fetch ?? fetch, runner: ctx.runner, log: ctx.log });
  return {
    runId,
    log,
    async begin(ctx) {
      log.sideOnly?.info(`vmkeep ${command} started (run ${runId})`);
      if (resolved.targets.length > 0) await notifyStart(resolved.targets, runId, deps(ctx), resolved.secrets);
    },
    async finish(ctx, end) {
      try {
        if (end.error) log.sideOnly?.warn(`vmkeep ${command} ended: ${end.error}`);
        if (ctx && options.textfile && fields.output && end.document !== undefined) {
          try {
            const path = await writeTextfile(ctx, { dir: options.textfile, name: options.textfileName, host: options.metricsHost, output: fields.output });
            log.debug(`metrics written to ${path}`);
          } catch (e) {
            log.warn(`could not write the metrics textfile in ${options.textfile}: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
        if (resolved.targets.length > 0) {
          const report = buildRunReport({
            command,
            host: options.metricsHost ?? hostname(),
            runId,
            outcome: end.outcome,
            exitCode: end.exitCode,
            startedAt,
            finishedAt: new Date(),
            document: end.document,
            ...(end.error ? { error: end.error } : {}),
          });
          const d = ctx ? deps(ctx) : { fetch: fields.fetch ?? fetch, runner: fields.runner, log };
          await notifyEnd(resolved.targets, report, d, resolved.secrets);
        }
        log.sideOnly?.info(`vmkeep ${command} finished: ${end.outcome}, exit ${end.exitCode}`);
      } catch (e) {
        log.warn(`reporting failed: ${e instanceof Error ? e.message : String(e)}`);
      } finally {
        await log.close();
      }
    },
  };
}
