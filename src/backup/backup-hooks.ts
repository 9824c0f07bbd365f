/**
 * The hooks around a backup run, each wrapping one named step: pre-run and post-run around the
 * run, pre-domain, post-domain and on-error around one domain's backup. The run's id and output
 * travel in one HookScope; a hook's own failure is an outcome, never a throw.
 */
import type { AppContext } from '../app/context.js';
import { outcomeOf } from '../app/command-result.js';
import type { HookSpec } from '../config/schema.js';
import type { DomainSettings } from '../config/settings.js';
import { runHook, type HookEnv, type HookOutcome, type HookPhase } from '../hooks/run-hook.js';
import type { PhaseTimer } from '../util/phase-timer.js';
import type { DomainResult } from './types.js';

/** What every hook of one run is told. */
export interface HookScope {
  ctx: AppContext;
  runId: string;
  output: string;
  /** A dry run runs no hook. */
  dryRun: boolean;
}

function envOf(scope: HookScope, phase: HookPhase, extra: Partial<HookEnv> = {}): HookEnv {
  return { phase, runId: scope.runId, output: scope.output, ...extra };
}

/** How the run's hooks went; `gated` when pre-run failed and nothing was backed up. */
export interface RunHooksOutcome {
  results: DomainResult[];
  hooks: HookOutcome[];
  gated: boolean;
}

/**
 * pre-run gates the whole run (when it fails, every selected domain is "not started");
 * post-run hears how the run went, whatever happened.
 */
export async function withRunHooks(
  scope: HookScope,
  hooks: { preRun?: HookSpec; postRun?: HookSpec } | undefined,
  selected: readonly string[],
  body: () => Promise<DomainResult[]>,
): Promise<RunHooksOutcome> {
  const { ctx } = scope;
  const outcomes: HookOutcome[] = [];
  if (hooks?.preRun && !scope.dryRun) {
    const pre = await runHook(ctx.runner, ctx.log, hooks.preRun, envOf(scope, 'pre-run'), ctx.signal);
    outcomes.push(pre);
    if (!pre.ok) {
      const results: DomainResult[] = selected.map((d) => ({ domain: d, result: 'failed', reason: `not started: ${pre.error}` }));
      return { results, hooks: outcomes, gated: true };
    }
  }
  const results = await body();
  if (hooks?.postRun && !scope.dryRun) {
    const ok = results.filter((r) => r.result !== 'failed').length;
    const failed = results.filter((r) => r.result === 'failed');
    const env = envOf(scope, 'post-run', {
      result: ctx.signal.aborted ? 'interrupted' : outcomeOf(ok, results.length),
      error: failed.map((r) => `${r.domain}: ${r.reason ?? 'failed'}`).join('; '),
    });
    outcomes.push(await runHook(ctx.runner, ctx.log, hooks.postRun, env));
  }
  return { results, hooks: outcomes, gated: false };
}

/** Where a domain's backup writes, known once it is planned (for post-domain and on-error). */
export interface ChainTarget {
  dir?: string;
  level?: string;
}

/**
 * pre-domain gates the domain's backup (a failing one skips it); on-error (when it failed) and
 * post-domain (always) follow it, and a failing one becomes a warning note on the domain.
 */
export async function withDomainHooks(
  scope: HookScope,
  domain: string,
  hooks: DomainSettings['hooks'],
  body: (target: ChainTarget) => Promise<DomainResult>,
  timer?: PhaseTimer,
): Promise<{ result: DomainResult; hooks: HookOutcome[] }> {
  const { ctx } = scope;
  const timed = <T>(step: () => Promise<T>) => (timer ? timer.time('hooks', step) : step());
  const outcomes: HookOutcome[] = [];
  const target: ChainTarget = {};
  if (scope.dryRun) return { result: await body(target), hooks: outcomes };
  let result: DomainResult | undefined;
  if (hooks.preDomain) {
    const pre = await timed(() => runHook(ctx.runner, ctx.log, hooks.preDomain!, envOf(scope, 'pre-domain', { domain }), ctx.signal));
    outcomes.push(pre);
    if (!pre.ok) result = { domain, result: 'failed', reason: `skipped: ${pre.error}` };
  }
  result ??= await body(target);
  const env = {
    domain,
    result: result.result,
    ...(target.dir ? { chainDir: target.dir } : {}),
    ...(target.level ? { level: target.level } : {}),
    ...(result.result === 'failed' ? { error: result.reason ?? 'failed' } : {}),
  };
  const phases: Array<['post-domain' | 'on-error', HookSpec | undefined]> = [
    ['on-error', result.result === 'failed' ? hooks.onError : undefined],
    ['post-domain', hooks.postDomain],
  ];
  for (const [phase, hook] of phases) {
    if (!hook) continue;
    const out = await timed(() => runHook(ctx.runner, ctx.log, hook, envOf(scope, phase, env)));
    outcomes.push(out);
    if (!out.ok) result = { ...result, notes: [...(result.notes ?? []), `warning: ${out.error}`] };
  }
  return { result, hooks: outcomes };
}
