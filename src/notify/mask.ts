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

/** The parts of a URL worth masking wherever they might show up: the whole URL, its path+query, its password. */
export function secretsOfUrl(url: string): string[] {
  const out = [url];
  try {
    const u = new URL(url);
    if (u.pathname.length > 1) out.push(u.pathname + u.search);
    if (u.search.length > 1) out.push(u.search.slice(1));
    if (u.password) out.push(decodeURIComponent(u.password));
    // A path segment that looks like a key (a healthchecks UUID, a webhook token).
    for (const seg of u.pathname.split('/')) if (seg.length >= 16) out.push(seg);
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
