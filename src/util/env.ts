/**
 * Environment variables as the CLI entry read them from process.env, once: every layer below it
 * gets them handed down (on the context or in options), so a test can give a command any
 * environment without touching the process's own.
 */
export type Env = Readonly<Record<string, string | undefined>>;
