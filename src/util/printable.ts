/** Names as they come (domain names, paths) may hold newlines or terminal escapes. */

/** Show a name on one line: control characters become JSON escapes (the name in quotes). */
export function printable(name: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f]/.test(name) ? JSON.stringify(name) : name;
}
