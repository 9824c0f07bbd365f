/** `vmkeep scrub` as a command: resolve --domains, hold each domain's lock, then scrub. */
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { namesOnly, resolveSelection, type SelectionRequest } from '../domain/select-by-tags.js';
import type { ScrubType } from '../domain/plan-scrub.js';
import { withLocks } from '../repository/locks.js';
import { sweepVerifyLeftovers } from '../domain/verify-domains.js';
import { runScrub } from './run-scrub.js';

export interface ScrubCommandOptions {
  domains: readonly string[] | undefined;
  scrubType: ScrubType;
  checkpointName: string | undefined;
  dryRun: boolean;
  force: boolean;
  lockWaitMs: number;
  /** --tag / --tag-any / --exclude over `domains`. */
  selection?: SelectionRequest;
}

/** Resolve --domains, hold each domain's lock (a backup must not run meanwhile), then scrub. */
export async function runScrubCommand(ctx: AppContext, options: ScrubCommandOptions): Promise<CommandResult> {
  const selection = await resolveSelection(ctx, options.selection ?? namesOnly(options.domains));
  // Removing what vmkeep left on the host is what scrub is for: a killed verify --boot's domain too.
  if (!options.dryRun) for (const line of await sweepVerifyLeftovers(ctx.virsh, [])) ctx.log.warn(line);
  return withLocks(ctx, { domains: selection.selected, mode: options.dryRun ? 'none' : 'write', waitMs: options.lockWaitMs }, async () => {
    const result = await runScrub(ctx, {
      domains: selection.selected,
      scrubType: options.scrubType,
      ...(options.checkpointName === undefined ? {} : { checkpointName: options.checkpointName }),
      dryRun: options.dryRun,
      force: options.force,
    });
    const missing = [...selection.unknown, ...selection.emptyPatterns];
    if (missing.length === 0) return result;
    const document = { ...(result.document as Record<string, unknown>) };
    for (const m of missing) document[m] = { state: 'unknown', ok: false, error: 'unknown domain', actions: [], remaining: null, dryRun: options.dryRun };
    const anyOk = Object.values(document).some((r) => (r as { ok?: boolean }).ok === true);
    return {
      document,
      text: `${result.text}${missing.map((m) => `${m}: error: unknown domain`).join('\n')}\n`,
      outcome: result.outcome === 'interrupted' ? 'interrupted' : anyOk ? 'partial' : 'failure',
    };
  });
}
