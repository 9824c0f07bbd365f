/** Turn a `--domains` list (names, comma lists, globs) into the domains to work on. */
import picomatch from 'picomatch';
import { usageError } from '../errors.js';

export interface DomainSelection {
  /** Existing domains selected, in the order libvirt listed them, without duplicates. */
  selected: string[];
  /** Requested literal names (no glob characters) that do not exist. */
  unknown: string[];
  /** Globs that matched nothing. */
  emptyPatterns: string[];
}

const GLOB_CHARS = /[*?[\]]/;

/** What an empty `--domains` value says: never "every domain" (a cron line's unset `$VMS`). */
export const EMPTY_DOMAINS_MESSAGE = "--domains is empty: name domains (a,b or 'web-*'), or --domains '*' for every domain";

/**
 * Split repeated/comma-separated `--domains` values into patterns; no --domains at all → all.
 * A --domains that was given but holds no pattern (`""`, `,`, `" , "`) is a usage error: read
 * as "all", an unset shell variable would scrub or stop every domain.
 */
export function splitDomainPatterns(values: readonly string[] | undefined): string[] {
  if (values === undefined) return ['*'];
  const out = values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
  if (out.length === 0) throw usageError(EMPTY_DOMAINS_MESSAGE);
  return out;
}

/** Match patterns against existing domain names. A name is literal unless it has glob characters. */
export function selectDomains(patterns: readonly string[], existing: readonly string[]): DomainSelection {
  const selected = new Set<string>();
  const unknown: string[] = [];
  const emptyPatterns: string[] = [];
  for (const pattern of patterns) {
    if (existing.includes(pattern)) {
      selected.add(pattern);
      continue;
    }
    if (!GLOB_CHARS.test(pattern)) {
      unknown.push(pattern);
      continue;
    }
    const isMatch = picomatch(pattern, { dot: true, nobrace: true, noextglob: true });
    const hits = existing.filter((n) => isMatch(n));
    if (hits.length === 0) emptyPatterns.push(pattern);
    for (const h of hits) selected.add(h);
  }
  return { selected: existing.filter((n) => selected.has(n)), unknown, emptyPatterns };
}
