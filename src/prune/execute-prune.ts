/** Carry out a prune plan: remove whole chain folders, nothing else. */
import { rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ChainView } from '../repository/chains.js';
import type { PrunePlan } from '../retention/types.js';
import type { FaultPoints } from '../app/context.js';
import type { Logger } from '../util/log.js';

export interface PruneExecution {
  removed: string[];
  failed: Array<{ chain: string; error: string }>;
}

/**
 * Remove the chains the plan removes. Each folder is first renamed to a hidden name, so a
 * half-deleted chain never looks like a chain to later runs, then deleted. Fault point (tests
 * only): `prune-renamed`, after the rename and before the delete, where a kill leaves the hidden folder.
 */
export async function executePrune(plan: PrunePlan, chains: ReadonlyMap<string, readonly ChainView[]>, log: Logger, faults?: FaultPoints): Promise<PruneExecution> {
  const removed: string[] = [];
  const failed: PruneExecution['failed'] = [];
  for (const domain of plan.domains) {
    const views = chains.get(domain.domain) ?? [];
    for (const decision of domain.remove) {
      const view = views.find((v) => v.folder === decision.id);
      if (!view) {
        failed.push({ chain: `${domain.domain}/${decision.id}`, error: 'chain folder not found' });
        continue;
      }
      try {
        const trash = join(dirname(view.dir), `.vmkeep-removing-${view.folder}-${process.pid}`);
        await rename(view.dir, trash);
        faults?.after('prune-renamed');
        await rm(trash, { recursive: true, force: true });
        removed.push(`${domain.domain}/${decision.id}`);
        log.info(`${domain.domain}: removed chain ${decision.id} (${decision.reasons.join('; ')})`);
      } catch (e) {
        failed.push({ chain: `${domain.domain}/${decision.id}`, error: e instanceof Error ? e.message : String(e) });
      }
    }
  }
  return { removed, failed };
}
