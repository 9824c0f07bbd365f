/**
 * The replica marks follow the repository: a point whose snapshot the repository no longer lists
 * (forgotten by `replicate --prune` or by hand) stops counting as replicated there, so `list`
 * and `status` never call a point offsite that `restore --from` cannot find.
 */
import type { AppContext } from '../app/context.js';
import { listBackedUpDomains, listChains, reconcileReplicas, type ReplicaMarkChange } from '../repository/index.js';

/** One chain folder whose marks are checked. */
export interface MarkedChain {
  host: string;
  domain: string;
  chain: string;
  dir: string;
}

export type MarkChange = ReplicaMarkChange & { host: string; domain: string; chain: string };

/** Every chain with a manifest in each host's output folder. */
export async function chainsInOutputs(outputs: ReadonlyArray<{ host: string; output: string }>): Promise<MarkedChain[]> {
  const out: MarkedChain[] = [];
  for (const o of outputs) {
    for (const domain of await listBackedUpDomains(o.output)) {
      for (const v of await listChains(o.output, domain)) if (v.manifest !== undefined) out.push({ host: o.host, domain, chain: v.folder, dir: v.dir });
    }
  }
  return out;
}

/** Mark forgotten (or held again) every replica of `repository` that `held` (the repository's snapshot ids) disagrees with. */
export async function followRepository(ctx: AppContext, chains: readonly MarkedChain[], repository: string, held: ReadonlySet<string>): Promise<MarkChange[]> {
  const now = ctx.now().toISOString();
  const changes: MarkChange[] = [];
  for (const c of chains) {
    for (const change of await reconcileReplicas(c.dir, repository, held, now)) {
      changes.push({ ...change, host: c.host, domain: c.domain, chain: c.chain });
      ctx.log.info(
        `${c.host}/${c.domain} ${c.chain}/${change.checkpoint}: ${change.change === 'forgotten' ? `no longer in ${repository} (snapshot ${change.snapshot.slice(0, 8)}): not counted as replicated there any more` : `in ${repository} again (snapshot ${change.snapshot.slice(0, 8)})`}`,
      );
    }
  }
  return changes;
}

/** One line per change, for the command's text. */
export function renderMarkChanges(changes: readonly MarkChange[], repository: string): string {
  if (changes.length === 0) return '';
  const forgotten = changes.filter((c) => c.change === 'forgotten');
  const lines = [
    `replica marks corrected: ${forgotten.length} point${forgotten.length === 1 ? '' : 's'} no longer in ${repository}${changes.length > forgotten.length ? `, ${changes.length - forgotten.length} held there again` : ''}`,
  ];
  for (const c of changes)
    lines.push(`  ${c.host}/${c.domain} ${c.chain}/${c.checkpoint}: ${c.change === 'forgotten' ? 'not replicated there any more' : 'replicated there again'}`);
  return `${lines.join('\n')}\n`;
}
