/** Resolve `--domains` patterns against the domains libvirt knows. */
import type { AppContext } from '../app/context.js';
import { selectDomains, splitDomainPatterns, type DomainSelection } from './select-domains.js';

/** List libvirt's domains and select the requested ones (unknown names are returned, not thrown). */
export async function resolveDomains(ctx: AppContext, requested: readonly string[] | undefined): Promise<DomainSelection> {
  const existing = await ctx.virsh.listDomainNames();
  return selectDomains(splitDomainPatterns(requested), existing);
}
