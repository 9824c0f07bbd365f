/** Names as they come (domain names, paths) may hold newlines or terminal escapes. */

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Does the text hold a newline, tab, escape or other control character? */
export function hasControlCharacter(text: string): boolean {
  return CONTROL.test(text);
}

/** Show a name on one line: control characters become JSON escapes (the name in quotes). */
export function printable(name: string): string {
  return hasControlCharacter(name) ? JSON.stringify(name) : name;
}
