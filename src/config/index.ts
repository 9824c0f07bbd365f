/**
 * Configuration: one file configures the agent for a fleet.
 *
 * Glossary:
 * - config file: YAML at /etc/vmkeep/config.yaml, `--config FILE`, `VMKEEP_CONFIG`, or JSON on
 *   stdin with `--config -`. Validated once (zod, unknown keys are errors) into a frozen object.
 * - section: a top-level key (`defaults`, `tags`, `domains`; others compose in, see
 *   CONFIG_SECTIONS).
 * - layer: one source of settings for a domain: the defaults, a tag section, a domain section
 *   (name or glob), the command-line flags. Later layers win: flags > domain > tag > defaults.
 * - settings: what one domain's backup uses once every layer is applied (DomainSettings).
 * - retention set: some layer says retention, groupBy or `prune: true` for the domain; only then
 *   does `vmkeep prune` without policy flags prune it (with the policy backup --prune applies).
 */
export {};
