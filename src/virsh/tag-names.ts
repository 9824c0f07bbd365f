/** What a vmkeep tag may be (no XML or list characters), without loading any XML parser. */
import { usageError } from '../errors.js';

/** A tag is a word: letters, digits, `.`, `_`, `-`; no commas (lists are comma-separated). */
const TAG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Validate a tag name; usage error otherwise. */
export function checkTag(tag: string): string {
  if (!TAG_PATTERN.test(tag))
    throw usageError(`bad tag ${JSON.stringify(tag)}: use letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)`);
  return tag;
}
