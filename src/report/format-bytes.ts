/**
 * Bytes in decimal units with at most one decimal ("23.1 MB", "2 GB"), as pretty-bytes writes them
 * with `maximumFractionDigits: 1`. pretty-bytes makes a new Intl formatter for every number; a
 * report formats tens of thousands (every row, every run, every chart's axis labels, twice per
 * layout pass), so one formatter made once does the same work at a fraction of the cost.
 */
const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const NUMBER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1, useGrouping: false, roundingMode: 'trunc' });

/** "23.1 MB": the report's byte counts. */
export function formatBytes(n: number): string {
  if (n < 0) return `-${formatBytes(-n)}`;
  if (n < 1) return `${NUMBER.format(n)} B`;
  const exponent = Math.min(Math.floor(Math.log10(n) / 3), UNITS.length - 1);
  return `${NUMBER.format(n / 1000 ** exponent)} ${UNITS[exponent]}`;
}
