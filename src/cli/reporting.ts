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
import { createRunLogger, type LogSink, type RunLogger } from '../util/log.js';
import { createFileSink, createSyslogSink } from '../util/log-sinks.js';
import { VirshClient } from '../virsh/client.js';
import { TEXTFILE_COMMANDS, type ReportingOptions } from './reporting-options.js';

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
  fetch?: typeof fetch;
}): Promise<Reporting> {
  const { options, command } = fields;
  if (options.textfile !== undefined) {
    if (!TEXTFILE_COMMANDS.has(command)) throw usageError(`--textfile works with status and backup, not ${command}`);
    if (!fields.output) throw usageError('--textfile needs --output DIR: the metrics describe that backup folder');
  }
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
        if (notify && resolved.targets.length > 0) {
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
          });
          const d = ctx ? deps(ctx) : { fetch: fields.fetch ?? fetch, runner: fields.runner, log };
          await notify.notifyEnd(resolved.targets, report, d, resolved.secrets);
        }
        log.sideOnly?.info(`vmkeep ${command} finished: ${end.outcome}, exit ${end.exitCode}`);
      } catch (e) {
        log.warn(`reporting failed: ${messageOf(e)}`);
      } finally {
        await log.close();
      }
    },
  };
}
