/** What `vmkeep backup` is told (built once by the CLI) and what it answers per domain. */
import type { AppContext } from '../app/context.js';
import type { DomainSettings, SettingsFor } from '../config/settings.js';
import type { HookSpec } from '../config/schema.js';
import type { SelectionRequest } from '../domain/select-by-tags.js';
import type { HookOutcome } from '../hooks/run-hook.js';
import type { PruneOutcome } from '../retention/types.js';
import type { EngineName } from './engine/types.js';
import type { PhaseTime } from '../util/phase-timer.js';

/**
 * What runs after a domain's backup succeeded, inside its lock: `backup --prune`. The caller
 * composes it (the prune command's code is not backup's to import); it is never called for a
 * domain whose backup failed, was skipped or only planned.
 */
export type AfterBackup = (ctx: AppContext, domain: string, output: string, settings: DomainSettings) => Promise<PruneOutcome>;

/**
 * Run-wide options. Everything that may differ per domain (groupBy, compress, raw, engine,
 * prune and its policy, label, stop, quiesce, disks, hooks) comes from `settingsFor` only.
 */
export interface BackupOptions {
  domains: readonly string[] | undefined;
  output: string;
  jobs: number;
  dryRun: boolean;
  lockWaitMs: number;
  /** --verbose: debug lines (virtnbdbackup's own log) are shown. */
  verbose?: boolean;
  /** Per-domain settings (config layers + flags); `fixedSettings` when there is no config. */
  settingsFor: SettingsFor;
  /** Prune a domain once its backup succeeded, where its settings ask for it. */
  afterBackup?: AfterBackup;
  /** --tag / --tag-any / --exclude on top of `domains`. */
  selection?: SelectionRequest;
  /** Read every domain's tags (the config has tag sections). */
  needTags?: boolean;
  /** backup --name: a name for the new restore point, unique per domain. */
  name?: string | undefined;
  /** Hooks run once per run. */
  runHooks?: { preRun?: HookSpec; postRun?: HookSpec };
  /** Why the run is VMSnap-compatible (--groupBy with no vmkeep config): auto picks virtnbdbackup for new chains. */
  vmsnapRun?: string | undefined;
}

/** The settings of a domain no tag or domain section names: the run's own groupBy and engine (undefined: auto). */
export function runWideSettings(options: Pick<BackupOptions, 'settingsFor'>): DomainSettings {
  return options.settingsFor('', []);
}

export interface DomainResult {
  domain: string;
  result: 'done' | 'skipped' | 'failed' | 'planned';
  level?: 'full' | 'inc';
  chain?: string;
  checkpoint?: string;
  dataBytes?: number;
  durationMs?: number;
  throughputBytesPerSecond?: number;
  reason?: string;
  /** A failure's tool output (argv, stderr): --json and --verbose only. */
  detail?: string;
  /** Failed only because another vmkeep run holds the domain's lock. */
  locked?: boolean;
  reasons?: string[];
  /** The engine this domain's run uses (or would, with --dry-run), and why. */
  engine?: EngineName;
  engineReason?: string;
  repairs?: string[];
  /** Anything else the run had to do or wants said (a stuck libvirt job it ended...). */
  notes?: string[];
  prune?: PruneOutcome;
  /** Domain tags, when read. */
  tags?: readonly string[];
  /** Hooks that ran for this domain. */
  hooks?: HookOutcome[];
  /** --stop: how the domain was stopped and whether it runs again. */
  stopped?: { how: 'graceful' | 'forced'; restarted: boolean };
  /** backup --name given to the new point. */
  name?: string;
  /** Were the guest's filesystems frozen for the point (vmkeep's freeze, or virtnbdbackup's log)? */
  quiesced?: boolean;
  /** Why they were not. */
  quiesceReason?: string;
  /** The guest was not running while the point was taken (shut off, or --stop): consistent on disk. */
  offline?: boolean;
  /** Which config layers applied. */
  layers?: readonly string[];
  /** Where the domain's time went, phase by phase (lock, read, plan, freeze, engine, checksums...). */
  phases?: PhaseTime[];
}
