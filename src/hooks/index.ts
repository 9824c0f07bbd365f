/**
 * Hooks: commands vmkeep runs around a backup.
 *
 * Glossary:
 * - phase: when a hook runs: pre-run / post-run (once per run), pre-domain / post-domain (per
 *   domain), on-error (per domain whose backup failed).
 * - hook: an argv list (a plain string is split into words without a shell); `shell: true`
 *   said explicitly runs the string through `/bin/sh -c`. Every hook has a timeout.
 * - hook environment: VMKEEP_PHASE, VMKEEP_DOMAIN, VMKEEP_OUTPUT, VMKEEP_CHAIN_DIR,
 *   VMKEEP_LEVEL, VMKEEP_RESULT, VMKEEP_ERROR, VMKEEP_RUN_ID.
 */
export {};
