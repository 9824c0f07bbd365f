/** Read an output folder's record of writes and removals, and its filesystem's free space, for the forecast. */
import { statfs } from 'node:fs/promises';
import { listBackedUpDomains, listChains, type ChainView } from './chains.js';
import { forecastOutput, estimateNextBackup, type DomainGrowthRecord, type NextBackupBasis, type OutputForecast } from './forecast.js';
import { pointFileBytes, readRemovals, type ChainRemoval } from './removal-record.js';

/** Bytes the filesystem holding `path` still has for an unprivileged writer (statfs bavail). */
export async function readFreeBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return Number(s.bavail) * Number(s.bsize);
}

/** One domain's growth record: its points on disk and the points and bytes of the chains prune removed. */
export async function readGrowthRecord(output: string, domain: string, chains: readonly ChainView[]): Promise<DomainGrowthRecord> {
  return growthRecordOf(domain, chains, await readRemovals(output, domain));
}

/** A domain's growth record from its chains and its record of removals, both already read. */
export function growthRecordOf(domain: string, chains: readonly ChainView[], removals: readonly ChainRemoval[]): DomainGrowthRecord {
  return {
    domain,
    written: [
      ...chains.flatMap((c) => {
        const bytes = pointFileBytes(c);
        return c.points.map((p, i) => ({ time: p.time, bytes: bytes[i]! }));
      }),
      ...removals.flatMap((r) => r.points),
    ],
    removed: removals.map((r) => ({ time: r.time, bytes: r.bytes })),
  };
}

/**
 * The forecast of an output folder: every domain folder in it, read now. `chains` may hand in
 * chains already read (the report reads them anyway); domains missing from it are read here.
 */
export async function readOutputForecast(output: string, now: Date, chains?: ReadonlyMap<string, readonly ChainView[]>): Promise<OutputForecast> {
  const domains = await listBackedUpDomains(output);
  const records = await Promise.all(domains.map(async (d) => readGrowthRecord(output, d, chains?.get(d) ?? (await listChains(output, d)))));
  return forecastOutput({ domains: records, freeBytes: await readFreeBytes(output), now });
}

/** The next backup's expected size of a domain: QEMU's dirty bytes when given, else its recent incrementals. */
export function estimateNextBackupOf(chains: readonly ChainView[], dirtyBytes: number | undefined): { bytes: number | null; basis: NextBackupBasis } {
  const incs = chains
    .flatMap((c) => c.points)
    .filter((p) => p.level === 'inc' && p.dataBytes !== undefined)
    .sort((a, b) => Date.parse(a.time) - Date.parse(b.time))
    .map((p) => p.dataBytes!);
  return estimateNextBackup(dirtyBytes, incs);
}
