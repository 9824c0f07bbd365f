/** Turn the backup tree into the retention planner's input. */
import { listBackedUpDomains, listChains, type ChainView } from '../repository/chains.js';
import { verifyFoundDamage } from '../repository/manifest.js';
import type { DomainHistory, RetentionChain } from '../retention/types.js';

/** Did the domain's latest backup attempt fail (a failure newer than its newest point)? */
function latestBackupFailed(chains: readonly ChainView[]): boolean {
  let newestPoint = -Infinity;
  let newestFailure = -Infinity;
  for (const c of chains) {
    for (const p of c.points) newestPoint = Math.max(newestPoint, Date.parse(p.time));
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
    mergeable: c.manifest?.engine === 'push',
    verifyFailedAt: c.manifest?.lastVerify && verifyFoundDamage(c.manifest.lastVerify) ? new Date(c.manifest.lastVerify.time) : undefined,
    points: c.points.map((p) => ({ id: p.checkpoint, time: new Date(p.time), protected: p.protected })),
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
