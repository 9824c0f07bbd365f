/**
 * A command's own flags read by yargs the way the CLI reads them, value checks included (each
 * flag's choices and schema run while yargs parses): the argv that the command's buildOptions gets.
 */
import yargs from 'yargs';
import { VmkeepError, usageError } from '../../src/errors.js';
import type { CommandSpec } from '../../src/cli/commands/types.js';

export async function parseCommandFlags(spec: CommandSpec<unknown>, args: readonly string[]): Promise<Record<string, unknown>> {
  const word = spec.name.split(' ')[0]!;
  let parsed: Record<string, unknown> | undefined;
  await yargs([word, ...args])
    .exitProcess(false)
    .strict()
    .fail((msg, err) => {
      throw err instanceof VmkeepError ? err : usageError(msg ?? err?.message ?? 'bad command line');
    })
    .command(spec.name, spec.describe, spec.builder, (argv) => {
      parsed = argv;
    })
    .parseAsync();
  if (parsed === undefined) throw new Error(`yargs did not run ${word}`);
  return parsed;
}
