/**
 * Telling people, at the CLI/commands boundary: the run's logger (stderr, --log-file, --syslog,
 * --log-json), notifications (--notify, --notify-config) and the Prometheus textfile
 * (--textfile). Commands know nothing of these: the CLI starts reporting before the command
 * and finishes it with the command's result (or its error) before it exits. Nothing here
 * changes a run's exit code: a failing notifier or textfile is a warning.
 */
import { randomUUID } from 'node:crypto';
import type { NotifySettings } from '../config/notify-schema.js';
import { hostname } from 'node:os';
import type { AppContext } from '../app/context.js';
import { usageError, messageOf } from '../errors.js';
import type { ResolvedTargets } from '../notify/send.js';
import type { Runner } from '../runner/runner.js';
import type { Duration } from '../retention/types.js';
import { createRunLogger, type LogSink, type RunLogger } from '../util/log.js';
import { createFileSink, createSyslogSink } from '../util/log-sinks.js';
import { VirshClient } from '../virsh/client.js';
import { PhaseTimer, describePhases } from '../util/phase-timer.js';
import { REPORT_COMMANDS, TEXTFILE_COMMANDS, type ReportingOptions } from './reporting-options.js';
import { readVersion } from './version.js';
import type { DaysLeftThresholds } from './parse-values.js';

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
// eslint-disable-next-line max-lines-per-function -- the run's log, notification and metrics sinks share one close that must see them all
export async function startReporting(fields: {
  command: string;
  options: ReportingOptions;
  output: string | undefined;
  verbose: boolean;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  runner: Runner;
  /** The config file's `notify:` section, if it has one (a --notify-config file comes on top). */
  notifySettings?: NotifySettings | undefined;
  /** The config file's `report.html` (--report-html wins). */
  reportHtml?: string | undefined;
  /**
   * The config's check.minDaysLeft, if it has one: the notification warns of a filling output
   * folder under its warning days, and the report written after the run judges the folder by it.
   */
  minDaysLeft?: DaysLeftThresholds | undefined;
  /** The age a boot proof may reach in the report written after the run (the config's check.bootMaxAge). */
  bootMaxAge?: Duration | undefined;
  fetch?: typeof fetch;
}): Promise<Reporting> {
  const { options, command } = fields;
  if (options.textfile !== undefined) {
    if (!TEXTFILE_COMMANDS.has(command)) throw usageError(`--textfile works with status and backup, not ${command}`);
    if (!fields.output) throw usageError('--textfile needs --output DIR: the metrics describe that backup folder');
  }
  if (options.reportHtml !== undefined && !REPORT_COMMANDS.has(command))
    throw usageError(`--report-html works with ${[...REPORT_COMMANDS].join(', ')}, not ${command} (vmkeep report --html FILE writes one on its own)`);
  // The flag wins over the config; the config's file is written only after the commands that change the backups.
  const reportHtml = REPORT_COMMANDS.has(command) ? (options.reportHtml ?? fields.reportHtml) : undefined;
  // The notify modules (zod, YAML, fetch) load only for a run that notifies.
  const fromConfig = fields.notifySettings && fields.notifySettings.targets.length > 0 ? fields.notifySettings : undefined;
  const notify = options.notify.length > 0 || options.notifyConfig || fromConfig ? await import('../notify/index.js') : undefined;
  let resolved: ResolvedTargets = { targets: [], secrets: [], problems: [] };
  if (notify) {
    const flagTargets = options.notify.map((v) => notify.parseNotifyFlag(v, notify.parseNotifyOn(options.notifyOn)));
    const settings = options.notifyConfig ? await notify.loadNotifySettings(options.notifyConfig) : fromConfig;
    resolved = await notify.resolveTargets(notify.mergeTargets(settings, flagTargets), fields.env);
  }
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
    mask: notify && resolved.secrets.length > 0 ? (m) => notify.maskSecrets(m, resolved.secrets) : undefined,
  });
  for (const p of resolved.problems) log.warn(p);
  const startedAt = new Date();
  const deps = (ctx: AppContext) => ({ fetch: fields.fetch ?? fetch, runner: ctx.runner, log: ctx.log });
  return {
    runId,
    log,
    async begin(ctx) {
      log.sideOnly?.info(`vmkeep ${command} started (run ${runId})`);
      if (notify && resolved.targets.length > 0) await notify.notifyStart(resolved.targets, runId, deps(ctx), resolved.secrets);
    },
    async finish(ctx, end) {
      try {
        if (end.error) log.sideOnly?.warn(`vmkeep ${command} ended: ${end.error}`);
        if (ctx && options.textfile && fields.output && end.document !== undefined) {
          try {
            const { writeTextfile } = await import('../metrics/write-textfile.js');
            // The command's virsh sessions are closed by now: consistency is asked with plain virsh calls.
            const plain: AppContext = { ...ctx, virsh: new VirshClient(ctx.runner, ctx.virsh.uri) };
            const path = await writeTextfile(plain, { dir: options.textfile, name: options.textfileName, host: options.metricsHost, output: fields.output });
            log.debug(`metrics written to ${path}`);
          } catch (e) {
            log.warn(`could not write the metrics textfile in ${options.textfile}: ${messageOf(e)}`);
          }
        }
        const timer = new PhaseTimer();
        if (ctx && reportHtml && end.document !== undefined)
          await timer.time('report', () => writeReportAfter(ctx, reportHtml, fields.output, fields.minDaysLeft, fields.bootMaxAge, log));
        if (notify && resolved.targets.length > 0) {
          const forecast =
            ctx && fields.output && end.document !== undefined && REPORT_COMMANDS.has(command)
              ? await readForecastNotice(notify, fields.output, ctx.now(), fields.minDaysLeft?.warning ?? notify.DEFAULT_DAYS_LEFT_WARNING, log)
              : undefined;
          const report = notify.buildRunReport({
            command,
            host: options.metricsHost ?? hostname(),
            runId,
            outcome: end.outcome,
            exitCode: end.exitCode,
            startedAt,
            finishedAt: new Date(),
            document: end.document,
            ...(end.error ? { error: end.error } : {}),
            forecast,
          });
          const d = ctx ? deps(ctx) : { fetch: fields.fetch ?? fetch, runner: fields.runner, log };
          await timer.time('notify', () => notify.notifyEnd(resolved.targets, report, d, resolved.secrets));
        }
        if (timer.list().length > 0) log.debug(`after the run: ${describePhases(timer.list())}`);
        log.sideOnly?.info(`vmkeep ${command} finished: ${end.outcome}, exit ${end.exitCode}`);
      } catch (e) {
        log.warn(`reporting failed: ${messageOf(e)}`);
      } finally {
        await log.close();
      }
    },
  };
}

/** The HTML report after a run; a failure is one warning line that names the file and why. */
async function writeReportAfter(
  ctx: AppContext,
  html: string,
  output: string | undefined,
  minDaysLeft: DaysLeftThresholds | undefined,
  bootMaxAge: Duration | undefined,
  log: RunLogger,
): Promise<void> {
  if (!output) {
    log.warn(`the HTML report ${html} was not written: the run has no --output folder to report on`);
    return;
  }
  try {
    // The report's modules (ECharts) load only for a run that writes one.
    const { writeReportAfterRun } = await import('../report/index.js');
    await writeReportAfterRun(ctx, [output], html, readVersion(), minDaysLeft, bootMaxAge);
    log.info(`report written to ${html}`);
  } catch (e) {
    log.warn(`could not write the HTML report ${html}: ${messageOf(e)}; the run itself is not affected`);
  }
}

/** The output folder's forecast, judged against the warning days; undefined when it cannot be read (said in --verbose). */
async function readForecastNotice(
  notify: typeof import('../notify/index.js'),
  output: string,
  now: Date,
  warningDays: number,
  log: RunLogger,
): Promise<import('../notify/index.js').ForecastNotice | undefined> {
  try {
    const { readOutputForecast } = await import('../repository/read-forecast.js');
    return notify.judgeForecastNotice(output, await readOutputForecast(output, now), warningDays);
  } catch (e) {
    log.debug(`no forecast for the notification: ${messageOf(e)}`);
    return undefined;
  }
}
