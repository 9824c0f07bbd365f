/** Keep secrets out of every line vmkeep prints or logs. */

export const MASK = '***';

/** Replace every occurrence of each secret (longest first) by ***. Secrets shorter than 4 characters are not masked: they would mangle ordinary words. */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].filter((x) => x.length >= 4).sort((a, b) => b.length - a.length)) {
    out = out.split(s).join(MASK);
  }
  return out;
}

/** A URL for log lines: scheme, host and port only; the path and query may hold a key. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/${u.pathname === '/' && !u.search ? '' : MASK}`;
  } catch {
    return MASK;
  }
}

/**
 * The parts of a URL worth masking wherever they might show up: the whole URL, its query, its
 * password, and path segments long enough to be a key. A short path on its own (`/hook`) is not
 * one: masking it would rewrite every log line that mentions a file such as `/tmp/nu/hook.sh`.
 */
export function secretsOfUrl(url: string): string[] {
  const out = [url];
  try {
    const u = new URL(url);
    if (u.href !== url) out.push(u.href);
    const keySegments = u.pathname.split('/').filter((seg) => seg.length >= 16);
    // Path and query together only when they carry a key: they are the URL minus its host.
    if (u.search.length > 1 || keySegments.length > 0) out.push(u.pathname + u.search);
    if (u.search.length > 1) out.push(u.search.slice(1));
    if (u.password) out.push(decodeURIComponent(u.password));
    // A path segment that looks like a key (a healthchecks UUID, a webhook token).
    out.push(...keySegments);
  } catch {
    // not a URL: the whole string is masked
  }
  return out;
}

/**
 * Notify settings safe to print (for `config check` and --verbose): inline URLs reduced to
 * scheme and host; file paths and variable names stay (they are where secrets live, not secrets).
 */
export function redactNotifySettings<T extends { targets: ReadonlyArray<Record<string, unknown>> }>(settings: T): T {
  return {
    ...settings,
    targets: settings.targets.map((t) => (typeof t['url'] === 'string' ? { ...t, url: describeUrl(t['url']) } : t)),
  };
}
