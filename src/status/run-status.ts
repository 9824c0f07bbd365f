/** `vmkeep status`: collect every selected domain concurrently (bounded), judge, render. */
import pLimit from 'p-limit';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { namesOnly, resolveSelection, type SelectionRequest } from '../domain/select-by-tags.js';
import { collectDomainStatus } from './collect-status.js';
import { summarizeBackups } from './backup-summary.js';
import { renderStatusText, type StatusEntry } from './render-status-text.js';
import { messageOf } from '../errors.js';

export interface StatusOptions {
  domains: readonly string[] | undefined;
  /** Backup folder to summarise per domain. */
  output: string | undefined;
  colour: boolean;
  /** --tag / --tag-any / --exclude over `domains`. */
  selection?: SelectionRequest;
}

/** How many domains are queried at once: enough to hide virsh latency, few enough for libvirtd. */
export const STATUS_CONCURRENCY = 8;

export async function runStatus(ctx: AppContext, options: StatusOptions): Promise<CommandResult> {
  const request = options.selection ?? namesOnly(options.domains);
  // Tags are shown, so always read (one small virsh call per domain).
  const selection = await resolveSelection(ctx, request, true);
  const entries = new Map<string, StatusEntry>();
  const limit = pLimit(STATUS_CONCURRENCY);
  const results = await Promise.all(
    selection.selected.map((name) =>
      limit(async (): Promise<[string, StatusEntry]> => {
        try {
          const status = await collectDomainStatus(ctx, name);
          const backups = options.output ? await summarizeBackups(options.output, name, ctx.now()) : undefined;
          return [name, { status, backups, tags: selection.tagsOf.get(name) ?? [] }];
        } catch (e) {
          return [name, { error: messageOf(e) }];
        }
      }),
    ),
  );
  for (const [name, entry] of results) entries.set(name, entry);
  for (const name of selection.unknown) entries.set(name, { error: 'unknown domain' });
  // A pattern that matches nothing is a question without an answer: monitoring must see it (exit 1).
  for (const pattern of selection.emptyPatterns) entries.set(pattern, { error: 'no domain matches this pattern' });

  const document: Record<string, unknown> = {};
  for (const [name, e] of entries) {
    document[name] = e.status
      ? { ...e.status, tags: e.tags ?? [], ...(e.backups ? { backups: e.backups } : {}) }
      : { name, error: e.error, overallStatus: 1 };
  }
  const healthy = [...entries.values()].filter((e) => e.status?.overallStatus === 0).length;
  return {
    document,
    text: renderStatusText(entries, options.colour),
    // Monitoring reads non-zero as "look here": any unknown, unreadable or inconsistent domain is 1.
    outcome: healthy === entries.size ? 'ok' : 'partial',
  };
}
