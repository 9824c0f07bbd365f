/**
 * --tag / --tag-any / --exclude: the selection options status, backup, scrub, tag, config check,
 * list, prune, verify and check share.
 */
import type { Argv } from 'yargs';
import type { SelectionRequest } from '../domain/select-by-tags.js';
import { usageError } from '../errors.js';
import { checkTag } from '../virsh/tag-names.js';
import type { GlobalOptions } from './global-options.js';

export function addSelectionOptions(y: Argv): Argv {
  return y
    .option('tag', { type: 'string', array: true, describe: 'only domains with this tag (repeatable or comma list: all must match)' })
    .option('tag-any', { type: 'boolean', default: false, describe: 'with --tag: a domain needs any one of the tags, not all' })
    .option('exclude', { type: 'string', array: true, describe: 'leave out domains matching this name or glob (repeatable)' });
}

const list = (v: unknown): string[] =>
  (v === undefined ? [] : Array.isArray(v) ? v : [v])
    .flatMap((x) => String(x).split(','))
    .map((x) => x.trim())
    .filter(Boolean);

/** argv → a frozen selection request. */
export function buildSelection(argv: Record<string, unknown>, global: GlobalOptions): SelectionRequest {
  return Object.freeze({
    domains: global.domains,
    tags: Object.freeze(list(argv['tag']).map(checkTag)),
    tagAny: argv['tag-any'] === true,
    exclude: Object.freeze(list(argv['exclude'])),
  });
}

/**
 * prune, verify and check work on one host's folder and read tags from the one libvirt they
 * connect to: with several hosts a tag filter would ask the wrong host, so it is refused.
 */
export function refuseTagsAcrossHosts(selection: SelectionRequest, global: GlobalOptions, command: string): void {
  if (selection.tags.length === 0 || global.hosts.length <= 1) return;
  throw usageError(
    `${command} --tag reads tags from one host: give one --connect (the host whose backups these are) with --output OUTPUT/HOST; status, backup, scrub and list take --tag across several hosts`,
  );
}
