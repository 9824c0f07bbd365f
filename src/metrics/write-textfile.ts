/** `--textfile DIR`: the output folder's metrics as DIR/vmkeep.prom, replaced atomically. */
import { hostname } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { AppContext } from '../app/context.js';
import { listBackedUpDomains, listChains } from '../repository/chains.js';
import { summarizeRunHistory, type RunHistory } from '../repository/run-history.js';
import { collectDomainStatus, dirtyBytesOf } from '../domain/collect-status.js';
import type { ChainView } from '../repository/chains.js';
import { estimateNextBackupOf, readOutputForecast } from '../repository/read-forecast.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { renderMetrics } from './render-metrics.js';

export { DEFAULT_TEXTFILE_NAME } from './render-metrics.js';

export interface TextfileOptions {
  dir: string;
  /** File name in DIR (default vmkeep.prom); several output folders or hosts each get their own. */
  name: string;
  /** The `host` label (default: this machine's host name). */
  host: string | undefined;
  output: string;
}

/** Every domain with a folder in OUTPUT: its run history from the repository. */
export async function readRunHistories(output: string): Promise<RunHistory[]> {
  return (await readFolder(output)).histories;
}

async function readFolder(output: string): Promise<{ histories: RunHistory[]; chains: Map<string, ChainView[]> }> {
  const domains = await listBackedUpDomains(output);
  const chains = new Map(await Promise.all(domains.map(async (d) => [d, await listChains(output, d)] as const)));
  return { histories: domains.map((d) => summarizeRunHistory(d, chains.get(d) ?? [])), chains };
}

/**
 * Write the metrics of every domain in the output folder (not only those this run touched, so
 * the file always describes the whole folder). Consistency comes from libvirt for the domains
 * it knows.
 */
export async function writeTextfile(ctx: AppContext, options: TextfileOptions): Promise<string> {
  const { histories, chains } = await readFolder(options.output);
  const consistent = new Map<string, boolean>();
  const dirty = new Map<string, number | undefined>();
  const limit = pLimit(8);
  await Promise.all(
    histories.map((h) =>
      limit(async () => {
        try {
          const status = await collectDomainStatus(ctx, h.domain);
          consistent.set(h.domain, status.overallStatus === 0);
          dirty.set(h.domain, dirtyBytesOf(status));
        } catch {
          // a domain that is gone from libvirt has backups but no consistency to report
        }
      }),
    ),
  );
  const nextBackupBytes = new Map<string, number>();
  for (const [domain, views] of chains) {
    const next = estimateNextBackupOf(views, dirty.get(domain)).bytes;
    if (next !== null) nextBackupBytes.set(domain, next);
  }
  // A forecast that cannot be made (statfs refused) leaves its metric out, not the whole file.
  const forecast = await readOutputForecast(options.output, ctx.now(), chains).catch(() => undefined);
  const text = renderMetrics({
    host: options.host ?? hostname(),
    now: ctx.now(),
    domains: histories,
    consistent,
    nextBackupBytes,
    output: forecast ? { path: options.output, fullAt: forecast.fullAt } : undefined,
  });
  const path = join(options.dir, options.name);
  // node_exporter runs as its own user: the file must be world-readable.
  await writeFileAtomic(path, text, 0o644);
  return path;
}
