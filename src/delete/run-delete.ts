/** `vmkeep delete`: remove chosen restore points or chains of one domain (timewarp's delete). */
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { messageOf } from '../errors.js';
import { listChains, requireOutputFolder, type ChainView } from '../repository/chains.js';
import { checkMergeInputs, finishInterruptedMerges, mergePoints } from '../repository/merge-points.js';
import { withLocks } from '../repository/locks.js';
import { removeChainFolder } from '../repository/removal-leftovers.js';
import { removeNewestPoint } from '../repository/remove-newest-point.js';
import { planDelete, renderDeletePlan, type DeletableChain } from './plan-delete.js';

export interface DeleteOptions {
  output: string;
  domain: string;
  /** `FOLDER/CHECKPOINT` ids. */
  at: readonly string[];
  /** Chain folders to remove whole. */
  chains: readonly string[];
  dryRun: boolean;
  lockWaitMs: number;
}

function deletable(c: ChainView): DeletableChain {
  return { folder: c.folder, legacy: c.legacy, protected: c.protected, state: c.state, engine: c.manifest?.engine, points: c.points };
}

export async function runDelete(ctx: AppContext, options: DeleteOptions): Promise<CommandResult> {
  await requireOutputFolder(options.output);
  // The locks prune takes: the output folder's, then the domain's (a dry run takes none, as prune's).
  const request = { output: options.output, domains: [options.domain], mode: options.dryRun ? 'none' : 'write', waitMs: options.lockWaitMs } as const;
  return withLocks(ctx, request, async () => {
    const repaired: string[] = [];
    if (!options.dryRun) {
      for (const view of await listChains(options.output, options.domain)) {
        for (const line of await finishInterruptedMerges(ctx, view.dir)) repaired.push(`${options.domain}/${view.folder}: ${line}`);
      }
    }
    const chains = await listChains(options.output, options.domain);
    const plan = planDelete(chains.map(deletable), { domain: options.domain, at: options.at, chains: options.chains });
    const lines = renderDeletePlan(plan);
    if (options.dryRun) {
      return { document: { dryRun: true, plan }, text: [...lines, '(dry run: nothing deleted)'].join('\n'), outcome: 'ok' };
    }
    const dirOf = (folder: string) => chains.find((c) => c.folder === folder)!.dir;
    // Files that are not what the backup recorded stop the delete before anything changes.
    for (const m of plan.merges) await checkMergeInputs(dirOf(m.chain), { chain: `${options.domain}/${m.chain}`, into: m.into });
    const done: string[] = [];
    const failed: Array<{ what: string; error: string }> = [];
    const attempt = async (what: string, step: () => Promise<void>): Promise<void> => {
      try {
        await step();
        done.push(what);
        ctx.log.info(`${options.domain}: ${what}`);
      } catch (e) {
        failed.push({ what, error: messageOf(e) });
      }
    };
    for (const m of plan.merges) await attempt(`merged ${m.chain}/${m.dropped.join(', ')} into ${m.into}`, () => mergePoints(ctx, dirOf(m.chain), m));
    for (const r of plan.removeNewest) {
      if (failed.length > 0) break;
      await attempt(`deleted ${r.chain}/${r.checkpoint} and its libvirt checkpoint`, () => removeNewestPoint(ctx, dirOf(r.chain), r.checkpoint));
    }
    for (const folder of plan.removeChains) await attempt(`removed chain ${folder}`, () => removeChainFolder(dirOf(folder), folder, ctx.faults));
    return {
      document: { dryRun: false, plan, done, repaired, failed },
      text: [...repaired, ...done.map((d) => `${options.domain}: ${d}`), ...failed.map((f) => `FAILED ${options.domain}: ${f.what}: ${f.error}`)].join('\n'),
      outcome: failed.length === 0 ? 'ok' : done.length > 0 ? 'partial' : 'failure',
    };
  });
}
