/** Turn the backup tree into the retention planner's input. */
import { listBackedUpDomains, listChains, type ChainView } from '../repository/chains.js';
import { verifyFoundDamage } from '../repository/manifest.js';
import { findLastRecorded } from '../repository/recording-order.js';
import type { DomainHistory, RetentionChain } from '../retention/types.js';

/** Did the domain's latest backup attempt fail (a failure newer than its newest point)? */
function latestBackupFailed(chains: readonly ChainView[]): boolean {
  // The point recorded last, whatever its date: one dated in the future must not hide a failure.
  const last = findLastRecorded(chains.flatMap((c) => c.points));
  const newestPoint = last ? Date.parse(last.time) : -Infinity;
  let newestFailure = -Infinity;
  for (const c of chains) {
    for (const e of c.manifest?.events ?? []) {
      if (e.kind === 'failed' || e.kind === 'interrupted') newestFailure = Math.max(newestFailure, Date.parse(e.time));
    }
  }
  return newestFailure > newestPoint;
}

function toRetentionChain(c: ChainView): RetentionChain {
  return {
    id: c.folder,
    domain: c.domain,
    periodStart: c.period?.start,
    state: c.state,
    protected: c.protected,
    mergeable: c.manifest?.engine === 'push' ? true : c.manifest?.engine === 'virtnbdbackup' ? 'incrementals' : false,
    ...(c.damage ? { damaged: c.damage.problems.join('; ') } : {}),
    verifyFailedAt: c.manifest?.lastVerify && verifyFoundDamage(c.manifest.lastVerify) ? new Date(c.manifest.lastVerify.time) : undefined,
    points: c.points.map((p) => ({
      id: p.checkpoint,
      time: new Date(p.time),
      ...(p.sequence !== undefined ? { sequence: p.sequence } : {}),
      protected: p.protected,
    })),
  };
}

/** Histories of the given domains (all domains with a folder in `output` when none are given). */
export async function readHistories(output: string, domains?: readonly string[]): Promise<{ histories: DomainHistory[]; chains: Map<string, ChainView[]> }> {
  const names = domains ?? (await listBackedUpDomains(output));
  const histories: DomainHistory[] = [];
  const chains = new Map<string, ChainView[]>();
  for (const domain of names) {
    const views = await listChains(output, domain);
    chains.set(domain, views);
    histories.push({ domain, chains: views.map(toRetentionChain), lastBackupFailed: latestBackupFailed(views) });
  }
  return { histories, chains };
}
