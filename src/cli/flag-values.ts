/**
 * What a flag's value may be, declared once in the flag's yargs option: enumerations as yargs
 * `choices` (so --help and docs/commands list them), counts, seconds and sizes as zod schemas.
 * yargs checks a value while it parses the line, before any command code runs: a bad one is a
 * usage error (exit 64) in one line that names the flag, what it takes and what it got.
 * The zod schemas are built only when such a flag is given.
 */
import type { Options } from 'yargs';
import { usageError } from '../errors.js';
import { MIN_BOOT_MEMORY_KIB, parseMemoryKiB } from '../util/memory-size.js';
import { GROUP_BY_VALUES } from '../retention/periods.js';
import { parseDuration } from '../retention/duration.js';

/** The part of a yargs option that says what its value may be. */
export type FlagValue = Pick<Options, 'type' | 'choices' | 'coerce'>;

const shown = (value: unknown) => JSON.stringify(value);

// Digits only, so `2x`, `''`, `1.5` and `1e9` are refused instead of becoming NaN, 0 or a float.
const WHOLE = /^\s*\d+\s*$/;

/** One of `values`; `aliases` maps older spellings (VMSnap's) to the word they stand for. */
export function choiceFlag(flag: string, values: readonly string[], aliases: Readonly<Record<string, string>> = {}): FlagValue {
  return {
    type: 'string',
    choices: values,
    coerce: (value: unknown) => {
      const text = typeof value === 'string' ? value.trim() : value;
      const word = typeof text === 'string' && Object.hasOwn(aliases, text) ? aliases[text] : text;
      if (typeof word !== 'string' || !values.includes(word)) throw usageError(`--${flag} must be one of ${values.join(', ')}, got ${shown(text)}`);
      return word;
    },
  };
}

/** A whole number from `min` to `max` (--jobs, --partition). */
export function wholeNumberFlag(flag: string, min: number, max: number): FlagValue {
  return {
    type: 'string',
    coerce: async (value: unknown) => {
      const { z } = await import('zod');
      const schema = z.union([z.number(), z.string().regex(WHOLE).transform(Number)]).pipe(z.number().int().min(min).max(max));
      const parsed = schema.safeParse(value);
      if (!parsed.success) throw usageError(`--${flag} must be a whole number from ${min} to ${max}, got ${shown(value)}`);
      return parsed.data;
    },
  };
}

export interface SecondsRange {
  min: number;
  max: number;
  /** `min` itself is refused (a timeout of 0 s would fire at once). */
  aboveMin?: boolean;
  /** Whole seconds only. */
  whole?: boolean;
}

/** Seconds in a range, as a number (fractions allowed unless `whole`). */
export function secondsFlag(flag: string, range: SecondsRange): FlagValue {
  const { min, max, aboveMin = false, whole = false } = range;
  const needs = aboveMin ? `seconds above ${min}, at most ${max}` : `seconds from ${min} to ${max}`;
  return {
    type: 'string',
    coerce: async (value: unknown) => {
      const { z } = await import('zod');
      const text = whole ? z.string().regex(WHOLE) : z.string().trim().min(1);
      // zod's number() refuses NaN and Infinity.
      const bounded = aboveMin ? z.number().gt(min).max(max) : z.number().min(min).max(max);
      const parsed = z
        .union([z.number(), text.transform(Number)])
        .pipe(bounded)
        .safeParse(value);
      if (!parsed.success) throw usageError(`--${flag} needs ${needs}, got ${shown(value)}`);
      return parsed.data;
    },
  };
}

/** A memory size (2G, 1536M, 1048576K; KiB without a unit) of at least `minKiB`, as KiB. */
export function memoryFlag(flag: string, minKiB = MIN_BOOT_MEMORY_KIB): FlagValue {
  return {
    type: 'string',
    coerce: (value: unknown) => {
      const kib = parseMemoryKiB(value);
      if (kib === undefined || kib < minKiB) throw usageError(`--${flag} needs a size of at least ${minKiB / 1024}M, like 2G or 1536M; got ${shown(value)}`);
      return kib;
    },
  };
}

/** A duration such as 26h, 3d or 1d12h, as a Duration. */
export function durationFlag(flag: string): FlagValue {
  return {
    type: 'string',
    coerce: (value: unknown) => {
      // No value: also what yargs leaves when the next word starts with a dash (`-1d` reads as flags -1 -d).
      if (value === '') throw usageError(`--${flag} needs a duration, e.g. 3d or 1d12h (no value given, or one starting with -)`);
      return parseDuration(String(value), `--${flag}`);
    },
  };
}

const MAX_LOCK_WAIT_S = 604_800;

/** --lock-wait SECONDS: a week at most (longer is a typo, and timers past 24.8 days fire at once). */
export const LOCK_WAIT = secondsFlag('lock-wait', { min: 0, max: MAX_LOCK_WAIT_S });

/** --jobs N: things done at once. */
export const JOBS = wholeNumberFlag('jobs', 1, 64);

/** Seconds (a parsed flag or a config value; none: 0) as milliseconds. */
export function secondsToMs(seconds: unknown): number {
  return Math.round(Number(seconds ?? 0) * 1000);
}

/** --groupBy month|quarter|bi-annual|year (VMSnap also wrote bi-annually). */
export const GROUP_BY = choiceFlag('groupBy', GROUP_BY_VALUES, { 'bi-annually': 'bi-annual', biannual: 'bi-annual' });
