/** vmkeep's version, from its package.json (read once, synchronously: it is a few hundred bytes). */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The version in package.json, found from this file's place in src/cli, dist/cli or the bundle in dist/. */
export function readVersion(): string {
  if (cached !== undefined) return cached;
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vmkeep' && typeof pkg.version === 'string') return (cached = pkg.version);
    } catch {
      // not here; try the next place
    }
  }
  return (cached = 'unknown');
}
