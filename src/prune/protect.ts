/** `vmkeep protect` / `unprotect`: s3snapshot's protected flag on a chain or a point, in the manifest. */
import { join } from 'node:path';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { withLocks } from '../repository/locks.js';
import { readManifest, writeManifest } from '../repository/manifest.js';
import { domainDir, listChains, type ChainView } from '../repository/chains.js';
import { VmkeepError, usageError } from '../errors.js';

export interface ProtectOptions {
  output: string;
  domain: string;
  /** `<chain folder>` or `<chain folder>/<checkpoint>`. */
  target: string;
  protect: boolean;
  lockWaitMs: number;
}

/**
 * A target that is no chain folder and has no `/` may be a label: the one point carrying it.
 * Pure; an ambiguous label is a usage error listing the candidates.
 */
export function resolveLabelTarget(chains: readonly ChainView[], target: string, domain: string): string {
  if (target.includes('/') || chains.some((c) => c.folder === target)) return target;
  const named = chains.flatMap((c) => c.points.filter((p) => p.name === target).map((p) => `${c.folder}/${p.checkpoint}`));
  if (named.length === 1) return named[0]!;
  const hits = chains.flatMap((c) => c.points.filter((p) => p.label === target).map((p) => `${c.folder}/${p.checkpoint}`));
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw usageError(`label ${JSON.stringify(target)} is on ${hits.length} restore points of ${domain}; name one: ${hits.join(', ')}`);
  return target;
}

export async function runProtect(ctx: AppContext, options: ProtectOptions): Promise<CommandResult> {
  const chains = await listChains(options.output, options.domain);
  const target = resolveLabelTarget(chains, options.target, options.domain);
  const [folder, checkpoint, extra] = target.split('/');
  if (!folder || extra !== undefined) throw usageError(`name a chain (FOLDER), a point (FOLDER/CHECKPOINT) or a label, got ${JSON.stringify(options.target)}`);
  const chain = chains.find((c) => c.folder === folder);
  if (!chain) {
    const known = chains.map((c) => c.folder).join(', ') || 'none';
    throw usageError(`no chain ${JSON.stringify(folder)} for ${options.domain} in ${options.output} (chains: ${known})`);
  }
  if (chain.legacy) throw new VmkeepError('failure', `${folder} is a VMSnap folder without a vmkeep manifest: it cannot carry a protected flag`);
  return withLocks(ctx, { output: options.output, mode: 'write', waitMs: options.lockWaitMs }, async () => {
    const dir = join(domainDir(options.output, options.domain), folder);
    const manifest = await readManifest(dir);
    if (!manifest) throw new VmkeepError('failure', `${dir} has no manifest`);
    const time = ctx.now().toISOString();
    const verb = options.protect ? 'protected' : 'unprotected';
    let changed;
    if (checkpoint === undefined) {
      changed = { ...manifest, protected: options.protect };
    } else {
      if (!manifest.points.some((p) => p.checkpoint === checkpoint)) {
        throw usageError(`no point ${checkpoint} in ${folder} (points: ${manifest.points.map((p) => p.checkpoint).join(', ')})`);
      }
      changed = { ...manifest, points: manifest.points.map((p) => (p.checkpoint === checkpoint ? { ...p, protected: options.protect } : p)) };
    }
    changed = {
      ...changed,
      updatedAt: time,
      events: [...changed.events, { time, kind: verb, message: `${verb} ${target}` } as const],
    };
    await writeManifest(dir, changed);
    return {
      document: { domain: options.domain, target, protected: options.protect },
      text: `${options.domain}: ${target} ${verb}`,
      outcome: 'ok',
    };
  });
}
