/** The tags that tie a restic snapshot to one vmkeep restore point. */

export interface PointTags {
  host: string;
  domain: string;
  chain: string;
  checkpoint: string;
}

export const VMKEEP_TAG = 'vmkeep';
const KEYS = ['host', 'domain', 'chain', 'checkpoint'] as const;

/** `vmkeep`, `host=h`, `domain=d`, `chain=c`, `checkpoint=n`; values URI-encoded (no commas reach restic). */
export function pointTags(p: PointTags): string[] {
  return [VMKEEP_TAG, ...KEYS.map((k) => `${k}=${encodeURIComponent(p[k])}`)];
}

/** The point a snapshot's tags name; undefined when it is not a vmkeep point snapshot. */
export function readPointTags(tags: readonly string[] | undefined): PointTags | undefined {
  if (!tags?.includes(VMKEEP_TAG)) return undefined;
  const out: Partial<Record<(typeof KEYS)[number], string>> = {};
  for (const t of tags) {
    const eq = t.indexOf('=');
    if (eq < 0) continue;
    const key = t.slice(0, eq) as (typeof KEYS)[number];
    if (!KEYS.includes(key)) continue;
    try {
      out[key] = decodeURIComponent(t.slice(eq + 1));
    } catch {
      return undefined;
    }
  }
  return KEYS.every((k) => out[k] !== undefined) ? (out as PointTags) : undefined;
}

/** A repository as it may be shown and recorded: any `user:password@` in a URL removed. */
export function redactRepository(repo: string): string {
  return repo.replace(/(\/\/)[^/@]*@/, '$1');
}
