/**
 * The hypervisors one run works on. A pure list built from `--connect` values (and, once the
 * config file lands, from its `hosts:`): each host has a name (for output folders, `host/domain`
 * addresses and messages) and a libvirt URI.
 */
import { join } from 'node:path';
import { usageError } from '../errors.js';

export interface HostSpec {
  /** A short name: output sub-folder, `host/domain` prefix. Letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  /** The libvirt connection URI (`qemu:///system`, `qemu+ssh://root@h1/system?keyfile=...`). */
  readonly uri: string;
}

export const DEFAULT_URI = 'qemu:///system';

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** `name=URI`: the part before the first `=` has no `:` or `/`, so a URI's own `?a=b` is never taken for it. */
const NAMED = /^([^=:/]+)=(.+)$/;

/** The host part of a libvirt URI (`h1` of `qemu+ssh://root@h1:2222/system`); undefined for a local URI. */
export function uriHost(uri: string): string | undefined {
  const parsed = parseUri(uri);
  return parsed && parsed.hostname !== '' ? parsed.hostname.replace(/^\[(.*)\]$/, '$1') : undefined;
}

/** The user part of a libvirt URI (`root` of `qemu+ssh://root@h1/system`), if any. */
export function uriUser(uri: string): string | undefined {
  const parsed = parseUri(uri);
  return parsed && parsed.username !== '' ? decodeURIComponent(parsed.username) : undefined;
}

/** Does this URI reach libvirtd on another machine (a host part), rather than this one? */
export function isRemoteUri(uri: string): boolean {
  return uriHost(uri) !== undefined;
}

function parseUri(uri: string): URL | undefined {
  try {
    return new URL(uri);
  } catch {
    return undefined;
  }
}

/** The name a host gets when `--connect` gives none: its URI's host part, or `local`. */
export function defaultHostName(uri: string): string {
  const host = uriHost(uri);
  if (host === undefined) return 'local';
  return host.replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * `--connect` values (each `URI` or `name=URI`, repeatable) → the host list. No value → the local
 * default. Throws a usage error for a bad name, an empty URI or a name or URI given twice.
 */
export function parseHostList(values: readonly string[]): readonly HostSpec[] {
  if (values.length === 0) return Object.freeze([Object.freeze({ name: 'local', uri: DEFAULT_URI })]);
  const hosts: HostSpec[] = [];
  for (const raw of values) {
    const value = raw.trim();
    const m = NAMED.exec(value);
    const uri = (m ? m[2]! : value).trim();
    const name = m ? m[1]!.trim() : defaultHostName(uri);
    // timewarp's -c is "checkpoint the current state"; vmkeep's -c is --connect: name the likely mix-up.
    const meant = 'did you mean --checkpoint-current? (-c is --connect here)';
    if (uri === '') throw usageError(`--connect ${JSON.stringify(raw)} has no URI: ${meant}`);
    if (!uri.includes(':'))
      throw usageError(`--connect ${JSON.stringify(raw)} is not a libvirt URI (like qemu:///system or qemu+ssh://root@host/system): ${meant}`);
    if (!HOST_NAME.test(name))
      throw usageError(`host name ${JSON.stringify(name)} (from --connect ${JSON.stringify(raw)}) must be letters, digits, '.', '_' or '-'`);
    const sameName = hosts.find((h) => h.name === name);
    if (sameName) throw usageError(`two hosts are named ${name} (${sameName.uri} and ${uri}): give each --connect a name, as NAME=URI`);
    const sameUri = hosts.find((h) => h.uri === uri);
    if (sameUri) throw usageError(`--connect ${uri} is given twice (as ${sameUri.name} and ${name})`);
    hosts.push(Object.freeze({ name, uri }));
  }
  return Object.freeze(hosts);
}

/**
 * The `--domains` patterns that apply to one host: `host/pattern` only on that host (prefix
 * removed), a pattern without `/` on every host. undefined = all domains; [] = nothing on this host.
 */
export function patternsForHost(patterns: readonly string[] | undefined, host: string): readonly string[] | undefined {
  if (patterns === undefined) return undefined;
  const items = patterns
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
  if (items.length === 0) return undefined;
  const out: string[] = [];
  for (const item of items) {
    const slash = item.indexOf('/');
    if (slash < 0) out.push(item);
    else if (item.slice(0, slash) === host) out.push(item.slice(slash + 1));
  }
  return out;
}

/** `host/domain` patterns that name no known host: a typo the user should hear about. */
export function unknownHostPrefixes(patterns: readonly string[] | undefined, hosts: readonly HostSpec[]): string[] {
  const names = new Set(hosts.map((h) => h.name));
  return (patterns ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.includes('/') && !names.has(v.slice(0, v.indexOf('/'))));
}

/** Refuse `--domains h9/web` when no host is called h9: a typo must not silently select nothing. */
export function checkHostPrefixes(domains: readonly string[] | undefined, hosts: readonly HostSpec[]): void {
  const bad = unknownHostPrefixes(domains, hosts);
  if (bad.length > 0) throw usageError(`--domains ${bad.join(', ')}: no host by that name (hosts: ${hosts.map((h) => h.name).join(', ')})`);
}

/** The host's own output folder: `OUTPUT/<host>` when the run has several hosts, else OUTPUT. */
export function hostOutputDir(output: string, host: HostSpec, hostCount: number): string {
  return hostCount > 1 ? join(output, host.name) : output;
}
