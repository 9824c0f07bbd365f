/**
 * Per-domain settings from the layers: defaults < tag sections < domain sections < flags.
 * Pure: the command gets `settingsFor(domain, tags)` and calls it per domain; nothing here
 * reads a file, libvirt or the clock.
 */
import picomatch from 'picomatch';
import { usageError } from '../errors.js';
import { parseDuration } from '../retention/duration.js';
import { parsePolicy } from '../retention/policy.js';
import type { Duration, GroupBy, RetentionPolicy } from '../retention/types.js';
import { parseBootCheck, type BootCheck } from '../domain/boot-checks.js';
import { parseMemoryKiB } from '../util/memory-size.js';
import type { BootVerifyConfig, DomainOverrides, HookSpec, VmkeepConfig } from './schema.js';

export type StopMode = 'live' | 'stop' | 'stop-force' | 'require-stopped';

export interface DomainSettings {
  groupBy: GroupBy;
  ifOlderThan: Duration | undefined;
  compress: boolean;
  raw: boolean;
  prune: boolean;
  /** What --prune applies: VMSnap's period rule for groupBy plus the retention keep-* rules. */
  prunePolicy: RetentionPolicy;
  /**
   * Did a layer (or a flag) say anything about retention: a retention block, groupBy, or
   * `prune: true`? Without that, `vmkeep prune` with no policy flags leaves the domain alone.
   * Absent (not set) where settings are built from flags alone, without the resolver.
   */
  retentionSet?: boolean;
  /** Only these disk targets (undefined: every eligible disk). */
  disks: readonly string[] | undefined;
  /** Never these disk targets. */
  excludeDisks: readonly string[];
  stop: StopMode;
  stopTimeoutMs: number;
  label: string | undefined;
  /**
   * Freeze the guest's filesystems for each live point: off; on (a point that cannot be frozen is
   * recorded crash-consistent, with a warning); require (the domain fails instead).
   */
  quiesce: 'off' | 'on' | 'require';
  hooks: { preDomain?: HookSpec; postDomain?: HookSpec; onError?: HookSpec };
  /** What writes the backup (--engine, or the config's engine for this domain); undefined: auto, chosen per domain. */
  engine: 'virtnbdbackup' | 'push' | undefined;
  /** How `verify --boot` proves this domain's points (config `verify.boot`, then its flags). */
  bootVerify: BootVerifySettings;
  /** The layers that applied, in order ("defaults", "tag prod", "domain web-*", "flags"). */
  layers: readonly string[];
}

export interface BootVerifySettings {
  /** All must pass; undefined: `agent` when the point's saved XML has the agent channel, else `console`. */
  checks: readonly BootCheck[] | undefined;
  timeoutMs: number;
  /** The verify domain's memory cap (the original's memory when smaller). */
  maxMemoryKiB: number;
}

export type SettingsFor = (domain: string, tags: readonly string[]) => DomainSettings;

/** Built-in values when no layer says anything. */
export const BUILTIN_SETTINGS: Readonly<{ groupBy: GroupBy; stop: StopMode; stopTimeout: number; bootTimeout: number; bootMaxMemory: string }> = Object.freeze({
  groupBy: 'month',
  stop: 'live',
  stopTimeout: 120,
  bootTimeout: 300,
  bootMaxMemory: '2G',
});

/** verify --boot's settings when no layer sets any. */
export const BUILTIN_BOOT_VERIFY: BootVerifySettings = Object.freeze({
  checks: undefined,
  timeoutMs: BUILTIN_SETTINGS.bootTimeout * 1000,
  maxMemoryKiB: parseMemoryKiB(BUILTIN_SETTINGS.bootMaxMemory)!,
});

/** Does a domain-section key (a name or a glob) match this domain? */
export function sectionMatches(pattern: string, domain: string): boolean {
  if (pattern === domain) return true;
  if (!/[*?[\]]/.test(pattern)) return false;
  return picomatch(pattern, { dot: true, nobrace: true, noextglob: true })(domain);
}

/** The config layers (and flags) that apply to one domain, lowest first. */
export function layersFor(config: VmkeepConfig | undefined, domain: string, tags: readonly string[]): Array<{ name: string; values: DomainOverrides }> {
  const out: Array<{ name: string; values: DomainOverrides }> = [];
  if (config?.defaults) out.push({ name: 'defaults', values: config.defaults });
  for (const [tag, values] of Object.entries(config?.tags ?? {})) if (tags.includes(tag)) out.push({ name: `tag ${tag}`, values });
  for (const [pattern, values] of Object.entries(config?.domains ?? {})) if (sectionMatches(pattern, domain)) out.push({ name: `domain ${pattern}`, values });
  return out;
}

/**
 * Merge layers: later wins key by key; hooks merge hook by hook and verify.boot key by key (a
 * tag's checks, a domain's timeout); a retention block replaces the one below.
 */
export function mergeOverrides(layers: readonly DomainOverrides[]): DomainOverrides {
  const merged: Record<string, unknown> = {};
  let hooks: Record<string, unknown> = {};
  let boot: BootVerifyConfig = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      if (k === 'hooks') hooks = { ...hooks, ...(v as object) };
      else if (k === 'verify') boot = { ...boot, ...definedOnly((v as NonNullable<DomainOverrides['verify']>).boot ?? {}) };
      else merged[k] = v;
    }
  }
  return { ...merged, hooks, verify: { boot } };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** verify --boot's settings from a merged verify.boot block (already validated by the schema). */
export function resolveBootVerify(boot: BootVerifyConfig | undefined): BootVerifySettings {
  return Object.freeze({
    checks: boot?.checks === undefined ? undefined : Object.freeze(boot.checks.map((c) => parseBootCheck(c))),
    timeoutMs: (boot?.timeout ?? BUILTIN_SETTINGS.bootTimeout) * 1000,
    maxMemoryKiB: boot?.maxMemory === undefined ? BUILTIN_BOOT_VERIFY.maxMemoryKiB : parseMemoryKiB(boot.maxMemory)!,
  });
}

/** Does a layer say anything about retention (a retention block, groupBy, or prune: true)? */
export function saysRetention(layer: DomainOverrides): boolean {
  return layer.retention !== undefined || layer.groupBy !== undefined || layer.prune === true;
}

/** settingsFor(domain, tags) over a validated config and the flags given on the command line. */
export function createSettingsResolver(config: VmkeepConfig | undefined, flags: DomainOverrides): SettingsFor {
  return (domain, tags) => {
    const layers = layersFor(config, domain, tags);
    const hasFlags = Object.values(flags).some(
      (v) => v !== undefined && !(typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0),
    );
    const m = mergeOverrides([...layers.map((l) => l.values), flags]);
    const groupBy = m.groupBy ?? BUILTIN_SETTINGS.groupBy;
    const runHooks = m.hooks ?? {};
    return Object.freeze({
      groupBy,
      ifOlderThan: m.ifOlderThan === undefined ? undefined : parseDuration(m.ifOlderThan, 'ifOlderThan'),
      compress: m.compress ?? false,
      raw: m.raw ?? false,
      prune: m.prune ?? false,
      prunePolicy: parsePolicy({ ...(m.retention ?? {}), groupBy, vmsnapRule: true }),
      retentionSet: [...layers.map((l) => l.values), flags].some(saysRetention),
      disks: m.disks === undefined ? undefined : Object.freeze([...m.disks]),
      excludeDisks: Object.freeze([...(m.excludeDisks ?? [])]),
      stop: m.stop ?? BUILTIN_SETTINGS.stop,
      stopTimeoutMs: Math.round((m.stopTimeout ?? BUILTIN_SETTINGS.stopTimeout) * 1000),
      label: m.label,
      quiesce: m.quiesce === 'require' ? 'require' : m.quiesce === true ? 'on' : 'off',
      engine: m.engine === 'auto' ? undefined : m.engine,
      bootVerify: resolveBootVerify(m.verify?.boot),
      hooks: Object.freeze({
        ...(runHooks.preDomain === undefined ? {} : { preDomain: runHooks.preDomain }),
        ...(runHooks.postDomain === undefined ? {} : { postDomain: runHooks.postDomain }),
        ...(runHooks.onError === undefined ? {} : { onError: runHooks.onError }),
      }),
      layers: Object.freeze([...layers.map((l) => l.name), ...(hasFlags ? ['flags'] : [])]),
    });
  };
}

/**
 * The engine and the stream options a domain may not combine: push writes plain qcow2 images of
 * qcow2 disks, so neither compressed streams nor raw disks (no bitmap for a push checkpoint).
 * The one place this rule lives: the CLI words it per flag, the run per domain.
 */
export function engineConflict(s: Pick<DomainSettings, 'engine' | 'compress' | 'raw'>): 'compress' | 'raw' | undefined {
  if (s.engine !== 'push') return undefined;
  return s.compress ? 'compress' : s.raw ? 'raw' : undefined;
}

/** Why a domain's resolved settings cannot be backed up (layers valid alone can combine badly). */
export function settingsProblem(s: DomainSettings): string | undefined {
  return engineConflict(s) === undefined ? undefined : 'engine push writes plain qcow2 images of qcow2 disks; it goes with neither compress nor raw';
}

/**
 * The same settings for every domain, without a config file: built-in values under the few a
 * caller sets (restore's safety backup, a run that reads no config).
 */
export function fixedSettings(values: Partial<DomainSettings> & Pick<DomainSettings, 'groupBy'>): SettingsFor {
  const settings: DomainSettings = Object.freeze({
    ifOlderThan: undefined,
    compress: false,
    raw: false,
    prune: false,
    prunePolicy: parsePolicy({ groupBy: values.groupBy, vmsnapRule: true }),
    disks: undefined,
    excludeDisks: [],
    stop: BUILTIN_SETTINGS.stop,
    stopTimeoutMs: BUILTIN_SETTINGS.stopTimeout * 1000,
    label: undefined,
    quiesce: 'off',
    engine: 'virtnbdbackup',
    bootVerify: BUILTIN_BOOT_VERIFY,
    hooks: {},
    layers: [],
    ...values,
  });
  return () => settings;
}

/** A disk list from flags (`vda,vdb` or repeated); usage error when empty. */
export function parseDiskTargets(value: unknown, flag: string): string[] | undefined {
  if (value === undefined) return undefined;
  const list = (Array.isArray(value) ? value : [value])
    .flatMap((v) => String(v).split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  if (list.length === 0) throw usageError(`${flag} needs disk targets such as vda or vda,vdb`);
  return [...new Set(list)];
}
