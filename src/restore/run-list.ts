/**
 * `vmkeep list`: the restore points of each domain in an output folder. Reads files only; libvirt
 * only when `--tag` asks for the domains' tags.
 */
import prettyBytes from 'pretty-bytes';
import type { AppContext } from '../app/context.js';
import { outcomeOf, type CommandResult } from '../app/command-result.js';
import { listBackedUpDomains, requireOutputFolder } from '../repository/chains.js';
import { findGoneDomains, readDomainFolderUuids } from '../repository/domain-folders.js';
import { namesOnly, selectAmong, type SelectionRequest } from '../domain/select-by-tags.js';
import { readRestoreChains } from '../points/chains.js';
import { listRestorePoints, type RestorePointRef } from '../points/points.js';
import { renderColumns } from '../util/render-columns.js';

export interface ListOptions {
  output: string;
  domains: readonly string[] | undefined;
  /** --tag / --tag-any / --exclude over `domains`. */
  selection?: SelectionRequest;
}

/** One row of `list`. */
export interface ListedPoint {
  id: string;
  chain: string;
  checkpoint: string;
  time: string;
  level: 'full' | 'inc';
  label: string | null;
  /** Filesystems frozen for the checkpoint (guest agent); null when not recorded. */
  quiesced: boolean | null;
  /** Why the filesystems were not frozen; null when they were or nothing was recorded. */
  quiesceReason: string | null;
  /** The guest was not running while the point was taken (shut off, or backup --stop). */
  offline: boolean;
  /** backup --name; null when the point has none. */
  name: string | null;
  dataBytes: number | null;
  state: RestorePointRef['state'];
  protected: boolean;
  /** False for VMSnap folders: no checksums recorded. */
  checksums: boolean;
  /** restic repositories holding a copy (`vmkeep replicate`). */
  replicatedTo: string[];
  /** Why the point cannot be restored: a file it needs is missing or changed size (absent when whole). */
  damage?: string;
  /** The last boot proof (`verify --boot`); null when the point was never booted. */
  bootVerify: { time: string; result: 'ok' | 'failed'; reason?: string | undefined } | null;
}

export interface ListDocument {
  output: string;
  /** `defined: false`: libvirt no longer defines the domain (renamed, with the name it has now, or undefined). */
  domains: Array<{ domain: string; defined?: false; renamedTo?: string; points: ListedPoint[] }>;
  /** Requested names or patterns with no backups in the output folder. */
  notFound: string[];
  /** Backed-up domains --exclude or --tag left out, with why. */
  filteredOut: Array<{ domain: string; why: string }>;
}

export async function runList(ctx: AppContext, options: ListOptions): Promise<CommandResult> {
  await requireOutputFolder(options.output);
  const existing = await listBackedUpDomains(options.output);
  const selection = await selectAmong(ctx, existing, options.selection ?? namesOnly(options.domains));
  const notFound = [...selection.unknown, ...selection.emptyPatterns];
  const gone = await findGone(ctx, options.output);
  const domains: ListDocument['domains'] = [];
  for (const domain of selection.selected) {
    const points = listRestorePoints(await readRestoreChains(options.output, domain));
    const g = gone?.get(domain);
    domains.push({
      domain,
      ...(g ? { defined: false as const, ...(g.renamedTo !== undefined ? { renamedTo: g.renamedTo } : {}) } : {}),
      points: points.map(toListed),
    });
  }
  const document: ListDocument = { output: options.output, domains, notFound, filteredOut: selection.filteredOut };
  const requested = options.domains === undefined ? domains.length : domains.length + notFound.length;
  return { document, text: renderList(document), outcome: outcomeOf(domains.length, requested) };
}

/**
 * Backed-up domains libvirt no longer defines, by name. list reads files and works without
 * libvirt (a copy of the repository on another machine): then nothing is said about them.
 */
async function findGone(ctx: AppContext, output: string): Promise<Map<string, { renamedTo: string | undefined }> | undefined> {
  let names: string[];
  try {
    names = await ctx.virsh.listDomainNames();
  } catch {
    return undefined;
  }
  const defined = new Map(names.map((n) => [n, ctx.virsh.knownUuid(n)] as const));
  return new Map(findGoneDomains(await readDomainFolderUuids(output), defined).map((g) => [g.domain, { renamedTo: g.renamedTo }]));
}

function toListed(p: RestorePointRef): ListedPoint {
  return {
    id: p.id,
    chain: p.chain,
    checkpoint: p.checkpoint,
    time: p.time,
    level: p.level,
    label: p.label ?? null,
    quiesced: p.quiesced ?? null,
    quiesceReason: p.quiesceReason ?? null,
    offline: p.offline === true,
    name: p.name ?? null,
    dataBytes: p.dataBytes ?? null,
    state: p.state,
    protected: p.protected,
    checksums: !p.legacy,
    replicatedTo: p.replicas ?? [],
    ...(p.damage ? { damage: p.damage } : {}),
    bootVerify: p.bootVerify ?? null,
  };
}

/** The text table: one block per domain, one row per point, oldest first. */
export function renderList(doc: ListDocument): string {
  const out: string[] = [];
  for (const d of doc.domains) {
    const gone =
      d.defined === false ? ` (no longer defined in libvirt${d.renamedTo !== undefined ? `: renamed to ${d.renamedTo}` : ', renamed or undefined'})` : '';
    out.push(`${d.domain}: ${d.points.length} restore point${d.points.length === 1 ? '' : 's'}${gone}`);
    if (d.points.length === 0) continue;
    const head = ['point', 'time', 'level', 'data', 'name / label', 'frozen', 'state'];
    const rows = d.points.map((p) => [
      p.id,
      p.time,
      p.level,
      p.dataBytes === null ? '-' : prettyBytes(p.dataBytes, { binary: true }),
      [p.name, p.label].filter((x) => x !== null).join(' / '),
      p.offline ? 'offline' : p.quiesced === null ? '-' : p.quiesced ? 'yes' : 'no',
      [
        p.state,
        p.damage ? `damaged: ${p.damage}` : '',
        p.protected ? 'protected' : '',
        p.checksums ? '' : 'no checksums',
        p.replicatedTo.length > 0 ? `replicated to ${p.replicatedTo.length}` : '',
        p.bootVerify ? (p.bootVerify.result === 'ok' ? `booted ${p.bootVerify.time.slice(0, 10)}` : 'did not boot') : '',
      ]
        .filter(Boolean)
        .join(', '),
    ]);
    out.push(...renderColumns(head, rows, { indent: '  ' }));
  }
  for (const n of doc.notFound) out.push(`${n}: no backups in ${doc.output}`);
  if (out.length === 0) out.push(doc.filteredOut.length > 0 ? `no backed-up domain in ${doc.output} passes --tag/--exclude` : `no backups in ${doc.output}`);
  return `${out.join('\n')}\n`;
}
