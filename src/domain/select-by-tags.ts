/**
 * Selection beyond `--domains`: `--tag` (all must match, or any with `--tag-any`) and
 * `--exclude GLOB`, among candidate names that come from libvirt (status, backup, scrub, tag,
 * check, config check) or from a repository (list, prune, verify). The filter is pure;
 * selectAmong reads the tags it needs from libvirt, and only when they are needed.
 */
import picomatch from 'picomatch';
import type { AppContext } from '../app/context.js';
import { selectDomains, splitDomainPatterns, type DomainSelection } from './select-domains.js';
import { readVerifyDomains } from './verify-domains.js';

export interface SelectionRequest {
  /** --domains patterns (undefined: all). */
  domains: readonly string[] | undefined;
  /** --tag values; empty: no tag filter. */
  tags: readonly string[];
  /** --tag-any: a domain needs one of the tags instead of all. */
  tagAny: boolean;
  /** --exclude globs (names or globs), applied last. */
  exclude: readonly string[];
  /**
   * One host of several: a filter that leaves none of this host's domains is no mistake (another
   * host may have them). Alone, a filter that leaves nothing is reported like a pattern that
   * matches nothing: most often a typo in a cron line.
   */
  emptyIsFine?: boolean;
}

export interface TaggedSelection extends DomainSelection {
  /** Tags of the domains read (every selected domain libvirt defines, when tags were needed). */
  tagsOf: ReadonlyMap<string, readonly string[]>;
  /** Selected by name but not defined in libvirt (a repository's domain), when tags were needed. */
  notInLibvirt: readonly string[];
  /** Domains the pattern selected but a tag or --exclude left out, with why. */
  filteredOut: Array<{ domain: string; why: string }>;
}

/** Does a domain with `has` tags pass the tag filter? */
export function matchesTags(has: readonly string[], wanted: readonly string[], any: boolean): boolean {
  if (wanted.length === 0) return true;
  return any ? wanted.some((t) => has.includes(t)) : wanted.every((t) => has.includes(t));
}

/** Is a name excluded by one of the globs? */
export function isExcluded(name: string, exclude: readonly string[]): string | undefined {
  return exclude.find((g) => g === name || picomatch(g, { dot: true, nobrace: true, noextglob: true })(name));
}

/** The reason a domain without a libvirt definition fails a tag filter. */
export const NO_TAGS_OUTSIDE_LIBVIRT = 'not defined in libvirt, so it has no tags';

/**
 * Apply the exclusions (by name) and the tag filter to an already pattern-selected list. A name
 * in `notInLibvirt` has no tags: any tag filter leaves it out. Pure.
 */
export function filterSelection(
  selected: readonly string[],
  tagsOf: ReadonlyMap<string, readonly string[]>,
  request: Pick<SelectionRequest, 'tags' | 'tagAny' | 'exclude'>,
  notInLibvirt: ReadonlySet<string> = new Set(),
): { kept: string[]; filteredOut: Array<{ domain: string; why: string }> } {
  const kept: string[] = [];
  const filteredOut: Array<{ domain: string; why: string }> = [];
  for (const name of selected) {
    const glob = isExcluded(name, request.exclude);
    if (glob !== undefined) {
      filteredOut.push({ domain: name, why: `excluded by ${glob}` });
      continue;
    }
    if (request.tags.length > 0 && notInLibvirt.has(name)) {
      filteredOut.push({ domain: name, why: NO_TAGS_OUTSIDE_LIBVIRT });
      continue;
    }
    const has = tagsOf.get(name) ?? [];
    if (!matchesTags(has, request.tags, request.tagAny)) {
      filteredOut.push({ domain: name, why: `tags [${has.join(', ')}] do not match ${request.tagAny ? 'any of' : 'all of'} ${request.tags.join(', ')}` });
      continue;
    }
    kept.push(name);
  }
  return { kept, filteredOut };
}

/**
 * Select among candidate names (libvirt's domains, or the domains a repository has backups of):
 * --domains patterns first, then --exclude and the tag filter. Tags are read from libvirt only
 * when a tag filter or `needTags` asks, and only for selected domains libvirt defines (for
 * libvirt's own candidates that is every one; for a repository's, libvirt is asked which).
 */
export async function selectAmong(
  ctx: AppContext,
  candidates: readonly string[],
  request: SelectionRequest,
  options: { needTags?: boolean; fromLibvirt?: boolean } = {},
): Promise<TaggedSelection> {
  const all = selectDomains(splitDomainPatterns(request.domains), candidates);
  const verifyDomains = options.fromLibvirt === true ? await findVerifyDomains(ctx, all.selected) : [];
  const base = { ...all, selected: all.selected.filter((d) => !verifyDomains.includes(d)) };
  // Named outright, not just matched by a glob: say why nothing is done with it.
  const named = new Set(splitDomainPatterns(request.domains));
  for (const d of verifyDomains.filter((v) => named.has(v))) ctx.log.warn(`${d}: left out: ${VERIFY_DOMAIN_WHY}`);
  const tagsOf = new Map<string, readonly string[]>();
  const notInLibvirt: string[] = [];
  if (options.needTags === true || request.tags.length > 0) {
    const defined = options.fromLibvirt === true ? undefined : new Set(await ctx.virsh.listDomainNames());
    // Excluded names are out whatever their tags: no libvirt call for them.
    const withTags = base.selected.filter((d) => (defined === undefined || defined.has(d)) && isExcluded(d, request.exclude) === undefined);
    if (defined !== undefined) notInLibvirt.push(...base.selected.filter((d) => !defined.has(d)));
    const read = await Promise.all(withTags.map(async (d) => [d, await ctx.virsh.domainTags(d)] as const));
    for (const [d, t] of read) tagsOf.set(d, t);
  }
  const filtered = filterSelection(base.selected, tagsOf, request, new Set(notInLibvirt));
  const kept = filtered.kept;
  const filteredOut = [...verifyDomains.map((domain) => ({ domain, why: VERIFY_DOMAIN_WHY })), ...filtered.filteredOut];
  const filters = describeFilters(request);
  const emptyPatterns =
    kept.length === 0 && base.selected.length > 0 && filters !== '' && request.emptyIsFine !== true ? [...base.emptyPatterns, filters] : base.emptyPatterns;
  return { ...base, emptyPatterns, selected: kept, tagsOf, notInLibvirt, filteredOut };
}

/** Why a verify domain is never selected. */
export const VERIFY_DOMAIN_WHY = 'a throwaway boot of a backup by vmkeep verify --boot, not a domain to back up or report on';

/**
 * The selected names that are vmkeep's own verify domains: named `vmkeep-verify-*` and marked so
 * in their metadata. A nightly `verify --boot` has them defined for minutes; a whole-host backup,
 * status or check meanwhile must not take them for guests (a backup of an overlay on a backup, a
 * "never backed up" alarm). A user's domain that merely has such a name has no such metadata.
 */
async function findVerifyDomains(ctx: AppContext, names: readonly string[]): Promise<string[]> {
  // Unreadable: most likely gone meanwhile (its run tore it down), so nothing to select either.
  return (await readVerifyDomains(ctx.virsh, names)).filter((d) => d.error !== undefined || d.owner !== undefined).map((d) => d.name);
}

/** `--tag prod,db --exclude web-*` as the user wrote it ('' when no filter is given). */
export function describeFilters(request: Pick<SelectionRequest, 'tags' | 'tagAny' | 'exclude'>): string {
  const parts = request.tags.length === 0 ? [] : [`--tag ${request.tags.join(',')}${request.tagAny ? ' --tag-any' : ''}`];
  for (const e of request.exclude) parts.push(`--exclude ${e}`);
  return parts.join(' ');
}

/** Select among libvirt's domains: resolve --domains, read tags when a filter or `needTags` asks, then filter. */
export async function resolveSelection(ctx: AppContext, request: SelectionRequest, needTags = false): Promise<TaggedSelection> {
  return selectAmong(ctx, await ctx.virsh.listDomainNames(), request, { needTags, fromLibvirt: true });
}

/** A request that selects by --domains alone (callers without tag options). */
export function namesOnly(domains: readonly string[] | undefined): SelectionRequest {
  return { domains, tags: [], tagAny: false, exclude: [] };
}
