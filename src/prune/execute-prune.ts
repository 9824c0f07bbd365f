/** Carry out a prune plan: remove whole chain folders, nothing else. */
import { dirname } from 'node:path';
import prettyBytes from 'pretty-bytes';
import type { ChainView } from '../repository/chains.js';
import { finishRemovals, removeChainFolder } from '../repository/removal-leftovers.js';
import { describeRemoval, recordRemoval } from '../repository/removal-record.js';
import type { PrunePlan } from '../retention/types.js';
import type { FaultPoints } from '../app/context.js';
import type { Logger } from '../util/log.js';
import { messageOf } from '../errors.js';

export interface PruneExecution {
  removed: string[];
  failed: Array<{ chain: string; error: string }>;
}

/**
 * Remove the chains the plan removes. Each folder is first renamed to a hidden name, so a
 * half-deleted chain never looks like a chain to later runs, then deleted. Fault point (tests
 * only): `prune-renamed`, after the rename and before the delete, where a kill leaves the hidden folder.
 */
export async function executePrune(
  plan: PrunePlan,
  chains: ReadonlyMap<string, readonly ChainView[]>,
  log: Logger,
  faults?: FaultPoints,
  /** The run's clock (VMKEEP_NOW in tests): when the removal record says the chain went. */
  now: () => Date = () => new Date(),
): Promise<PruneExecution> {
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
        await removeChainFolder(view.dir, view.folder, faults);
        removed.push(`${domain.domain}/${decision.id}`);
        // The forecast reads what prune gave back; a record that cannot be written costs only that.
        await recordRemoval(dirname(dirname(view.dir)), domain.domain, describeRemoval(view, now())).catch((e: unknown) =>
          log.warn(`${domain.domain}: could not record the removal of ${decision.id} for the forecast: ${messageOf(e)}`),
        );
        log.info(`${domain.domain}: removed chain ${decision.id} (${decision.reasons.join('; ')})`);
      } catch (e) {
        failed.push({ chain: `${domain.domain}/${decision.id}`, error: messageOf(e) });
      }
    }
  }
  return { removed, failed };
}

/**
 * Finish the removals an interrupted prune left (`.vmkeep-removing-*` folders) in each domain's
 * folder. The caller holds the output folder's and the domains' locks.
 */
export async function finishInterruptedRemovals(
  output: string,
  domains: readonly string[],
  log: Logger,
): Promise<Array<{ domain: string; name: string; line: string }>> {
  const done: Array<{ domain: string; name: string; line: string }> = [];
  for (const d of domains) {
    for (const l of await finishRemovals(output, d)) {
      const line = `${d}: finished removing ${l.name} (${prettyBytes(l.bytes, { binary: true })}), left by an interrupted prune`;
      log.info(line);
      done.push({ domain: d, name: l.name, line });
    }
  }
  return done;
}
