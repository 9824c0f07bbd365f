/**
 * The one rule for which checkpoint and bitmap names vmkeep owns. A checkpoint and its bitmaps
 * share a name. vmkeep's engines make two families:
 * - `virtnbdbackup.N`: virtnbdbackup's fixed names, shared by every backup folder of a domain;
 * - `vmkeep.<anything>`: vmkeep's own names.
 * Everything else belongs to someone else and is touched only with --force.
 */

/** Which engine family a name belongs to, or undefined for a foreign name. */
export type NameFamily = 'virtnbdbackup' | 'vmkeep';

const FAMILIES: ReadonlyArray<readonly [NameFamily, RegExp]> = [
  ['virtnbdbackup', /^virtnbdbackup\.\d+$/],
  ['vmkeep', /^vmkeep\..+$/],
];

/** The family of a checkpoint or bitmap name; undefined when vmkeep did not make it. */
export function nameFamily(name: string): NameFamily | undefined {
  return FAMILIES.find(([, re]) => re.test(name))?.[0];
}

/** Did one of vmkeep's engines make this checkpoint or bitmap? */
export function isOwnedName(name: string): boolean {
  return nameFamily(name) !== undefined;
}

/** virtnbdbackup checkpoint names a file name mentions (vda.inc.virtnbdbackup.3.data, checkpoints/virtnbdbackup.3.xml...). */
export function virtnbdbackupNamesIn(file: string): string[] {
  return [...file.matchAll(/(?:^|[./])(virtnbdbackup\.\d+)(?=\.|$)/g)].map((m) => m[1]!);
}
