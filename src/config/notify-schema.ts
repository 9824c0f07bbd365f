/**
 * Notification targets as the config file's `notify:` section describes them (zod, strict).
 *
 * Secrets never need to be written inline: a URL that carries a key (a healthchecks ping URL,
 * a webhook with a token in its path) can come from `urlFile:` or `urlEnv:`, a bearer token from
 * `tokenFile:` or `tokenEnv:`. Commands are argv arrays, never a string a shell would split.
 */
import { z } from 'zod';

export const NOTIFY_OUTCOMES = ['failure', 'partial', 'success'] as const;
export type NotifyOutcome = (typeof NOTIFY_OUTCOMES)[number];

const OutcomeList = z.array(z.enum(NOTIFY_OUTCOMES)).min(1);
const httpUrl = z.string().refine((s) => /^https?:\/\/[^\s]+$/i.test(s), 'must be an http:// or https:// URL');
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const seconds = z.number().positive().max(600);

/** Where a URL comes from: inline, a file (first line), or an environment variable. */
const UrlSource = {
  url: httpUrl.optional(),
  urlFile: z.string().min(1).optional(),
  urlEnv: envName.optional(),
};

/** A token sent in a header: from a file (first line) or an environment variable. */
const TokenSource = {
  tokenFile: z.string().min(1).optional(),
  tokenEnv: envName.optional(),
  /** Header that carries the token (default Authorization). */
  tokenHeader: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/)
    .optional(),
  /** Text before the token in that header (default "Bearer "). */
  tokenPrefix: z.string().optional(),
};

const common = {
  /** A name for log lines; the default names the type and the host, never the URL's path. */
  name: z.string().min(1).optional(),
  on: OutcomeList.optional(),
  timeoutSeconds: seconds.optional(),
};

function oneUrlSource(t: { url?: string | undefined; urlFile?: string | undefined; urlEnv?: string | undefined }): boolean {
  return [t.url, t.urlFile, t.urlEnv].filter((v) => v !== undefined).length === 1;
}
function atMostOneToken(t: { tokenFile?: string | undefined; tokenEnv?: string | undefined }): boolean {
  return !(t.tokenFile !== undefined && t.tokenEnv !== undefined);
}
const URL_SOURCE_MESSAGE = 'give exactly one of url, urlFile, urlEnv';
const TOKEN_MESSAGE = 'give tokenFile or tokenEnv, not both';

export const WebhookTargetSchema = z
  .object({
    type: z.literal('webhook'),
    ...common,
    ...UrlSource,
    ...TokenSource,
    /** Extra request headers (not secret: use tokenFile/tokenEnv for those). */
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string()).optional(),
  })
  .strict()
  .refine(oneUrlSource, URL_SOURCE_MESSAGE)
  .refine(atMostOneToken, TOKEN_MESSAGE);

export const HealthchecksTargetSchema = z
  .object({ type: z.literal('healthchecks'), ...common, ...UrlSource })
  .strict()
  .refine(oneUrlSource, URL_SOURCE_MESSAGE);

export const NtfyTargetSchema = z
  .object({
    type: z.literal('ntfy'),
    ...common,
    ...UrlSource,
    ...TokenSource,
    title: z.string().optional(),
    /** ntfy priority 1-5 (default: 4 for failure, 3 otherwise). */
    priority: z.number().int().min(1).max(5).optional(),
    tags: z.array(z.string()).optional(),
  })
  .strict()
  .refine(oneUrlSource, URL_SOURCE_MESSAGE)
  .refine(atMostOneToken, TOKEN_MESSAGE);

export const CommandTargetSchema = z
  .object({
    type: z.literal('command'),
    ...common,
    /** Program and its arguments, as an array: no shell ever splits or expands it. */
    argv: z
      .array(z.string())
      .min(1)
      .refine((a) => a[0]!.length > 0, 'argv[0] must name a program'),
  })
  .strict();

export const EmailTargetSchema = z
  .object({
    type: z.literal('email'),
    ...common,
    to: z.array(z.string().regex(/^[^\s<>,;]+@[^\s<>,;]+$/, 'must be a plain address (user@host)')).min(1),
    from: z
      .string()
      .regex(/^[^\s<>,;]+@[^\s<>,;]+$/)
      .optional(),
    /** The sendmail program (default /usr/sbin/sendmail). */
    sendmail: z.string().min(1).optional(),
  })
  .strict();

export const NotifyTargetSchema = z.union([WebhookTargetSchema, HealthchecksTargetSchema, NtfyTargetSchema, CommandTargetSchema, EmailTargetSchema]);

/** The `notify:` section: targets plus defaults every target may override. */
export const NotifySettingsSchema = z
  .object({
    /** Seconds each attempt may take (default 10); each target is tried at most twice. */
    timeoutSeconds: seconds.optional(),
    targets: z.array(NotifyTargetSchema).default([]),
  })
  .strict();

export type WebhookTarget = z.infer<typeof WebhookTargetSchema>;
export type HealthchecksTarget = z.infer<typeof HealthchecksTargetSchema>;
export type NtfyTarget = z.infer<typeof NtfyTargetSchema>;
export type CommandTarget = z.infer<typeof CommandTargetSchema>;
export type EmailTarget = z.infer<typeof EmailTargetSchema>;
export type NotifyTarget = z.infer<typeof NotifyTargetSchema>;
export type NotifySettings = z.infer<typeof NotifySettingsSchema>;

/** Outcomes a target hears about when its `on:` is not given. */
export function defaultOutcomes(type: NotifyTarget['type']): readonly NotifyOutcome[] {
  // A ping service must hear of success too, or it raises the alarm itself; people want to hear of trouble.
  return type === 'webhook' || type === 'healthchecks' ? NOTIFY_OUTCOMES : ['failure', 'partial'];
}
