/**
 * What every command shares and no command owns: the application context (runner, tool
 * clients, clock, logger, cancel signal) that the CLI builds and hands to commands, and the
 * result type a command hands back.
 *
 * Words:
 * - context: AppContext, built once per run by the CLI (or by a test around a fake runner).
 * - host: HostSpec, one hypervisor of the run (a name and a libvirt URI); `--connect` may repeat.
 * - result: CommandResult, a document for --json/--yaml, text for people, and an outcome whose
 *   exit code only the CLI sets.
 */
export {};
