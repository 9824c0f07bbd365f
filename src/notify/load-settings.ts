/** `--notify-config FILE`: a small YAML file holding the config file's `notify:` section. */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { usageError } from '../errors.js';
import { NotifySettingsSchema, type NotifySettings, type NotifyTarget } from '../config/notify-schema.js';

/** Read FILE: either `notify: {targets: [...]}` (the config file's shape) or the section itself. */
export async function loadNotifySettings(path: string): Promise<NotifySettings> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw usageError(`cannot read --notify-config ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw usageError(`--notify-config ${path} is not valid YAML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  const section = raw && typeof raw === 'object' && 'notify' in raw ? raw.notify : raw;
  const parsed = NotifySettingsSchema.safeParse(section ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // zod's messages name the path and the rule, never the value: no secret ends up in the error.
    throw usageError(`--notify-config ${path}: ${issue?.path.join('.') || 'notify'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** Targets from the file plus those from --notify flags. */
export function mergeTargets(settings: NotifySettings | undefined, extra: readonly NotifyTarget[]): NotifySettings {
  return { ...(settings ?? {}), targets: [...(settings?.targets ?? []), ...extra] };
}
