/**
 * Parsers for backup's flag values, checked by zod schemas. Loaded with the backup command
 * only (zod and the config schema stay off the start-up path of every other command).
 */
import { z } from 'zod';
import { usageError } from '../errors.js';
import { ENGINE_NAMES } from '../config/schema.js';

// Text must be digits only, so `--jobs 2x`, `--jobs ''` and `--jobs 1e9` are refused instead of becoming NaN, 0 or a float.
const JOBS = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^\s*\d+\s*$/)
      .transform(Number),
  ])
  .pipe(z.number().int().min(1).max(64));

/** --jobs N (or defaults.jobs): backups at once, 1 to 64. */
export function parseJobs(value: unknown): number {
  const parsed = JOBS.safeParse(value);
  if (!parsed.success) throw usageError(`--jobs must be a whole number from 1 to 64, got ${JSON.stringify(value)}`);
  return parsed.data;
}

const ENGINE = z.enum(ENGINE_NAMES);

/** --engine auto|virtnbdbackup|push. */
export function parseEngine(value: unknown): (typeof ENGINE_NAMES)[number] {
  const parsed = ENGINE.safeParse(value);
  if (!parsed.success) throw usageError(`--engine must be ${ENGINE_NAMES.slice(0, -1).join(', ')} or ${ENGINE_NAMES.at(-1)}, got ${String(value)}`);
  return parsed.data;
}
