/** Read a recorded fixture (fixtures/README.md says how each was captured). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export function fixture(relative: string): string {
  return readFileSync(`${root}${relative}`, 'utf8');
}

export const fixturesRoot = root;
