/** `--textfile DIR`: the output folder's metrics as DIR/vmkeep.prom, replaced atomically. */
import { hostname } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { AppContext } from '../app/context.js';
import { listBackedUpDomains, listChains } from '../repository/chains.js';
import { summarizeRunHistory, type RunHistory } from '../repository/run-history.js';
import { collectDomainStatus } from '../domain/collect-status.js';
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
  const domains = await listBackedUpDomains(output);
  return Promise.all(domains.map(async (d) => summarizeRunHistory(d, await listChains(output, d))));
}

/**
 * Write the metrics of every domain in the output folder (not only those this run touched, so
 * the file always describes the whole folder). Consistency comes from libvirt for the domains
 * it knows.
 */
export async function writeTextfile(ctx: AppContext, options: TextfileOptions): Promise<string> {
  const histories = await readRunHistories(options.output);
  const consistent = new Map<string, boolean>();
  const limit = pLimit(8);
  await Promise.all(
    histories.map((h) =>
      limit(async () => {
        try {
          consistent.set(h.domain, (await collectDomainStatus(ctx, h.domain)).overallStatus === 0);
        } catch {
          // a domain that is gone from libvirt has backups but no consistency to report
        }
      }),
    ),
  );
  const text = renderMetrics({ host: options.host ?? hostname(), now: ctx.now(), domains: histories, consistent });
  const path = join(options.dir, options.name);
  // node_exporter runs as its own user: the file must be world-readable.
  await writeFileAtomic(path, text, 0o644);
  return path;
}
