/** `vmkeep status`: collect every selected domain concurrently (bounded), judge, render. */
import pLimit from 'p-limit';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { namesOnly, selectAmong, type SelectionRequest } from '../domain/select-by-tags.js';
import { collectDomainStatus, collectDomainStatusWithTags } from '../domain/collect-status.js';
import type { EngineName } from '../repository/engine-choice.js';
import type { DomainState } from '../domain/types.js';
import type { SettingsFor } from '../config/settings.js';
import { renderStatusText, type StatusEntry } from './render-status-text.js';
import type { FolderView } from './folder-view.js';
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
  // Every domain's state in three commands rather than one per domain (each domain's reader
  // checks it against the definition it reads, and asks domstate when they disagree).
  const states = selection.selected.length > 0 ? await ctx.virsh.domainStates() : new Map<string, DomainState>();
  const entries = new Map<string, StatusEntry>();
  // The backup folder's part loads only with --output: its manifests need zod and date-fns.
  let folder: FolderView | undefined;
  if (options.output !== undefined) {
    const { openFolderView } = await import('./folder-view.js');
    folder = await openFolderView(ctx, { ...options, output: options.output });
  }
  const limit = pLimit(STATUS_CONCURRENCY);
  const results = await Promise.all(
    selection.selected.map((name) =>
      limit(async (): Promise<[string, StatusEntry]> => {
        try {
          const known = selection.tagsOf.get(name);
          const uuid = ctx.virsh.knownUuid(name);
          const listed = uuid === undefined ? undefined : states.get(uuid);
          const { status, tags } = known
            ? { status: await collectDomainStatus(ctx, name, listed), tags: known }
            : await collectDomainStatusWithTags(ctx, name, listed);
          const backups = folder ? await folder.backupsOf(name, status, tags) : undefined;
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
  // Asked about every domain: also name the backups of domains libvirt no longer defines.
  if (folder) for (const [name, entry] of await folder.goneEntries(request, entries)) entries.set(name, entry);

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
