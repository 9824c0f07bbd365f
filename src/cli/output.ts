/** Serialise command results and errors for stdout/stderr. */
import prettyBytes from 'pretty-bytes';
import { VmkeepError, messageOf } from '../errors.js';

export type OutputFormat = 'text' | 'json' | 'yaml';

export interface OutputOptions {
  format: OutputFormat;
  /** Compact JSON (one line). */
  machine: boolean;
  /** Sizes as human strings instead of numbers. */
  pretty: boolean;
}

const SIZE_KEY = /(size|bytes)$/i;

/** Replace numeric size fields by human strings (for --pretty), leaving everything else. */
export function prettifySizes(value: unknown, key = ''): unknown {
  if (typeof value === 'number' && SIZE_KEY.test(key) && Number.isFinite(value)) return prettyBytes(value, { binary: true });
  if (Array.isArray(value)) return value.map((v) => prettifySizes(v, key));
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, prettifySizes(v, k)]));
  }
  return value;
}

/** Document → text for stdout in the chosen format (text format is rendered by the command). */
export async function serialiseDocument(document: unknown, options: OutputOptions): Promise<string> {
  const doc = options.pretty ? prettifySizes(document) : document;
  // Round-trip through JSON so Dates become ISO strings and undefined members disappear in both formats.
  const plain = JSON.parse(JSON.stringify(doc ?? null)) as unknown;
  if (options.format === 'yaml') {
    const { writeYaml } = await import('./write-yaml.js');
    return writeYaml(plain);
  }
  return `${options.machine ? JSON.stringify(plain) : JSON.stringify(plain, null, 2)}\n`;
}

/** An error for stderr: one line of text, or a JSON object with --json. */
export function serialiseError(error: unknown, options: { json: boolean; verbose: boolean }, exitCode: number): string {
  const message = messageOf(error);
  const code = error instanceof VmkeepError ? error.code : 'failure';
  const detail = error instanceof VmkeepError ? error.detail : error instanceof Error ? error.stack : undefined;
  if (options.json) {
    return `${JSON.stringify({ error: { code, exitCode, message, ...(options.verbose && detail ? { detail } : {}) } })}\n`;
  }
  const more = options.verbose && detail ? `\n${detail}` : '';
  return `vmkeep: ${message}${more}\n`;
}
