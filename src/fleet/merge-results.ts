/** One document, text and outcome from the per-host results of status, backup, list, scrub, verify, prune and check. */
import { outcomeOf, type CommandResult } from '../app/command-result.js';
import type { DomainResult } from '../backup/run-backup.js';
import { renderSummary } from '../backup/run-backup.js';
import type { ListDocument } from '../restore/run-list.js';
import type { HostOutcome } from './run-across-hosts.js';
import { checkResult, summarizeVerdicts, type CheckThresholds, type DomainVerdict } from '../check/index.js';

function overallOutcome(outcomes: readonly HostOutcome[], fallback: CommandResult['outcome']): CommandResult['outcome'] {
  if (outcomes.some((o) => o.result?.outcome === 'interrupted')) return 'interrupted';
  return fallback;
}

function hostText(o: HostOutcome): string {
  const head = `== host ${o.host.name} (${o.host.uri})`;
  return o.error !== undefined ? `${head}\nerror: ${o.error}\n` : `${head}\n${o.result!.text.trimEnd()}\n`;
}

/**
 * Documents keyed by domain (status, scrub) → keyed by `host/domain`; a failed host is one key,
 * its name, with `error` and the given failure fields (status: overallStatus 1).
 */
export function mergeByDomainKey(outcomes: readonly HostOutcome[], failedFields: Record<string, unknown>): CommandResult {
  const entries: Array<[string, unknown]> = [];
  let ok = true;
  for (const o of outcomes) {
    if (o.error !== undefined) {
      ok = false;
      entries.push([o.host.name, { host: o.host.name, uri: o.host.uri, error: o.error, ...failedFields }]);
      continue;
    }
    if (o.result!.outcome !== 'ok') ok = false;
    for (const [domain, value] of Object.entries(o.result!.document as Record<string, unknown>)) {
      entries.push([`${o.host.name}/${domain}`, typeof value === 'object' && value !== null ? { host: o.host.name, ...value } : value]);
    }
  }
  const failed = outcomes.filter((o) => o.error !== undefined || o.result!.outcome !== 'ok').length;
  return {
    document: Object.fromEntries(entries),
    text: outcomes.map(hostText).join('\n'),
    outcome: overallOutcome(outcomes, ok ? 'ok' : failed === outcomes.length && outcomes.every((o) => o.error !== undefined) ? 'failure' : 'partial'),
  };
}

/** `status` across hosts: keys `host/domain`; an unreachable host is a key with overallStatus 1. */
export function mergeStatus(outcomes: readonly HostOutcome[]): CommandResult {
  const merged = mergeByDomainKey(outcomes, { overallStatus: 1 });
  // Monitoring reads any non-zero as "look here", as with one host.
  return { ...merged, outcome: merged.outcome === 'ok' || merged.outcome === 'interrupted' ? merged.outcome : 'partial' };
}

/** A backup result row across hosts: the domain as `host/domain`, and the host alone. */
export type FleetDomainResult = DomainResult & { host: string };

/** `backup` across hosts: one results list; an unreachable host is one failed row `host/*`. */
export function mergeBackup(outcomes: readonly HostOutcome[], base: { dryRun: boolean; output: string; groupBy: string }): CommandResult {
  const results: FleetDomainResult[] = [];
  for (const o of outcomes) {
    if (o.error !== undefined) {
      results.push({ host: o.host.name, domain: `${o.host.name}/*`, result: 'failed', reason: o.error });
      continue;
    }
    const doc = o.result!.document as { results: DomainResult[] };
    for (const r of doc.results) results.push({ ...r, host: o.host.name, domain: `${o.host.name}/${r.domain}` });
  }
  const ok = results.filter((r) => r.result !== 'failed').length;
  return {
    document: {
      ...base,
      hosts: outcomes.map((o) => ({ host: o.host.name, uri: o.host.uri, ok: o.error === undefined, ...(o.error ? { error: o.error } : {}) })),
      results,
    },
    text: renderSummary(results, base.dryRun),
    outcome: overallOutcome(outcomes, outcomeOf(ok, results.length)),
  };
}

/** `list` across hosts: one domains list with `host` and `host/domain`; each host's own folder. */
export function mergeList(outcomes: readonly HostOutcome[], output: string): CommandResult {
  const domains: Array<ListDocument['domains'][number] & { host: string; address: string; output: string }> = [];
  const notFound: string[] = [];
  const filteredOut: ListDocument['filteredOut'] = [];
  const errors: Array<{ host: string; error: string }> = [];
  for (const o of outcomes) {
    if (o.error !== undefined) {
      errors.push({ host: o.host.name, error: o.error });
      continue;
    }
    const doc = o.result!.document as ListDocument;
    for (const d of doc.domains) domains.push({ ...d, host: o.host.name, address: `${o.host.name}/${d.domain}`, output: doc.output });
    notFound.push(...doc.notFound.map((n) => `${o.host.name}/${n}`));
    filteredOut.push(...doc.filteredOut.map((f) => ({ ...f, domain: `${o.host.name}/${f.domain}` })));
  }
  const allOk = errors.length === 0 && outcomes.every((o) => o.result?.outcome === 'ok');
  return {
    document: { output, domains, notFound, filteredOut, ...(errors.length > 0 ? { errors } : {}) },
    text: outcomes.map(hostText).join('\n'),
    outcome: allOk ? 'ok' : domains.length === 0 ? 'failure' : 'partial',
  };
}

/**
 * A command whose document is per output folder (verify, prune) across hosts: `hosts` holds each
 * host's own document (or its error). Any host not ok makes the run partial; none ok, a failure.
 */
export function mergePerHost(outcomes: readonly HostOutcome[], base: Record<string, unknown>): CommandResult {
  const ok = outcomes.filter((o) => o.error === undefined && o.result!.outcome === 'ok').length;
  return {
    document: {
      ...base,
      hosts: outcomes.map((o) => ({
        host: o.host.name,
        uri: o.host.uri,
        ...(o.error !== undefined ? { error: o.error } : { outcome: o.result!.outcome, result: o.result!.document }),
      })),
    },
    text: outcomes.map(hostText).join('\n'),
    outcome: overallOutcome(outcomes, outcomes.length === 0 ? 'failure' : outcomeOf(ok, outcomes.length)),
  };
}

/**
 * `check` across hosts: one plugin line over every host's domains (`host/domain`); a host that
 * could not be judged at all is one UNKNOWN item.
 */
export function mergeCheck(outcomes: readonly HostOutcome[], thresholds: CheckThresholds, now: Date): CommandResult {
  const verdicts: DomainVerdict[] = [];
  const unknownItems: string[] = [];
  const filteredOut: Array<{ domain: string; why: string }> = [];
  for (const o of outcomes) {
    if (o.error !== undefined) {
      unknownItems.push(o.error);
      continue;
    }
    const doc = o.result!.document as { domains: DomainVerdict[]; unknown: string[]; filteredOut?: Array<{ domain: string; why: string }> };
    verdicts.push(...doc.domains.map((d) => ({ ...d, domain: `${o.host.name}/${d.domain}` })));
    unknownItems.push(...doc.unknown.map((u) => `${o.host.name}/${u}`));
    filteredOut.push(...(doc.filteredOut ?? []).map((f) => ({ ...f, domain: `${o.host.name}/${f.domain}` })));
  }
  return checkResult(summarizeVerdicts(verdicts, thresholds, now, unknownItems), unknownItems, filteredOut);
}
