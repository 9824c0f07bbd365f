import type { TagOptions } from '../../domain/run-tag.js';
import { usageError } from '../../errors.js';
import { checkTag } from '../../virsh/tag-names.js';
import { addSelectionOptions, buildSelection } from '../selection-options.js';
import { defineCommand } from './types.js';

const words = (v: unknown): string[] =>
  (v === undefined ? [] : Array.isArray(v) ? v : [v])
    .flatMap((x) => String(x).split(','))
    .map((x) => x.trim())
    .filter(Boolean);

export const tagCommand = defineCommand<TagOptions>({
  name: 'tag',
  describe: "show or edit domains' vmkeep tags (kept in the domain's own libvirt metadata)",
  builder: (y) =>
    addSelectionOptions(y)
      .option('add', { type: 'string', array: true, describe: 'tags to add (comma list or repeated)' })
      .option('remove', { type: 'string', array: true, describe: 'tags to remove' })
      .option('list', { type: 'boolean', default: false, describe: 'show the tags (the default without --add/--remove)' }),
  buildOptions: (argv, global) => {
    const add = words(argv['add']).map(checkTag);
    const remove = words(argv['remove']).map(checkTag);
    if ((add.length > 0 || remove.length > 0) && global.domains === undefined) {
      throw usageError("tag --add/--remove needs --domains (use --domains '*' for every domain)");
    }
    const both = add.filter((t) => remove.includes(t));
    if (both.length > 0) throw usageError(`tag ${both[0]} is both added and removed`);
    return Object.freeze({ selection: buildSelection(argv, global), add, remove });
  },
  libvirt: true,
  run: async (ctx, options) => (await import('../../domain/run-tag.js')).runTag(ctx, options),
});
