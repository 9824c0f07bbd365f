/** --tag / --tag-any / --exclude: the selection options status, backup, scrub and tag share. */
import type { Argv } from 'yargs';
import type { SelectionRequest } from '../domain/select-by-tags.js';
import { checkTag } from '../virsh/tag-names.js';
import type { GlobalOptions } from './global-options.js';

export function addSelectionOptions(y: Argv): Argv {
  return y
    .option('tag', { type: 'string', array: true, describe: 'only domains with this tag (repeatable or comma list: all must match)' })
    .option('tag-any', { type: 'boolean', default: false, describe: 'with --tag: a domain needs any one of the tags, not all' })
    .option('exclude', { type: 'string', array: true, describe: 'leave out domains matching this name or glob (repeatable)' });
}

const list = (v: unknown): string[] =>
  (v === undefined ? [] : Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(',')).map((x) => x.trim()).filter(Boolean);

/** argv → a frozen selection request. */
export function buildSelection(argv: Record<string, unknown>, global: GlobalOptions): SelectionRequest {
  return Object.freeze({
    domains: global.domains,
    tags: Object.freeze(list(argv['tag']).map(checkTag)),
    tagAny: argv['tag-any'] === true,
    exclude: Object.freeze(list(argv['exclude'])),
  });
}
