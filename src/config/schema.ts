/**
 * The config file's schema. Every object is strict: an unknown key is an error, never ignored.
 * CONFIG_SECTIONS is exported so other sections (notifications...) compose into the root.
 */
import { z } from 'zod';
import { NotifySettingsSchema } from './notify-schema.js';
import { parseDuration } from '../retention/duration.js';
import { parsePolicy } from '../retention/policy.js';
import { GROUP_BY_VALUES } from '../retention/periods.js';
import type { GroupBy } from '../retention/types.js';
import { hasControlCharacter } from '../util/printable.js';
import { messageOf } from '../errors.js';
import { parseBootCheck } from '../domain/boot-checks.js';
import { MIN_BOOT_MEMORY_KIB, parseMemoryKiB } from '../util/memory-size.js';
import { ENGINE_NAMES } from './engine-names.js';

const durationText = z.string({ error: 'expected a duration such as 4h, 1d, 2w' }).superRefine((v, ctx) => {
  try {
    parseDuration(v, 'duration');
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: messageOf(e) });
  }
});

const nonEmptyText = z.string({ error: 'expected text' }).min(1, { error: 'must not be empty' });
const diskList = z.array(nonEmptyText, { error: 'expected a list of disk targets such as [vda, vdb]' });

/** A command: an argv list, a string split into words (no shell), or an object with options. */
export const HookSchema = z.union(
  [
    nonEmptyText,
    z.array(z.string()).min(1, { error: 'an argv list needs at least the program' }),
    z
      .strictObject({
        command: z.union([nonEmptyText, z.array(z.string()).min(1)], { error: 'expected a command: text or an argv list' }),
        /** Run `command` (a string) through /bin/sh -c. Off unless said explicitly. */
        shell: z.boolean({ error: 'expected true or false' }).optional(),
        /** Seconds before the hook is killed. */
        timeout: z.number({ error: 'expected seconds' }).positive({ error: 'must be more than 0' }).max(86_400).optional(),
      })
      .refine((h) => !(h.shell === true && Array.isArray(h.command)), { error: 'shell: true needs the command as one string' }),
  ],
  { error: 'expected a command: text, an argv list, or {command, shell, timeout}' },
);
export type HookSpec = z.infer<typeof HookSchema>;

const DOMAIN_HOOKS = { preDomain: HookSchema.optional(), postDomain: HookSchema.optional(), onError: HookSchema.optional() };
const RUN_HOOKS = { preRun: HookSchema.optional(), postRun: HookSchema.optional() };

const RetentionSchema = z
  .strictObject({
    keepLast: z.int().min(0).optional(),
    keepHourly: z.int().min(0).optional(),
    keepDaily: z.int().min(0).optional(),
    keepWeekly: z.int().min(0).optional(),
    keepMonthly: z.int().min(0).optional(),
    keepYearly: z.int().min(0).optional(),
    keepWithin: durationText.optional(),
    keepTiers: z.array(z.string(), { error: 'expected a list of INTERVAL:AGE such as 1w:1m' }).optional(),
  })
  .superRefine((v, ctx) => {
    try {
      parsePolicy(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: messageOf(e) });
    }
  });

/** One check as `--check` writes it: agent, console:REGEX, exec:CMD ARGS. */
const bootCheckText = z.string({ error: 'expected a check: agent, console:REGEX or exec:CMD ARGS' }).superRefine((v, ctx) => {
  try {
    parseBootCheck(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: messageOf(e).replace(/^--check /, '') });
  }
});

/** What `verify --boot` checks on a domain's points; its flags win over these. */
export const BootVerifySchema = z.strictObject({
  /** All must pass (--check). */
  checks: z
    .array(bootCheckText, { error: 'expected a list of checks such as [agent, "exec:/usr/bin/pg_isready"]' })
    .min(1, { error: 'needs at least one check' })
    .optional(),
  /** Seconds every check has to pass from the guest's start (--boot-timeout). */
  timeout: z
    .int({ error: 'expected whole seconds from 1 to 86400' })
    .min(1, { error: 'expected whole seconds from 1 to 86400' })
    .max(86_400, { error: 'expected whole seconds from 1 to 86400' })
    .optional(),
  /** The verify domain's memory cap, like 2G or 1536M (--max-memory). */
  maxMemory: z
    .union([z.string(), z.number()], { error: 'expected a size such as 2G or 1536M' })
    .refine((v) => (parseMemoryKiB(v) ?? 0) >= MIN_BOOT_MEMORY_KIB, { error: 'expected a size of at least 32M, such as 2G or 1536M' })
    .optional(),
});
export type BootVerifyConfig = z.infer<typeof BootVerifySchema>;

export const STOP_MODES = ['live', 'stop', 'stop-force', 'require-stopped'] as const;

/** What a tag or domain section may set (and the defaults, which may set more). */
const OVERRIDE_SHAPE = {
  groupBy: z.enum(GROUP_BY_VALUES as [GroupBy, ...GroupBy[]], { error: `expected one of ${GROUP_BY_VALUES.join(', ')}` }).optional(),
  ifOlderThan: durationText.optional(),
  compress: z.boolean({ error: 'expected true or false' }).optional(),
  raw: z.boolean({ error: 'expected true or false' }).optional(),
  prune: z.boolean({ error: 'expected true or false' }).optional(),
  retention: RetentionSchema.optional(),
  disks: diskList.optional(),
  excludeDisks: diskList.optional(),
  stop: z.enum(STOP_MODES, { error: `expected one of ${STOP_MODES.join(', ')}` }).optional(),
  stopTimeout: z.number({ error: 'expected seconds' }).min(0).max(86_400).optional(),
  label: nonEmptyText.refine((v) => !hasControlCharacter(v), { error: 'must be one line without control characters' }).optional(),
  /** true: freeze the guest for each point and warn when it cannot; require: fail the domain then. */
  quiesce: z.union([z.boolean(), z.literal('require')], { error: 'expected true, false or require' }).optional(),
  hooks: z.strictObject(DOMAIN_HOOKS).optional(),
  /** What `vmkeep verify` does for the domain: `boot` sets the checks, timeout and memory of verify --boot. */
  verify: z.strictObject({ boot: BootVerifySchema.optional() }).optional(),
  /** What writes the backup: auto (the default: see docs/ENGINE-CHOICE.md), virtnbdbackup (stream files) or push (libvirt's push mode, qcow2 chains). */
  engine: z.enum(ENGINE_NAMES, { error: 'expected auto, virtnbdbackup or push' }).optional(),
};

export const DomainOverridesSchema = z.strictObject(OVERRIDE_SHAPE);
export type DomainOverrides = z.infer<typeof DomainOverridesSchema>;

export const DefaultsSchema = z.strictObject({
  ...OVERRIDE_SHAPE,
  connect: nonEmptyText.optional(),
  output: nonEmptyText.optional(),
  jobs: z
    .int({ error: 'expected a whole number from 1 to 64' })
    .min(1, { error: 'expected a whole number from 1 to 64' })
    .max(64, { error: 'expected a whole number from 1 to 64' })
    .optional(),
  lockWait: z.number({ error: 'expected seconds' }).min(0).optional(),
  hooks: z.strictObject({ ...RUN_HOOKS, ...DOMAIN_HOOKS }).optional(),
});
export type ConfigDefaults = z.infer<typeof DefaultsSchema>;

const sectionMap = (what: string) =>
  z.record(
    nonEmptyText,
    DomainOverridesSchema.nullable().transform((v) => v ?? {}),
    { error: `expected a map of ${what} to settings` },
  );

/** The root sections; compose more with `z.strictObject({ ...CONFIG_SECTIONS, notify: ... })`. */
export const CONFIG_SECTIONS = {
  /** Settings for every domain and run-wide settings (connect, output, jobs, run hooks). */
  defaults: DefaultsSchema.optional(),
  /** Per tag: settings for domains carrying that tag. */
  tags: sectionMap('tag names').optional(),
  /** Per domain name or glob: settings for the matching domains. */
  domains: sectionMap('domain names or globs').optional(),
};

/** Host name → libvirt URI: the hypervisors one vmkeep serves (as repeated --connect NAME=URI). */
const HostsSchema = z.record(z.string().regex(/^[A-Za-z0-9._-]+$/, "host names are letters, digits, '.', '_' or '-'"), nonEmptyText, {
  error: 'expected a map of host names to libvirt URIs',
});

/** Where `vmkeep replicate`, `restore --from` and `verify --from` find the restic repository. */
const ResticSchema = z.strictObject({
  /** The repository (a path, sftp:..., rest:..., s3:..., rclone:...); --to / --from win. */
  repository: nonEmptyText.optional(),
  /** A file holding the repository password (never the password itself); --password-file wins. */
  passwordFile: nonEmptyText.optional(),
});

/** The HTML report written after each backup, verify, prune and replicate run (docs/REPORT.md). */
const ReportSchema = z.strictObject({
  /** The file to write (atomically); --report-html wins. A failure to write it is a warning. */
  html: nonEmptyText.optional(),
});

/** `vmkeep check`'s thresholds that other runs read too. */
const CheckSchema = z.strictObject({
  /**
   * Days before the output folder is full: "D" or "D,C" (warning, critical), as --min-days-left.
   * check uses it when the flag is not given; a run's notification warns under D, and the report
   * written after a run judges the output folder by it.
   */
  minDaysLeft: z
    .union([z.number().positive(), z.string().regex(/^\s*\d+(\.\d+)?\s*(,\s*\d+(\.\d+)?\s*)?$/, 'expected DAYS or WARNING,CRITICAL days, e.g. "14,7"')], {
      error: 'expected DAYS or WARNING,CRITICAL days, e.g. "14,7"',
    })
    .optional(),
  /**
   * The age a domain's last boot proof (verify --boot) may reach, as --boot-max-age: check and
   * the report use it when the flag is not given; without either, boot proofs are not expected.
   */
  bootMaxAge: durationText.optional(),
});

export const ConfigSchema = z.strictObject({
  ...CONFIG_SECTIONS,
  hosts: HostsSchema.optional(),
  restic: ResticSchema.optional(),
  report: ReportSchema.optional(),
  check: CheckSchema.optional(),
  /** Where to tell how a run ended (docs/MONITORING.md): the same section a --notify-config file holds. */
  notify: NotifySettingsSchema.optional(),
});
export type VmkeepConfig = z.infer<typeof ConfigSchema>;
