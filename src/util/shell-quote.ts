/**
 * Commands vmkeep prints for a person to paste (status fixes, `virsh define FILE`, `vmkeep umount
 * DIR`): every word quoted for a POSIX shell, so a domain or folder name with `$(...)`, backticks,
 * `;`, quotes or spaces comes back as one literal argument and never runs anything.
 */

/** Words made only of these need no quotes in any POSIX shell. */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quote one word for a POSIX shell: bare when it holds only safe characters, else in single
 * quotes, where nothing is special but `'` itself (written `'\''`). Double quotes would not do:
 * bash still expands `$(...)`, backticks and `$VAR` inside them.
 */
export function quoteShellWord(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", "'\\''")}'`;
}

/** A command line for a person to paste: each word through quoteShellWord, joined by spaces. */
export function formatShellCommand(words: readonly string[]): string {
  return words.map(quoteShellWord).join(' ');
}
