/** The shape every CLI command file follows: yargs wiring, options built once, and a runner. */
import type { Argv } from 'yargs';
import type { AppContext } from '../../app/context.js';
import type { CommandResult } from '../../app/command-result.js';
import type { GlobalOptions } from '../global-options.js';

export interface CommandSpec<O> {
  name: string;
  describe: string;
  /** Adds the command's own options to yargs. */
  builder: (y: Argv) => Argv;
  /**
   * Parsed argv → a frozen options object (throws usageError on bad combinations). Each flag's
   * value was already checked as yargs read it (cli/flag-values.ts). May be async so that heavy
   * validators load only for the command that needs them.
   */
  buildOptions: (argv: Record<string, unknown>, global: GlobalOptions) => O | Promise<O>;
  run: (ctx: AppContext, options: O, global: GlobalOptions) => Promise<CommandResult>;
  /** Talks to libvirt at once: the CLI starts the first virsh session while the command loads. */
  libvirt?: boolean;
}

/** Erase the option type so specs of different commands fit one list. */
export function defineCommand<O>(spec: CommandSpec<O>): CommandSpec<unknown> {
  return spec as unknown as CommandSpec<unknown>;
}
