/** `vmkeep status`: collect every selected domain concurrently (bounded), judge, render. */
import pLimit from 'p-limit';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { isExcluded, namesOnly, selectAmong, type SelectionRequest } from '../domain/select-by-tags.js';
import { findFormerNames, findGoneDomains, readDomainFolderUuids } from '../repository/domain-folders.js';
import { collectDomainStatus, collectDomainStatusWithTags, dirtyBytesOf } from '../domain/collect-status.js';
import { readOutputForecast } from '../repository/read-forecast.js';
import { summarizeBackups } from './backup-summary.js';
import { chooseEngine, type EngineChoice, type EngineName } from '../repository/engine-choice.js';
import { readEngineFacts } from '../repository/engine-facts.js';
import type { ChainView } from '../repository/chains.js';
import type { DomainStatus } from '../domain/collect-status.js';
import type { SettingsFor } from '../config/settings.js';
import { renderStatusText, type StatusEntry } from './render-status-text.js';
import { messageOf } from '../errors.js';
import { findVerifyLeftovers, verifyLeftoverWarning } from '../domain/verify-domains.js';

export interface StatusOptions {
  domains: readonly string[] | undefined;
  /** Backup folder to summarise per domain. */
  output: string | undefined;
  colour: boolean;
  /** --tag / --tag-any / --exclude over `domains`. */
  selection?: SelectionRequest;
  /** With --output: each domain's backup settings (the config file's), to say which engine its next backup uses. */
  settingsFor?: SettingsFor;
  /** The engine the command itself forces (the `vmsnap` command writes VMSnap's format), and what forces it. */
  forcedEngine?: { engine: EngineName; by: string };
}

/** How many domains are queried at once: enough to hide virsh latency, few enough for libvirtd. */
export const STATUS_CONCURRENCY = 8;

export async function runStatus(ctx: AppContext, options: StatusOptions): Promise<CommandResult> {
  const request = options.selection ?? namesOnly(options.domains);
  // The names also tell which verify domains there are. Tags are read here only to select by
  // them; otherwise each domain's are read with its status (a shut-off one's with its definition).
  const defined = await ctx.virsh.listDomainNames();
  const selection = await selectAmong(ctx, defined, request, { fromLibvirt: true });
  const entries = new Map<string, StatusEntry>();
  // Which folder holds which domain (by the UUID its manifests record): a rename leaves the old one behind.
  // An unreadable output folder is reported per domain below, as before: not a reason to fail here.
  const folders = options.output ? await readDomainFolderUuids(options.output).catch(() => []) : [];
  // One forecast for the folder, shown with each domain's backups; an unreadable folder has none.
  const forecast = options.output ? await readOutputForecast(options.output, ctx.now()).catch(() => undefined) : undefined;
  const nextEngineOf = nextEngineDecider(ctx, options);
  const limit = pLimit(STATUS_CONCURRENCY);
  const results = await Promise.all(
    selection.selected.map((name) =>
      limit(async (): Promise<[string, StatusEntry]> => {
        try {
          const known = selection.tagsOf.get(name);
          const { status, tags } = known ? { status: await collectDomainStatus(ctx, name), tags: known } : await collectDomainStatusWithTags(ctx, name);
          const summary = options.output
            ? await summarizeBackups(options.output, name, ctx.now(), {
                dirtyBytes: dirtyBytesOf(status),
                forecast,
                nextEngine: nextEngineOf(name, status, tags),
              })
            : undefined;
          const formerNames = findFormerNames(folders, name, ctx.virsh.knownUuid(name));
          const backups = summary && formerNames.length > 0 ? { ...summary, formerNames } : summary;
          return [name, { status, backups, tags }];
        } catch (e) {
          return [name, { error: messageOf(e) }];
        }
      }),
    ),
  );
  for (const [name, entry] of results) entries.set(name, entry);
  for (const name of selection.unknown) entries.set(name, { error: 'unknown domain' });
  await warnOfVerifyLeftovers(ctx, defined, entries);
  // A pattern that matches nothing is a question without an answer: monitoring must see it (exit 1).
  for (const pattern of selection.emptyPatterns) entries.set(pattern, { error: 'no domain matches this pattern' });

  // A frozen guest is consistent but needs a look: its writes are blocked.
  const healthy = [...entries.values()].filter((e) => e.status?.overallStatus === 0 && e.status.warnings.length === 0).length;
  const judged = entries.size;
  // Asked about every domain: also name the backups of domains libvirt no longer defines. They
  // are facts to act on (rename the folder, or let prune age them out), not a failing domain.
  if (options.output && request.domains === undefined && request.tags.length === 0) {
    const defined = new Map((await ctx.virsh.listDomainNames()).map((n) => [n, ctx.virsh.knownUuid(n)] as const));
    for (const gone of findGoneDomains(folders, defined)) {
      if (entries.has(gone.domain) || isExcluded(gone.domain, request.exclude) !== undefined) continue;
      entries.set(gone.domain, { gone: { renamedTo: gone.renamedTo }, backups: await summarizeBackups(options.output, gone.domain, ctx.now(), { forecast }) });
    }
  }

  const document: Record<string, unknown> = {};
  for (const [name, e] of entries) {
    document[name] = e.status
      ? { ...e.status, tags: e.tags ?? [], ...(e.backups ? { backups: e.backups } : {}) }
      : e.gone
        ? {
            name,
            defined: false,
            ...(e.gone.renamedTo !== undefined ? { renamedTo: e.gone.renamedTo } : {}),
            note: goneNote(name, e.gone.renamedTo),
            backups: e.backups,
          }
        : { name, error: e.error, overallStatus: 1 };
  }
  return {
    document,
    text: renderStatusText(entries, options.colour),
    // Monitoring reads non-zero as "look here": any unknown, unreadable, inconsistent or frozen domain is 1.
    outcome: healthy === judged ? 'ok' : 'partial',
  };
}

/**
 * A verify domain a killed `verify --boot` left (it may still be running a booted copy): status
 * changes nothing, it says so with the domain whose point it boots, until the next backup, verify
 * or scrub removes it. (A verify domain is never selected itself: see select-by-tags.ts.)
 */
async function warnOfVerifyLeftovers(ctx: AppContext, defined: readonly string[], entries: Map<string, StatusEntry>): Promise<void> {
  const { leftovers } = await findVerifyLeftovers(ctx.virsh, defined);
  for (const leftover of leftovers) {
    const source = leftover.owner.source === undefined ? undefined : entries.get(leftover.owner.source);
    source?.status?.warnings.push(verifyLeftoverWarning(leftover));
  }
}

/** What a gone domain's folder is, and what becomes of it. */
export function goneNote(domain: string, renamedTo: string | undefined): string {
  const what =
    renamedTo !== undefined
      ? `libvirt no longer defines ${domain}: it was renamed to ${renamedTo}`
      : `libvirt no longer defines ${domain} (renamed or undefined)`;
  return `${what}; its backups stay under its old name, prune applies the retention rules to them and always keeps the newest complete chain; remove the folder by hand once it is no longer needed`;
}

/**
 * Which engine a domain's next backup into --output uses: backup's rule (engine-choice.ts) over
 * the same facts, with the config's settings for the domain.
 */
type NextEngineDecider = (name: string, status: DomainStatus, tags: readonly string[]) => (chains: readonly ChainView[]) => Promise<EngineChoice>;

function nextEngineDecider(ctx: AppContext, options: StatusOptions): NextEngineDecider {
  // libvirt is asked once per status run, not per domain, whether it does push-mode backup.
  let pushSupport: Promise<boolean> | undefined;
  const pushSupported = (): Promise<boolean> => (pushSupport ??= ctx.virsh.supportsPushBackup().catch(() => false));
  return (name: string, status: DomainStatus, tags: readonly string[]) =>
    async (chains: readonly ChainView[]): Promise<EngineChoice> => {
      const settings = options.settingsFor?.(name, tags);
      const forced = settings?.engine === undefined ? options.forcedEngine : { engine: settings.engine, by: 'the config file' };
      if (forced) return chooseEngine({ forced, remote: false, compress: false, rawDisk: false });
      const facts = await readEngineFacts({
        domain: name,
        uri: ctx.virsh.uri,
        output: options.output!,
        chains,
        groupBy: settings?.groupBy ?? 'month',
        now: ctx.now(),
        forced: undefined,
        compress: settings?.compress ?? false,
        rawDisk: (settings?.raw ?? false) && status.disks.some((d) => d.eligible && d.format === 'raw'),
        vmsnapRun: undefined,
        pushSupported,
      });
      return chooseEngine(facts);
    };
}
