/** `vmkeep check`: the Nagios/Icinga plugin. Reads the repository and libvirt, judges, one line out. */
import { stat } from 'node:fs/promises';
import pLimit from 'p-limit';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { namesOnly, resolveSelection, type SelectionRequest } from '../domain/select-by-tags.js';
import { listChains } from '../repository/chains.js';
import { summarizeRunHistory } from '../repository/run-history.js';
import { readOutputForecast } from '../repository/read-forecast.js';
import { collectDomainStatus } from '../domain/collect-status.js';
import {
  judgeCheck,
  judgeForecast,
  summarizeVerdicts,
  STATE_WORD,
  type DaysLeftThresholds,
  type CheckState,
  type CheckThresholds,
  type CheckVerdict,
  type DomainCheckInput,
} from './judge-check.js';
import { messageOf } from '../errors.js';

export interface CheckOptions {
  domains: readonly string[] | undefined;
  /** --tag / --tag-any / --exclude over `domains`. */
  selection?: SelectionRequest;
  output: string;
  thresholds: CheckThresholds;
  /** --min-days-left D[,C]: judge the output folder's forecast too (absent: not asked). */
  minDaysLeft?: DaysLeftThresholds | undefined;
}

const OUTCOME: Readonly<Record<CheckState, CommandResult['outcome']>> = { 0: 'ok', 1: 'partial', 2: 'failure', 3: 'unknown' };

export async function runCheck(ctx: AppContext, options: CheckOptions): Promise<CommandResult> {
  const now = ctx.now();
  try {
    const s = await stat(options.output);
    if (!s.isDirectory()) return unknown(`output ${options.output} is not a folder`);
  } catch (e) {
    return unknown(`cannot read output folder ${options.output}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let selection;
  try {
    selection = await resolveSelection(ctx, options.selection ?? namesOnly(options.domains));
  } catch (e) {
    return unknown(`cannot list domains: ${messageOf(e)}`);
  }
  const limit = pLimit(8);
  const inputs = await Promise.all(
    selection.selected.map((domain) =>
      limit(async (): Promise<DomainCheckInput> => {
        let consistent: boolean | undefined;
        let guestFrozen: boolean | undefined;
        try {
          const status = await collectDomainStatus(ctx, domain);
          consistent = status.overallStatus === 0;
          guestFrozen = status.guestFrozen ?? undefined;
        } catch {
          consistent = undefined;
        }
        try {
          return { domain, history: summarizeRunHistory(domain, await listChains(options.output, domain)), consistent, guestFrozen, error: undefined };
        } catch (e) {
          return { domain, history: undefined, consistent, guestFrozen, error: messageOf(e) };
        }
      }),
    ),
  );
  const extra = [...selection.unknown.map((n) => `${n}: unknown domain`), ...selection.emptyPatterns.map((p) => `${p}: no domain matches`)];
  const verdict = judgeCheck(inputs, options.thresholds, now, extra);
  if (!options.minDaysLeft) return checkResult(verdict, extra, selection.filteredOut);
  let folder;
  try {
    folder = judgeForecast(options.output, await readOutputForecast(options.output, now), options.minDaysLeft);
  } catch (e) {
    folder = judgeForecast(options.output, undefined, options.minDaysLeft, messageOf(e));
  }
  return checkResult(summarizeVerdicts([...verdict.domains, folder], options.thresholds, now, extra), extra, selection.filteredOut);
}

/** The plugin's result: the verdict line first (what Nagios reads), then one line per domain. */
export function checkResult(
  verdict: CheckVerdict,
  unknownItems: readonly string[],
  filteredOut: ReadonlyArray<{ domain: string; why: string }>,
): CommandResult {
  const details = verdict.domains.map((d) => `${d.domain}: ${STATE_WORD[d.state]}${d.problems.length > 0 ? ` - ${d.problems.join(', ')}` : ''}`);
  return {
    document: { state: verdict.state, status: STATE_WORD[verdict.state], line: verdict.line, domains: verdict.domains, unknown: unknownItems, filteredOut },
    // Nagios reads the first line; the rest is the plugin's long text.
    text: [verdict.line, ...details].join('\n'),
    outcome: OUTCOME[verdict.state],
  };
}

function unknown(reason: string): CommandResult {
  const line = `VMKEEP UNKNOWN - ${reason.replace(/[|\n]/g, ' ')}`;
  return { document: { state: 3, status: 'UNKNOWN', line, domains: [], unknown: [reason] }, text: line, outcome: 'unknown' };
}
