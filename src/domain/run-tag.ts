/** `vmkeep tag`: list, add and remove vmkeep tags in the domains' libvirt metadata. */
import type { AppContext } from '../app/context.js';
import { outcomeOf, type CommandResult } from '../app/command-result.js';
import { resolveSelection, type SelectionRequest } from './select-by-tags.js';
import { messageOf } from '../errors.js';

export interface TagOptions {
  selection: SelectionRequest;
  add: readonly string[];
  remove: readonly string[];
}

/** The new tag set: the old one plus `add`, minus `remove`, sorted. Pure. */
export function editTags(current: readonly string[], add: readonly string[], remove: readonly string[]): string[] {
  return [...new Set([...current, ...add])].filter((t) => !remove.includes(t)).sort();
}

export async function runTag(ctx: AppContext, options: TagOptions): Promise<CommandResult> {
  const selection = await resolveSelection(ctx, options.selection, true);
  const editing = options.add.length > 0 || options.remove.length > 0;
  const document: Record<string, { tags?: string[]; before?: string[]; error?: string }> = {};
  for (const name of selection.selected) {
    const before = [...(selection.tagsOf.get(name) ?? [])];
    if (!editing) {
      document[name] = { tags: before };
      continue;
    }
    const after = editTags(before, options.add, options.remove);
    try {
      if (after.join(',') !== before.join(',')) await ctx.virsh.setDomainTags(name, after);
      // Read back: what libvirt stored is the answer, not what was sent.
      document[name] = { before, tags: await ctx.virsh.domainTags(name) };
    } catch (e) {
      document[name] = { before, error: `could not change the tags of ${name}: ${messageOf(e)}` };
    }
  }
  for (const n of [...selection.unknown, ...selection.emptyPatterns]) document[n] = { error: 'unknown domain' };
  const lines = Object.entries(document).map(([n, d]) => (d.error ? `${n}: error: ${d.error}` : `${n}: ${d.tags!.join(', ') || '(no tags)'}`));
  const ok = Object.values(document).filter((d) => !d.error).length;
  return { document, text: `${lines.join('\n')}\n`, outcome: outcomeOf(ok, Object.keys(document).length) };
}
