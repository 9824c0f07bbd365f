/** `--notify URL`: a target for one run, chosen by the URL's scheme. */
import { usageError } from '../errors.js';
import type { NotifyOutcome, NotifyTarget } from '../config/notify-schema.js';

/**
 * `https://...` webhook (JSON POST), `hc+https://...` healthchecks ping, `ntfy+https://...`
 * ntfy plain-text POST, `mailto:a@b[,c@d]` email through sendmail. A command target exists only
 * in a notify file: argv must be an array, never a string split by a shell.
 */
export function parseNotifyFlag(value: string, on: readonly NotifyOutcome[] | undefined): NotifyTarget {
  const v = value.trim();
  const withOn = on ? { on: [...on] } : {};
  const prefixed = /^(hc|ntfy)\+(https?:\/\/\S+)$/i.exec(v);
  if (prefixed) {
    const type = prefixed[1]!.toLowerCase() === 'hc' ? 'healthchecks' : 'ntfy';
    return { type, url: prefixed[2]!, ...withOn };
  }
  if (/^https?:\/\/\S+$/i.test(v)) return { type: 'webhook', url: v, ...withOn };
  const mail = /^mailto:(\S+)$/i.exec(v);
  if (mail) {
    const to = mail[1]!.split(',').filter(Boolean);
    if (to.length > 0 && to.every((a) => /^[^\s<>,;]+@[^\s<>,;]+$/.test(a))) return { type: 'email', to, ...withOn };
  }
  if (/^(cmd|command|exec):/i.test(v)) {
    throw usageError('--notify cannot run a command: put a `type: command` target with an argv list in the --notify-config file');
  }
  throw usageError(
    `--notify ${JSON.stringify(redactForMessage(v))} is not a notification target: use https://... (webhook), hc+https://... (healthchecks ping), ntfy+https://... (ntfy) or mailto:user@host`,
  );
}

/** Only the scheme of a rejected value: it may be a URL with a key in it. */
function redactForMessage(v: string): string {
  const m = /^([a-z0-9+.-]+:)/i.exec(v);
  return m ? `${m[1]}…` : v.length > 12 ? `${v.slice(0, 12)}…` : v;
}

/** `--notify-on failure,partial`: which outcomes the --notify targets hear about. */
export function parseNotifyOn(values: readonly string[] | undefined): NotifyOutcome[] | undefined {
  if (!values || values.length === 0) return undefined;
  const out: NotifyOutcome[] = [];
  for (const part of values.flatMap((v) => String(v).split(','))) {
    const p = part.trim();
    if (p === '') continue;
    if (p !== 'failure' && p !== 'partial' && p !== 'success') throw usageError(`--notify-on takes failure, partial and success, got ${JSON.stringify(p)}`);
    if (!out.includes(p)) out.push(p);
  }
  if (out.length === 0) throw usageError('--notify-on needs at least one of failure, partial, success');
  return out;
}
