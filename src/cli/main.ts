/**
 * The CLI entry: argv → options (once, frozen) → command → document/text → exit code.
 * Only this module sets the process exit code.
 */
import yargs, { type Argv } from 'yargs';
import { EXIT_CODE, VmkeepError, exitCodeFor, usageError, messageOf } from '../errors.js';
import type { AppContext, FaultPoints } from '../app/context.js';
import type { Runner } from '../runner/runner.js';
import { addGlobalOptions, buildGlobalOptions, clockFromEnv, joinConfigDash, type GlobalOptions, type Persona } from './global-options.js';
import { existsSync } from 'node:fs';
import type { LoadedConfig } from '../config/load-config.js';
import { serialiseDocument, serialiseError } from './output.js';
import { dropBackupOnlyForStatus, rewriteVmsnapArgv } from './vmsnap-compat.js';
import { COMMAND_SPECS } from './commands/index.js';
import { readVersion } from './version.js';
import { isRemoteUri } from '../app/hosts.js';
import { bootMaxAgeOf, minDaysLeftOf } from './parse-values.js';
import { addReportingOptions, buildReportingOptions } from './reporting-options.js';
import type { Reporting } from './reporting.js';
import type { CommandSpec } from './commands/types.js';

const COMMAND_NAMES: readonly string[] = [...COMMAND_SPECS.map((c) => c.name), 'version'];

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  interactive: boolean;
  runner?: Runner;
  signal?: AbortSignal;
  /** In-process tests only: fault points handed to the commands (see AppContext.faults). */
  faults?: FaultPoints;
  /** Reads all of stdin (`--config -`); default: the process's stdin. */
  readStdin?: () => Promise<string>;
  /** Which command name ran the program: `vmsnap` takes VMSnap's defaults (see GlobalOptions.persona). */
  persona?: Persona;
}

const DEFAULT_CONFIG = '/etc/vmkeep/config.yaml';

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The config file, if any; the YAML parser and the schema load only when there is one (start-up time). */
async function loadConfigFor(argv: Record<string, unknown>, io: CliIo): Promise<LoadedConfig | undefined> {
  const flag = argv['config'] === undefined ? undefined : String(argv['config']);
  if (flag === undefined && !io.env['VMKEEP_CONFIG'] && !existsSync(DEFAULT_CONFIG)) return undefined;
  const { loadConfig } = await import('../config/load-config.js');
  return loadConfig(flag, io.env, io.readStdin ?? readProcessStdin);
}

interface Parsed {
  spec: CommandSpec<unknown>;
  argv: Record<string, unknown>;
}

interface Chosen {
  value?: Parsed;
  version?: boolean;
}

/** Options people type for their neighbours: backup/status/... take --domains, restore/boot/mount --domain. */
const NEAR_MISSES: Readonly<Record<string, string>> = { domain: '--domains', domains: '--domain' };

/** yargs's "Unknown argument: domain" plus the option meant, when it is a known near miss. */
export function withHint(message: string): string {
  const m = /^Unknown arguments?: ([\w-]+)$/.exec(message.trim());
  const meant = m ? NEAR_MISSES[m[1]!] : undefined;
  return meant
    ? `${message} (did you mean ${meant}? backup, status, scrub, list, prune, verify and check take --domains; restore, protect, boot and mount take --domain)`
    : message;
}

function buildParser(args: string[], chosen: Chosen, persona: Persona = 'vmkeep'): Argv {
  let y = addReportingOptions(
    addGlobalOptions(
      yargs(args)
        .scriptName(persona)
        .usage('$0 <command> [options]')
        .strict()
        .exitProcess(false)
        .help()
        // Answers --get-yargs-completions for the scripts `vmkeep completion` prints (hidden command).
        .completion('yargs-completion', false)
        .version(readVersion())
        .wrap(Math.min(110, process.stdout.columns ?? 100))
        .fail((msg, err) => {
          throw err instanceof VmkeepError ? err : usageError(withHint(msg ?? err?.message ?? 'bad command line'));
        }),
    ),
  );
  for (const spec of COMMAND_SPECS) {
    y = y.command(spec.name, spec.describe, spec.builder, (argv) => {
      chosen.value = { spec, argv };
    });
  }
  y = y.command(
    'version',
    'print the version',
    (v) => v,
    () => {
      chosen.version = true;
    },
  );
  skipHelpCache(y);
  return y
    .demandCommand(1, 'name a command (status, backup, scrub, list, restore, verify, prune...) or see --help')
    .epilogue('Exit codes: 0 ok, 1 partial, 2 failure, 3 unknown (check), 64 usage, 69 tool missing, 75 locked, 130 interrupted.')
    .showHelpOnFail(false);
}

/** What skipHelpCache reaches inside yargs: not part of its typed API, so every step is optional. */
interface YargsInternals {
  getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } };
}

/**
 * yargs renders the chosen command's whole help text after every parse that runs a command, and
 * keeps it for a later showHelp() that vmkeep never calls: measured 20-40 ms of every run's start
 * (string widths of every option line). --help itself renders its text when asked, as before.
 * Should yargs ever change inside, the guard leaves it as it was.
 */
function skipHelpCache(y: Argv): void {
  const usage = (y as unknown as YargsInternals).getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}

/** Run the CLI with these arguments; returns the exit code (never exits the process itself). */
// eslint-disable-next-line max-lines-per-function -- the CLI entry: the one place that maps every error to an exit code
export async function main(rawArgs: readonly string[], io: CliIo): Promise<number> {
  const { args, ignored } = dropBackupOnlyForStatus(joinConfigDash(rewriteVmsnapArgv(rawArgs, COMMAND_NAMES)), COMMAND_NAMES);
  const wantsJson = args.includes('--json');
  const verbose = args.includes('--verbose') || args.includes('-v');
  if (verbose && ignored.length > 0) io.stderr(`vmkeep: status ignores ${ignored.join(', ')} (backup options; the same line with --backup uses them)\n`);
  let global: GlobalOptions | undefined;
  let reporting: Reporting | undefined;
  let ctx: AppContext | undefined;
  try {
    const chosen: Chosen = {};
    let helpText = '';
    const parser = buildParser(args, chosen, io.persona);
    await parser.parseAsync(args, {}, (err, _argv, output) => {
      if (err) throw err instanceof VmkeepError ? err : usageError(err.message);
      helpText = output;
    });
    if (chosen.version) {
      // Monitoring asks `version --json` next to `status --json`: the same kind of answer.
      io.stdout(wantsJson ? `${JSON.stringify({ version: readVersion() })}\n` : `${readVersion()}\n`);
      return EXIT_CODE.ok;
    }
    if (!chosen.value) {
      // --help or --version
      if (helpText) io.stdout(`${helpText}\n`);
      return EXIT_CODE.ok;
    }
    global = buildGlobalOptions(chosen.value.argv, await loadConfigFor(chosen.value.argv, io), io.persona, io.env);
    const options = await chosen.value.spec.buildOptions(chosen.value.argv, global);
    const controller = new AbortController();
    const signal = io.signal ?? controller.signal;
    // Tool clients, execa and the parsers load only once a command runs (start-up time).
    const [{ createContext }, runner, { startReporting }] = await Promise.all([
      import('../app/context.js'),
      io.runner ?? import('../runner/runner.js').then((m) => m.createExecaRunner()),
      import('./reporting.js'),
    ]);
    const reportingOptions = buildReportingOptions(chosen.value.argv);
    // Logging, notifications and the textfile wrap the command; the command knows nothing of them.
    reporting = await startReporting({
      command: chosen.value.spec.name.split(' ')[0]!,
      options: reportingOptions,
      output: global.output,
      verbose: global.verbose,
      stderr: io.stderr,
      env: io.env,
      runner,
      notifySettings: global.config?.config.notify,
      reportHtml: global.config?.config.report?.html,
      minDaysLeft: minDaysLeftOf(undefined, global.config?.config.check?.minDaysLeft),
      bootMaxAge: bootMaxAgeOf(undefined, global.config?.config.check?.bootMaxAge),
    });
    ctx = createContext({
      runner,
      uri: global.connect,
      now: clockFromEnv(io.env),
      log: reporting.log,
      // Bars only for a person watching: not with --quiet or JSON log lines.
      interactive: io.interactive && !reportingOptions.quiet && !reportingOptions.logJson,
      signal,
      virshSessions: true,
      readImageHeaders: true,
      ...(io.faults ? { faults: io.faults } : {}),
      runId: reporting.runId,
      env: io.env,
    });
    // A remote host's domain locks are its own, for every command alike (see withHostLocks): a
    // restore on qemu+ssh://h must exclude a backup of the same domain on h.
    // (A local host keeps the context as it is: the fleet module, which brings backup's code and
    // zod, loads only for a remote one.)
    if (global.hosts.length === 1 && isRemoteUri(global.hosts[0]!.uri)) ctx = (await import('../fleet/index.js')).withHostLocks(ctx, global.hosts[0]!);
    // Sessions end with the command, also when it fails. On SIGINT/SIGTERM they stay open
    // until the command has cleaned up (its clean-up talks to libvirt too).
    if (chosen.value.spec.libvirt) ctx.virsh.warm();
    await reporting.begin(ctx);
    let result;
    try {
      result = await chosen.value.spec.run(ctx, options, global);
    } finally {
      ctx.virsh.close();
    }
    if (global.format === 'text') {
      if (result.text) io.stdout(result.text.endsWith('\n') ? result.text : `${result.text}\n`);
    } else {
      io.stdout(await serialiseDocument(result.document, global));
    }
    // A signal that came once the command had done all it was asked (a backup's points recorded)
    // stopped nothing: the exit code says what is on disk, not that a signal was seen.
    const outcome = signal.aborted && result.outcome !== 'ok' ? 'interrupted' : result.outcome;
    await reporting.finish(ctx, { outcome, exitCode: EXIT_CODE[outcome], document: result.document });
    return EXIT_CODE[outcome];
  } catch (error) {
    const code = exitCodeFor(error);
    io.stderr(serialiseError(error, { json: global ? global.format === 'json' : wantsJson, verbose: global?.verbose ?? verbose }, code));
    await reporting?.finish(ctx, {
      outcome: error instanceof VmkeepError ? error.code : 'failure',
      exitCode: code,
      document: undefined,
      error: messageOf(error),
    });
    return code;
  } finally {
    // Whatever way the command ended, its virsh sessions end with it (idempotent).
    ctx?.virsh.close();
  }
}

/** The process entry used by bin/vmkeep: wires signals and the real stdout/stderr. */
export async function cliEntry(persona: Persona = 'vmkeep'): Promise<void> {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (name: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      process.stderr.write(`vmkeep: second ${name}, exiting now\n`);
      process.exit(EXIT_CODE.interrupted);
    }
    process.stderr.write(`vmkeep: ${name} received, stopping cleanly (send again to force)\n`);
    controller.abort(new VmkeepError('interrupted', `interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const code = await main(process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    interactive: process.stderr.isTTY === true,
    signal: controller.signal,
    persona,
  });
  process.exitCode = code;
}
