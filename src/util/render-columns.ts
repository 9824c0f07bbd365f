/** Plain-text tables for the text output of list, backup and prune. */

export interface ColumnOptions {
  /** Put before every line (list indents its table under the domain line). */
  readonly indent?: string;
  /** Drop trailing spaces that padding leaves when the last cells are empty. */
  readonly trimEnd?: boolean;
}

/** Left-aligned columns separated by two spaces, header first; the last column is not padded. */
export function renderColumns(headers: readonly string[], rows: readonly (readonly string[])[], options: ColumnOptions = {}): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => {
    const text = `${options.indent ?? ''}${cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`;
    return options.trimEnd === true ? text.trimEnd() : text;
  };
  return [line(headers), ...rows.map(line)];
}
