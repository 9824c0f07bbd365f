/**
 * The engine settings the config key and the --engine flag accept: auto chooses one of the two
 * engines per domain. Apart from schema.ts so that the CLI's flag definitions, which every start
 * loads, do not load zod and build the config schema with it.
 */
export const ENGINE_NAMES = ['auto', 'virtnbdbackup', 'push'] as const;
