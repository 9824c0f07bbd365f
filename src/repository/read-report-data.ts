/**
 * Everything the HTML report shows about one output folder, read from disk: each domain's
 * chains and run history, what prune removed, the folder's size over time and its forecast.
 * A domain whose chains cannot be read (a damaged manifest) is kept, with what is wrong.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { messageOf } from '../errors.js';
import { listBackedUpDomains, listChains, type ChainView } from './chains.js';
import { MANIFEST_FILE } from './manifest.js';
import { forecastOutput, type OutputForecast } from './forecast.js';
import { readFreeBytes, readGrowthRecord } from './read-forecast.js';
import { pointFileBytes, readRemovals, type ChainRemoval } from './removal-record.js';
import { summarizeRunHistory, type RunHistory } from './run-history.js';

export interface ReportDomainData {
  domain: string;
  chains: ChainView[];
  history: RunHistory | undefined;
  removals: ChainRemoval[];
  /** Why the domain's folder could not be read (then chains is empty). */
  error?: string;
}

export interface ReportFolderData {
  /** The host whose backups these are (a host folder's name, or the given one). */
  host: string;
  output: string;
  domains: ReportDomainData[];
  /** The folder's size after each write and each removal, oldest first. */
  sizeHistory: Array<{ time: string; bytes: number }>;
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

/** Read one host's output folder for the report (domains: those to show; all when undefined). */
export async function readReportFolder(output: string, host: string, now: Date, domains?: readonly string[]): Promise<ReportFolderData> {
  const names = domains ?? (await listBackedUpDomains(output));
  const read: ReportDomainData[] = [];
  for (const domain of names) {
    const removals = await readRemovals(output, domain).catch(() => []);
    try {
      const chains = await listChains(output, domain);
      read.push({ domain, chains, history: summarizeRunHistory(domain, chains), removals });
    } catch (e) {
      read.push({ domain, chains: [], history: undefined, removals, error: messageOf(e) });
    }
  }
  const events: Array<{ t: number; delta: number }> = [];
  for (const d of read) {
    for (const c of d.chains) for (const p of c.points) events.push({ t: Date.parse(p.time), delta: pointFileBytes(c, p.checkpoint) });
    for (const r of d.removals) {
      for (const p of r.points) events.push({ t: Date.parse(p.time), delta: p.bytes });
      events.push({ t: Date.parse(r.time), delta: -r.bytes });
    }
  }
  events.sort((a, b) => a.t - b.t);
  let size = 0;
  const sizeHistory = events.map((e) => {
    size = Math.max(0, size + e.delta);
    return { time: new Date(e.t).toISOString(), bytes: size };
  });
  let forecast: OutputForecast | undefined;
  let forecastError: string | undefined;
  try {
    const records = await Promise.all(read.map((d) => readGrowthRecord(output, d.domain, d.chains)));
    forecast = forecastOutput({ domains: records, freeBytes: await readFreeBytes(output), now });
  } catch (e) {
    forecastError = messageOf(e);
  }
  return {
    host,
    output,
    domains: read,
    sizeHistory,
    sizeOnDisk: read.reduce((n, d) => n + d.chains.reduce((m, c) => m + c.sizeOnDisk, 0), 0),
    forecast,
    ...(forecastError !== undefined ? { forecastError } : {}),
  };
}
