/**
 * Selection beyond `--domains`: `--tag` (all must match, or any with `--tag-any`) and
 * `--exclude GLOB`. The filter is pure; resolveSelection reads the tags it needs from libvirt.
 */
import picomatch from 'picomatch';
import type { AppContext } from '../app/context.js';
import { resolveDomains } from './resolve-domains.js';
import type { DomainSelection } from './select-domains.js';

export interface SelectionRequest {
  /** --domains patterns (undefined: all). */
  domains: readonly string[] | undefined;
  /** --tag values; empty: no tag filter. */
  tags: readonly string[];
  /** --tag-any: a domain needs one of the tags instead of all. */
  tagAny: boolean;
  /** --exclude globs (names or globs), applied last. */
  exclude: readonly string[];
}

export interface TaggedSelection extends DomainSelection {
  /** Tags of the domains read (every listed domain when tags were needed). */
  tagsOf: ReadonlyMap<string, readonly string[]>;
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

/** Apply the tag filter and the exclusions to an already pattern-selected list. Pure. */
export function filterSelection(
  selected: readonly string[],
  tagsOf: ReadonlyMap<string, readonly string[]>,
  request: Pick<SelectionRequest, 'tags' | 'tagAny' | 'exclude'>,
): { kept: string[]; filteredOut: Array<{ domain: string; why: string }> } {
  const kept: string[] = [];
  const filteredOut: Array<{ domain: string; why: string }> = [];
  for (const name of selected) {
    const glob = isExcluded(name, request.exclude);
    if (glob !== undefined) {
      filteredOut.push({ domain: name, why: `excluded by ${glob}` });
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

/** Resolve --domains, read tags when a filter or `needTags` asks, then filter. */
export async function resolveSelection(ctx: AppContext, request: SelectionRequest, needTags = false): Promise<TaggedSelection> {
  const base = await resolveDomains(ctx, request.domains);
  const tagsOf = new Map<string, readonly string[]>();
  if (needTags || request.tags.length > 0) {
    const read = await Promise.all(base.selected.map(async (d) => [d, await ctx.virsh.domainTags(d)] as const));
    for (const [d, t] of read) tagsOf.set(d, t);
  }
  const { kept, filteredOut } = filterSelection(base.selected, tagsOf, request);
  return { ...base, selected: kept, tagsOf, filteredOut };
}
