/** Options every command shares, built once from argv and frozen. */
import type { Argv } from 'yargs';
import { usageError } from '../errors.js';
import type { Env } from '../app/context.js';
import { parseHostList, type HostSpec } from '../app/hosts.js';
import type { OutputOptions } from './output.js';
import type { LoadedConfig } from '../config/load-config.js';
import { splitDomainPatterns } from '../domain/select-domains.js';

/**
 * The command name the program was started as. `vmsnap` (installed beside `vmkeep`) is the same
 * program with VMSnap's defaults, so a VMSnap cron line runs unchanged: its backups are written
 * by virtnbdbackup, as VMSnap's were, unless --engine says otherwise.
 */
export type Persona = 'vmkeep' | 'vmsnap';

export interface GlobalOptions extends OutputOptions {
  persona: Persona;
  /** The first host's URI (the only one unless --connect is repeated). */
  connect: string;
  /** Every --connect (`URI` or `NAME=URI`), in order; one `local` host by default. */
  hosts: readonly HostSpec[];
  verbose: boolean;
  /** Patterns from --domains (names, comma lists, globs); undefined → all (an empty --domains is refused). */
  domains: readonly string[] | undefined;
  output: string | undefined;
  /** Every --output given (only `report` reads more than one; the others refuse a second). */
  outputs?: readonly string[];
  /** The validated config file, if any (--config FILE, VMKEEP_CONFIG, /etc/vmkeep/config.yaml). */
  config?: LoadedConfig | undefined;
  /** The process environment, as the CLI entry read it (option builders read it here, never process.env). */
  env: Env;
}

export function addGlobalOptions(y: Argv): Argv {
  return (
    y
      // Repeated --connect gives a list (yargs collects duplicates); not an array option, which would
      // swallow the command word after it.
      .option('connect', {
        alias: 'c',
        type: 'string',
        describe: "libvirt URI, or NAME=URI; repeat for several hosts (default: the config file's, else qemu:///system)",
        global: true,
      })
      .option('config', {
        type: 'string',
        describe: 'config file (default: VMKEEP_CONFIG, else /etc/vmkeep/config.yaml if it exists); - reads JSON from stdin',
        global: true,
      })
      .option('domains', { type: 'string', array: true, describe: 'domain names, comma lists or globs (default: all)', global: true })
      .option('output', { type: 'string', describe: 'backup folder', global: true })
      .option('json', { type: 'boolean', default: false, describe: 'print a JSON document on stdout (errors as JSON on stderr)', global: true })
      .option('yaml', { alias: 'yml', type: 'boolean', default: false, describe: 'print a YAML document on stdout', global: true })
      .option('machine', { type: 'boolean', default: false, describe: 'with --json: one line; with text: no colour (as VMSnap)', global: true })
      .option('pretty', { type: 'boolean', default: false, describe: 'sizes as human strings in JSON/YAML', global: true })
      .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'more detail, also in errors', global: true })
  );
}

export function buildGlobalOptions(argv: Record<string, unknown>, config?: LoadedConfig, persona: Persona = 'vmkeep', env: Env = {}): GlobalOptions {
  const json = argv['json'] === true;
  const yamlOut = argv['yaml'] === true;
  if (json && yamlOut) throw usageError('--json and --yaml cannot be used together');
  // Flags win over the config file's defaults.
  const rawOutput = argv['output'] ?? config?.config.defaults?.output;
  const outputs = rawOutput === undefined ? [] : Array.isArray(rawOutput) ? (rawOutput as unknown[]) : [rawOutput];
  if (outputs.some((o) => typeof o !== 'string' || o.trim() === '')) throw usageError('--output needs a folder path');
  // yargs collects a repeated --output into a list: only the report reads several folders.
  const command = (argv['_'] as unknown[] | undefined)?.[0];
  if (outputs.length > 1 && command !== 'report') throw usageError(`--output is given ${outputs.length} times; only report reads several output folders`);
  const output = outputs[0] as string | undefined;
  const rawDomains = argv['domains'];
  const domains = rawDomains === undefined ? undefined : (Array.isArray(rawDomains) ? rawDomains : [rawDomains]).map(String);
  // Refuse `--domains ""` here, once, before any command reads the list as "all".
  if (domains !== undefined) splitDomainPatterns(domains);
  const connect = argv['connect'];
  const given = connect === undefined ? [] : (Array.isArray(connect) ? connect : [connect]).map(String);
  const fromConfig = config?.config.defaults?.connect;
  const configHosts = Object.entries(config?.config.hosts ?? {}).map(([name, uri]) => `${name}=${uri}`);
  if (fromConfig !== undefined && configHosts.length > 0) {
    throw usageError(`config ${config?.source}: give either defaults.connect or hosts, not both`);
  }
  // Flags win over the config file's hosts or connect; nothing given means qemu:///system.
  const hosts = parseHostList(given.length > 0 ? given : configHosts.length > 0 ? configHosts : fromConfig === undefined ? [] : [fromConfig]);
  return Object.freeze({
    persona,
    connect: hosts[0]!.uri,
    hosts,
    verbose: argv['verbose'] === true,
    domains: domains ? Object.freeze(domains) : undefined,
    output,
    outputs: Object.freeze(outputs as string[]),
    // As in VMSnap, --machine changes how a format is printed, not which: alone it is the text.
    format: json ? 'json' : yamlOut ? 'yaml' : 'text',
    machine: argv['machine'] === true,
    pretty: argv['pretty'] === true,
    config,
    env,
  } satisfies GlobalOptions);
}

/** VMKEEP_NOW (ISO 8601) overrides the clock: a testing and simulation aid. */
export function clockFromEnv(env: NodeJS.ProcessEnv): () => Date {
  const raw = env['VMKEEP_NOW'];
  if (raw === undefined || raw === '') return () => new Date();
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw usageError(`VMKEEP_NOW is not an ISO 8601 time: ${JSON.stringify(raw)}`);
  return () => new Date(t);
}

/** yargs reads a lone `-` as a stray positional: `--config -` becomes `--config=-` first. */
export function joinConfigDash(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--config' && args[i + 1] === '-') {
      out.push('--config=-');
      i++;
    } else out.push(args[i]!);
  }
  return out;
}
