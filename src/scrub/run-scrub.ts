/** `vmkeep scrub`: read, plan, act, re-read, per domain; one domain's failure does not stop the others. */
import type { AppContext } from '../app/context.js';
import { outcomeOf, type CommandResult } from '../app/command-result.js';
import { executeScrubPlan, verifyScrubResults, type ScrubActionResult } from '../domain/execute-scrub.js';
import { planScrub, simulateScrub, stillPresent, type ScrubDomainState, type ScrubPlan, type ScrubType } from '../domain/plan-scrub.js';
import { readScrubState } from '../domain/read-scrub-state.js';
import { renderScrubText } from './render-scrub.js';
import type { DomainScrubReport, ScrubActionReport, ScrubDocument, ScrubRemaining } from './types.js';
import { messageOf } from '../errors.js';

export interface ScrubOptions {
  /** Already-resolved names of existing domains. */
  domains: readonly string[];
  scrubType: ScrubType;
  checkpointName?: string;
  dryRun: boolean;
  force: boolean;
}

/** Scrub the domains one after the other and report each. */
export async function runScrub(ctx: AppContext, options: ScrubOptions): Promise<CommandResult> {
  const reports: Array<[string, DomainScrubReport]> = [];
  for (const domain of options.domains) {
    if (ctx.signal.aborted) break;
    reports.push([domain, await scrubDomain(ctx, domain, options)]);
  }
  // fromEntries defines own properties, so any domain name (even "__proto__") stays a key.
  const document: ScrubDocument = Object.fromEntries(reports);
  const okCount = reports.filter(([, r]) => r.ok).length;
  return {
    document,
    text: renderScrubText(document, options),
    outcome: ctx.signal.aborted ? 'interrupted' : outcomeOf(okCount, options.domains.length),
  };
}

async function scrubDomain(ctx: AppContext, domain: string, options: ScrubOptions): Promise<DomainScrubReport> {
  const dryRun = options.dryRun;
  let before: ScrubDomainState;
  try {
    before = await readScrubState(ctx, domain);
  } catch (error) {
    const message = `reading the domain failed: ${messageOf(error)}`;
    return { state: 'unknown', dryRun, actions: [], remaining: null, ok: false, error: message };
  }
  let plan: ScrubPlan;
  try {
    plan = planScrub(before, {
      scrubType: options.scrubType,
      checkpointName: options.checkpointName,
      force: options.force,
    });
  } catch (error) {
    return { state: before.state, dryRun, actions: [], remaining: remainingOf(before), ok: false, error: messageOf(error) };
  }

  if (options.dryRun) {
    const predicted = simulateScrub(before, plan);
    const left = stillPresent(plan, predicted);
    return {
      state: before.state,
      dryRun,
      actions: plan.actions.map((a) => toReport({ ...a, done: false })),
      remaining: remainingOf(predicted),
      ok: left.length === 0,
      ...(left.length > 0 ? { error: `would be left: ${left.join(', ')}` } : {}),
    };
  }

  const results = await executeScrubPlan(ctx, plan, before);
  let after: ScrubDomainState;
  try {
    after = await readScrubState(ctx, domain);
  } catch (error) {
    return {
      state: before.state,
      dryRun,
      actions: results.map((r) => toReport(r.done ? { ...r, done: false, error: 'not verified: the re-read failed' } : r)),
      remaining: null,
      ok: false,
      error: `re-reading the domain failed: ${messageOf(error)}`,
    };
  }
  const verified = verifyScrubResults(results, after);
  const left = stillPresent(plan, after);
  return {
    state: after.state,
    dryRun,
    actions: verified.map(toReport),
    remaining: remainingOf(after),
    ok: left.length === 0,
    ...(left.length > 0 ? { error: `still there: ${left.join(', ')}` } : {}),
  };
}

function toReport(r: ScrubActionResult): ScrubActionReport {
  return {
    action: r.action,
    target: r.target,
    ...(r.disk !== undefined ? { disk: r.disk } : {}),
    reason: r.reason,
    done: r.done,
    ...(r.error !== undefined ? { error: r.error } : {}),
  };
}

function remainingOf(state: ScrubDomainState): ScrubRemaining {
  return {
    checkpoints: state.checkpoints.map((c) => c.name),
    bitmaps: Object.fromEntries(state.disks.map((d) => [d.target, [...d.bitmaps]])),
  };
}
