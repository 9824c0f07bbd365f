/** The chains of an output folder as the replication planner wants them (reads files only). */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { listBackedUpDomains, listChains } from '../repository/index.js';
import { selectDomains, splitDomainPatterns } from '../domain/select-domains.js';
import type { SourceChain } from './plan-replicate.js';

/** Where one host's backups are and what to call the host in the repository. */
export interface ReplicationSource {
  host: string;
  output: string;
  domains: readonly string[] | undefined;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(join(dir, e.name), rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/** Every chain of the selected domains, oldest first per domain; names that match nothing come back too. */
export async function readSourceChains(source: ReplicationSource): Promise<{ chains: SourceChain[]; notFound: string[] }> {
  const existing = await listBackedUpDomains(source.output);
  const selection = selectDomains(splitDomainPatterns(source.domains), existing);
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
        files: await listFiles(v.dir),
        points: (v.manifest?.points ?? []).map((p) => ({
          checkpoint: p.checkpoint,
          time: p.time,
          dataFiles: p.files.filter((f) => f.kind === 'data').map((f) => f.path),
          replicas: (p.replicas ?? []).map((r) => ({ repository: r.repository, snapshot: r.snapshot })),
        })),
      });
    }
  }
  return { chains, notFound: [...selection.unknown, ...selection.emptyPatterns] };
}
