/** `vmkeep config check`: the file is valid (or the CLI already failed with exit 64); show what each domain gets. */
import type { AppContext } from '../app/context.js';
import { redactNotifySettings } from '../util/mask-secrets.js';
import type { CommandResult } from '../app/command-result.js';
import { resolveSelection, type SelectionRequest } from '../domain/select-by-tags.js';
import { DEFAULT_CONFIG_PATH, type LoadedConfig } from './load-config.js';
import { formatBootCheck } from '../domain/boot-checks.js';
import { createSettingsResolver, type DomainSettings } from './settings.js';
import { COUNT_RULES, policyLines } from '../retention/policy.js';
import type { RetentionPolicy } from '../retention/types.js';

/** The policy's rules as config keys (durations and tiers as text). */
function retentionDocument(p: RetentionPolicy): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key } of COUNT_RULES) if (p[key] !== undefined) out[key] = p[key];
  if (p.keepWithin) out['keepWithin'] = p.keepWithin.text;
  if (p.keepTiers && p.keepTiers.length > 0) out['keepTiers'] = p.keepTiers.map((t) => t.text);
  return out;
}

export interface ConfigCheckOptions {
  config: LoadedConfig | undefined;
  selection: SelectionRequest;
  connect: string;
  output: string | undefined;
}

/** A notify target in one phrase: its type and, for an inline URL, scheme and host only (already redacted). */
function describeTarget(t: { type: string }): string {
  const url = (t as { url?: unknown }).url;
  return typeof url === 'string' ? `${t.type} ${url}` : t.type;
}

/** Settings as a plain document (durations as their text). */
export function settingsDocument(s: DomainSettings): Record<string, unknown> {
  return {
    groupBy: s.groupBy,
    // What writes the backups: it decides which options apply and what the chain folders hold.
    engine: s.engine ?? 'auto',
    ifOlderThan: s.ifOlderThan?.text ?? null,
    compress: s.compress,
    raw: s.raw,
    prune: s.prune,
    retention: retentionDocument(s.prunePolicy),
    policy: policyLines(s.prunePolicy),
    // Does `vmkeep prune` (no policy flags) prune this domain? Only when a layer speaks of retention.
    retentionSet: s.retentionSet === true,
    disks: s.disks ?? null,
    excludeDisks: s.excludeDisks,
    stop: s.stop,
    stopTimeout: s.stopTimeoutMs / 1000,
    label: s.label ?? null,
    quiesce: s.quiesce,
    // What a nightly verify --boot checks (null: agent or console, by the point's saved XML).
    verifyBoot: {
      checks: s.bootVerify.checks?.map(formatBootCheck) ?? null,
      timeout: s.bootVerify.timeoutMs / 1000,
      maxMemoryKiB: s.bootVerify.maxMemoryKiB,
    },
    hooks: s.hooks,
    layers: s.layers,
  };
}

export async function runConfigCheck(ctx: AppContext, options: ConfigCheckOptions): Promise<CommandResult> {
  const config = options.config?.config;
  const resolve = createSettingsResolver(config, {});
  const selection = await resolveSelection(ctx, options.selection, true);
  const domains: Record<string, unknown> = {};
  const resolved: Array<{ name: string; tags: readonly string[]; s: DomainSettings }> = [];
  for (const name of selection.selected) {
    const tags = selection.tagsOf.get(name) ?? [];
    const s = resolve(name, tags);
    resolved.push({ name, tags, s });
    domains[name] = { tags, ...settingsDocument(s) };
  }
  const sectionsUnused = [
    ...Object.keys(config?.domains ?? {})
      .filter((p) => !selection.selected.some((d) => resolve(d, selection.tagsOf.get(d) ?? []).layers.includes(`domain ${p}`)))
      .map((p) => `domains.${p}`),
    ...Object.keys(config?.tags ?? {})
      .filter((t) => !selection.selected.some((d) => (selection.tagsOf.get(d) ?? []).includes(t)))
      .map((t) => `tags.${t}`),
  ];
  const document = {
    source: options.config?.source ?? null,
    valid: true,
    run: {
      connect: options.connect,
      output: options.output ?? null,
      jobs: config?.defaults?.jobs ?? 1,
      lockWait: config?.defaults?.lockWait ?? 0,
      hooks: { preRun: config?.defaults?.hooks?.preRun ?? null, postRun: config?.defaults?.hooks?.postRun ?? null },
    },
    domains,
    // Inline URLs cut to scheme and host: a healthchecks or webhook URL may be the secret itself.
    notify: config?.notify ? redactNotifySettings(config.notify) : null,
    unmatchedSections: sectionsUnused,
    notFound: [...selection.unknown, ...selection.emptyPatterns],
  };
  const lines = [
    options.config ? `config ${options.config.source}: valid` : `no config file (${DEFAULT_CONFIG_PATH} does not exist): built-in defaults`,
    `connect ${options.connect}, output ${options.output ?? '(none)'}, jobs ${document.run.jobs}`,
    `notify: ${document.notify ? document.notify.targets.map(describeTarget).join(', ') || 'no targets' : 'none'}`,
  ];
  for (const { name, tags, s: d } of resolved) {
    lines.push(
      `${name} [${tags.join(', ')}] (${d.layers.join(' < ') || 'built-in'}): engine ${d.engine}, groupBy ${d.groupBy}, ${policyLines(d.prunePolicy).join('; ')}` +
        `${d.retentionSet === true ? '' : ' (no retention set: vmkeep prune without policy flags leaves it alone)'}` +
        `${d.excludeDisks.length > 0 ? `, excludeDisks ${d.excludeDisks.join(',')}` : ''}${d.disks ? `, disks ${d.disks.join(',')}` : ''}` +
        `${d.stop !== 'live' ? `, stop ${d.stop}` : ''}${d.compress ? ', compress' : ''}${d.ifOlderThan ? `, ifOlderThan ${d.ifOlderThan.text}` : ''}` +
        `${Object.keys(d.hooks).length > 0 ? `, hooks ${Object.keys(d.hooks).join(',')}` : ''}` +
        `${d.bootVerify.checks ? `, boot checks ${d.bootVerify.checks.map(formatBootCheck).join(' + ')}` : ''}`,
    );
  }
  for (const u of sectionsUnused) lines.push(`note: section ${u} matches no selected domain`);
  for (const n of document.notFound) lines.push(`${n}: unknown domain`);
  // The file is valid either way; a requested domain that does not exist is worth an exit 1.
  return { document, text: `${lines.join('\n')}\n`, outcome: document.notFound.length > 0 ? 'partial' : 'ok' };
}
