/**
 * What status shows from the backup folder (--output): each domain's backups with the forecast
 * and the engine its next backup uses, and the folders of domains libvirt no longer defines.
 * run-status.ts loads this module only with --output: reading manifests brings zod and date-fns
 * (about 330 kB of code to compile and set up), which a status without a folder never needs.
 */
import type { AppContext } from '../app/context.js';
import { isExcluded, type SelectionRequest } from '../domain/select-by-tags.js';
import { findFormerNames, findGoneDomains, readDomainFolderUuids } from '../repository/domain-folders.js';
import { dirtyBytesOf, type DomainStatus } from '../domain/collect-status.js';
import { readOutputForecast } from '../repository/read-forecast.js';
import { summarizeBackups, type BackupSummary } from './backup-summary.js';
import { chooseEngine, type EngineChoice, type EngineName } from '../repository/engine-choice.js';
import { readEngineFacts } from '../repository/engine-facts.js';
import type { ChainView } from '../repository/chains.js';
import type { SettingsFor } from '../config/settings.js';
import type { StatusEntry } from './render-status-text.js';

export interface FolderViewOptions {
  output: string;
  settingsFor?: SettingsFor | undefined;
  forcedEngine?: { engine: EngineName; by: string } | undefined;
}

export interface FolderView {
  /** A domain's backups as status shows them (with its former names when a rename left folders behind). */
  backupsOf(name: string, status: DomainStatus, tags: readonly string[]): Promise<BackupSummary>;
  /** Entries for the folders of domains libvirt no longer defines (asked about every domain only). */
  goneEntries(request: SelectionRequest, entries: ReadonlyMap<string, StatusEntry>): Promise<Array<[string, StatusEntry]>>;
}

/** Read what status needs of the folder once (which folder holds which domain, the forecast). */
export async function openFolderView(ctx: AppContext, options: FolderViewOptions): Promise<FolderView> {
  const { output } = options;
  // Which folder holds which domain (by the UUID its manifests record): a rename leaves the old one behind.
  // An unreadable output folder is reported per domain, as before: not a reason to fail here.
  const folders = await readDomainFolderUuids(output).catch(() => []);
  // One forecast for the folder, shown with each domain's backups; an unreadable folder has none.
  const forecast = await readOutputForecast(output, ctx.now()).catch(() => undefined);
  const nextEngineOf = nextEngineDecider(ctx, options);
  return {
    async backupsOf(name, status, tags) {
      const summary = await summarizeBackups(output, name, ctx.now(), {
        dirtyBytes: dirtyBytesOf(status),
        forecast,
        nextEngine: nextEngineOf(name, status, tags),
      });
      const formerNames = findFormerNames(folders, name, ctx.virsh.knownUuid(name));
      return formerNames.length > 0 ? { ...summary, formerNames } : summary;
    },
    async goneEntries(request, entries) {
      const out: Array<[string, StatusEntry]> = [];
      if (request.domains !== undefined || request.tags.length > 0) return out;
      // Facts to act on (rename the folder, or let prune age them out), not a failing domain.
      const defined = new Map((await ctx.virsh.listDomainNames()).map((n) => [n, ctx.virsh.knownUuid(n)] as const));
      for (const gone of findGoneDomains(folders, defined)) {
        if (entries.has(gone.domain) || isExcluded(gone.domain, request.exclude) !== undefined) continue;
        out.push([gone.domain, { gone: { renamedTo: gone.renamedTo }, backups: await summarizeBackups(output, gone.domain, ctx.now(), { forecast }) }]);
      }
      return out;
    },
  };
}

/**
 * Which engine a domain's next backup into --output uses: backup's rule (engine-choice.ts) over
 * the same facts, with the config's settings for the domain.
 */
type NextEngineDecider = (name: string, status: DomainStatus, tags: readonly string[]) => (chains: readonly ChainView[]) => Promise<EngineChoice>;

function nextEngineDecider(ctx: AppContext, options: FolderViewOptions): NextEngineDecider {
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
        output: options.output,
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
