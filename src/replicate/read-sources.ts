/** The chains of an output folder as the replication planner wants them (reads files only). */
import { listBackedUpDomains, listChains } from '../repository/index.js';
import type { AppContext } from '../app/context.js';
import { namesOnly, selectAmong, type SelectionRequest } from '../domain/select-by-tags.js';
import type { SourceChain } from './plan-replicate.js';
import { listFilesRelative } from '../util/list-files.js';

/** Where one host's backups are and what to call the host in the repository. */
export interface ReplicationSource {
  host: string;
  output: string;
  domains: readonly string[] | undefined;
  /** --tag / --tag-any / --exclude over `domains` (tags are read from the one libvirt connected). */
  selection?: SelectionRequest;
}

/** Every chain of the selected domains, oldest first per domain; names that match nothing come back too. */
export async function readSourceChains(
  ctx: AppContext,
  source: ReplicationSource,
): Promise<{ chains: SourceChain[]; notFound: string[]; filteredOut: Array<{ domain: string; why: string }> }> {
  const existing = await listBackedUpDomains(source.output);
  const selection = await selectAmong(ctx, existing, { ...(source.selection ?? namesOnly(source.domains)), domains: source.domains });
  const chains: SourceChain[] = [];
  for (const domain of selection.selected) {
    const views = await listChains(source.output, domain);
    for (const [i, v] of views.entries()) {
      chains.push({
        host: source.host,
        domain,
        chain: v.folder,
        dir: v.dir,
        state: v.state,
        newest: i === views.length - 1,
        hasManifest: v.manifest !== undefined,
        files: await listFilesRelative(v.dir, { regularOnly: true }),
        points: (v.manifest?.points ?? []).map((p) => ({
          checkpoint: p.checkpoint,
          time: p.time,
          dataFiles: p.files.filter((f) => f.kind === 'data').map((f) => f.path),
          replicas: (p.replicas ?? []).map((r) => ({ repository: r.repository, snapshot: r.snapshot })),
        })),
      });
    }
  }
  return {
    chains,
    notFound: [...selection.unknown, ...selection.emptyPatterns],
    filteredOut: selection.filteredOut.map((f) => ({ domain: `${source.host}/${f.domain}`, why: f.why })),
  };
}
