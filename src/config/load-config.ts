/**
 * Find, read and validate the config file. Errors say where: the key path, the line and column
 * in the file, and what is allowed there (exit 64).
 *
 * The `yaml` package parses: it keeps every node's source range, so a zod issue's path maps
 * back to a line and column (js-yaml only reports positions for syntax errors).
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, isMap, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { z } from 'zod';
import { VmkeepError, usageError } from '../errors.js';
import { ConfigSchema, type VmkeepConfig } from './schema.js';

export const DEFAULT_CONFIG_PATH = '/etc/vmkeep/config.yaml';

export interface LoadedConfig {
  /** Where it came from: a path, or `-` for stdin. */
  source: string;
  config: VmkeepConfig;
}

/**
 * Which config to read: `--config FILE` (`-` = stdin), else VMKEEP_CONFIG, else the default path
 * when it exists. `--config none`... is not a thing: without a file vmkeep uses its own defaults.
 */
export async function loadConfig(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  readStdin: () => Promise<string>,
  schema: z.ZodType<VmkeepConfig> = ConfigSchema,
): Promise<LoadedConfig | undefined> {
  const explicit = flag ?? (env['VMKEEP_CONFIG'] || undefined);
  const path = explicit ?? DEFAULT_CONFIG_PATH;
  let text: string;
  if (path === '-') {
    text = await readStdin();
  } else {
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && explicit === undefined) return undefined;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder' : `cannot be read (${code ?? String(e)})`;
      throw usageError(`config file ${path} ${why}${flag === undefined ? ' (named by VMKEEP_CONFIG)' : ''}`);
    }
  }
  return { source: path === '-' ? 'stdin' : path, config: parseConfigText(text, path === '-' ? 'stdin' : path, schema) };
}

/** Parse and validate config text (YAML, or JSON, which is YAML too). Throws a usage error with line:column. */
export function parseConfigText(text: string, source: string, schema: z.ZodType<VmkeepConfig> = ConfigSchema): VmkeepConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const pos = lines.linePos(syntax.pos[0]);
    throw usageError(`config ${source}:${pos.line}:${pos.col}: not valid YAML: ${firstLine(syntax.message)}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = schema.safeParse(raw);
  if (result.success) return deepFreeze(result.data);
  const issues = result.error.issues;
  const messages = issues.slice(0, 5).map((issue) => describeIssue(issue, doc, lines, source, schema));
  throw new VmkeepError('usage', messages[0]!, {
    detail: messages.length > 1 ? messages.join('\n') : undefined,
  });
}

function describeIssue(issue: z.core.$ZodIssue, doc: Document, lines: LineCounter, source: string, schema: z.ZodType): string {
  let path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  let keyName: string | undefined;
  let what = issue.message;
  if (issue.code === 'unrecognized_keys') {
    keyName = issue.keys[0];
    const allowed = allowedKeys(schema, path);
    what = `unknown key ${JSON.stringify(keyName)}${allowed.length > 0 ? `; allowed here: ${allowed.join(', ')}` : ''}`;
  }
  const offset = offsetOf(doc, path, keyName);
  const where = offset === undefined ? source : `${source}:${lines.linePos(offset).line}:${lines.linePos(offset).col}`;
  if (keyName !== undefined) path = [...path, keyName];
  const keyPath = path.length === 0 ? '(top level)' : path.map(String).join('.');
  return `config ${where}: ${keyPath}: ${what}`;
}

/** The offset of the node at `path` (or of the key `keyName` in the map there), else of the deepest node that exists. */
function offsetOf(doc: Document, path: readonly PropertyKey[], keyName: string | undefined): number | undefined {
  let node: unknown = doc.contents;
  let best: number | undefined = rangeStart(node);
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(segment));
      if (!pair) break;
      best = rangeStart(pair.value) ?? rangeStart(pair.key) ?? best;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      best = rangeStart(node) ?? best;
    } else {
      break;
    }
  }
  if (keyName !== undefined && isMap(node)) {
    const pair = node.items.find((p) => keyText(p.key) === keyName);
    if (pair) return rangeStart(pair.key) ?? best;
  }
  return best;
}

function keyText(key: unknown): string | undefined {
  if (key && typeof key === 'object' && 'value' in key) return String(key.value);
  return key === undefined || key === null ? undefined : String(key);
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return Array.isArray(range) ? range[0] : undefined;
}

/** The keys an object schema allows at `path` (records and optionals are looked through). */
function allowedKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let s: unknown = schema;
  const unwrap = (x: unknown): unknown => {
    let cur = x as { def?: { type?: string; innerType?: unknown; in?: unknown; out?: unknown; schema?: unknown } };
    for (let i = 0; i < 10 && cur?.def; i++) {
      const t = cur.def.type;
      if (t === 'optional' || t === 'nullable' || t === 'default') cur = cur.def.innerType as typeof cur;
      else if (t === 'pipe') cur = cur.def.in as typeof cur;
      else break;
    }
    return cur;
  };
  s = unwrap(s);
  for (const segment of path) {
    const def = (s as { def?: { type?: string; shape?: Record<string, unknown>; valueType?: unknown } }).def;
    if (def?.type === 'object' && def.shape) s = unwrap(def.shape[String(segment)]);
    else if (def?.type === 'record') s = unwrap(def.valueType);
    else return [];
  }
  const def = (s as { def?: { type?: string; shape?: Record<string, unknown> } }).def;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
