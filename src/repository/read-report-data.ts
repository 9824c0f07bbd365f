/**
 * Everything the HTML report shows about one output folder, read from disk: each domain's
 * chains and run history, what prune removed, the folder's size over time and its forecast.
 * A domain whose chains cannot be read (a damaged manifest) is kept, with what is wrong.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { messageOf } from '../errors.js';
import { listChains, type ChainView } from './chains.js';
import { MANIFEST_FILE } from './manifest.js';
import { forecastOutput, type DomainGrowthRecord, type OutputForecast } from './forecast.js';
import { growthRecordOf, readFreeBytes } from './read-forecast.js';
import { pointFileBytes, readRemovals, type ChainRemoval } from './removal-record.js';
import { summarizeRunHistory, type RunHistory } from './run-history.js';
import { readBootScreenshot, type BootScreenshot } from './boot-evidence.js';

export interface ReportDomainData {
  domain: string;
  chains: ChainView[];
  history: RunHistory | undefined;
  removals: ChainRemoval[];
  /** Why the domain's folder could not be read (then chains is empty). */
  error?: string;
  /** Why its record of removals could not be read (the row shows the domain; the folder has no forecast). */
  removalsError?: string;
  /** The console screenshot of its last boot proof (history.lastBootVerify): its thumbnail, or itself, or why it cannot be read; absent when none was kept. */
  bootScreenshot?: BootScreenshot;
}

export interface ReportFolderData {
  /** The host whose backups these are (a host folder's name, or the given one). */
  host: string;
  output: string;
  domains: ReportDomainData[];
  /** The folder's size after each write and each removal (`at`: ms since the epoch), oldest first. */
  sizeHistory: Array<{ at: number; bytes: number }>;
  sizeOnDisk: number;
  forecast: OutputForecast | undefined;
  forecastError?: string;
}

/**
 * Does the folder look like a vmkeep or VMSnap output folder: vmkeep's lock file, or a chain
 * folder (a manifest, or virtnbdbackup's `.cpt` file) one or two levels down (host folders)?
 */
export async function isBackupRepository(output: string): Promise<boolean> {
  const names = await readdir(output).catch(() => [] as string[]);
  if (names.includes('.vmkeep.lock')) return true;
  const looksLikeChain = async (dir: string) => {
    const files = await readdir(dir).catch(() => [] as string[]);
    return files.includes(MANIFEST_FILE) || files.some((f) => f.endsWith('.cpt'));
  };
  for (const a of names) {
    if (a.startsWith('.')) continue;
    const da = join(output, a);
    if (!(await stat(da).catch(() => undefined))?.isDirectory()) continue;
    for (const b of await readdir(da).catch(() => [] as string[])) {
      if (b.startsWith('.')) continue;
      const db = join(da, b);
      if (await looksLikeChain(db)) return true;
      for (const c of await readdir(db).catch(() => [] as string[])) if (!c.startsWith('.') && (await looksLikeChain(join(db, c)))) return true;
    }
  }
  return false;
}

/** Read one domain for the report: its chains, run history and what prune removed. */
export async function readReportDomain(output: string, domain: string): Promise<ReportDomainData> {
  let removals: ChainRemoval[] = [];
  let removalsError: string | undefined;
  try {
    removals = await readRemovals(output, domain);
  } catch (e) {
    // The row still shows the domain; only the folder's forecast needs every removal record.
    removalsError = messageOf(e);
  }
  const extra = removalsError !== undefined ? { removalsError } : {};
  try {
    const chains = await listChains(output, domain);
    const history = summarizeRunHistory(domain, chains);
    const proof = history.lastBootVerify;
    const chainDir = proof && chains.find((c) => c.folder === proof.chain)?.dir;
    const bootScreenshot = proof && chainDir !== undefined ? await readBootScreenshot(chainDir, proof.checkpoint) : undefined;
    return { domain, chains, history, removals, ...extra, ...(bootScreenshot ? { bootScreenshot } : {}) };
  } catch (e) {
    return { domain, chains: [], history: undefined, removals, error: messageOf(e), ...extra };
  }
}

/**
 * What the folder's totals need from one domain: small, so a thread that read the domain hands
 * it over instead of the domain's chains (a fleet's manifests are a hundred megabytes).
 */
export interface DomainContribution {
  sizeOnDisk: number;
  /** Writes and removals as (time in ms, byte delta) pairs, in the order the folder's history adds them. */
  events: Float64Array;
  /** The forecast's record of the domain; undefined when its removal record could not be read. */
  growth: DomainGrowthRecord | undefined;
  growthError?: string;
}

/** One domain's part of its folder's size history, size and forecast. */
export function contributionOf(d: ReportDomainData): DomainContribution {
  const events: number[] = [];
  for (const c of d.chains) {
    const bytes = pointFileBytes(c);
    c.points.forEach((p, i) => events.push(Date.parse(p.time), bytes[i]!));
  }
  for (const r of d.removals) {
    for (const p of r.points) events.push(Date.parse(p.time), p.bytes);
    events.push(Date.parse(r.time), -r.bytes);
  }
  return {
    sizeOnDisk: d.chains.reduce((m, c) => m + c.sizeOnDisk, 0),
    events: Float64Array.from(events),
    growth: d.removalsError === undefined ? growthRecordOf(d.domain, d.chains, d.removals) : undefined,
    ...(d.removalsError !== undefined ? { growthError: d.removalsError } : {}),
  };
}

/** The folder's size history, size on disk and forecast from its domains' contributions (in the domains' order). */
export async function summarizeReportFolder(
  output: string,
  host: string,
  now: Date,
  parts: readonly DomainContribution[],
): Promise<Omit<ReportFolderData, 'domains'>> {
  const events: Array<{ t: number; delta: number }> = [];
  for (const part of parts) for (let i = 0; i < part.events.length; i += 2) events.push({ t: part.events[i]!, delta: part.events[i + 1]! });
  events.sort((a, b) => a.t - b.t);
  let size = 0;
  const sizeHistory = events.map((e) => {
    size = Math.max(0, size + e.delta);
    return { at: e.t, bytes: size };
  });
  let forecast: OutputForecast | undefined;
  let forecastError = parts.find((p) => p.growth === undefined)?.growthError;
  if (forecastError === undefined) {
    try {
      forecast = forecastOutput({ domains: parts.map((p) => p.growth!), freeBytes: await readFreeBytes(output), now });
    } catch (e) {
      forecastError = messageOf(e);
    }
  }
  return {
    host,
    output,
    sizeHistory,
    sizeOnDisk: parts.reduce((n, p) => n + p.sizeOnDisk, 0),
    forecast,
    ...(forecastError !== undefined ? { forecastError } : {}),
  };
}
