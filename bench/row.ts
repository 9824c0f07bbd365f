/** One line of BENCHMARKS.md. */
export interface BenchRow {
  /** What was measured. */
  name: string;
  /** The figure, with its unit (a median, or a ratio of medians). */
  measured: string;
  /** The target from the issue, or '' when the row is context for another. */
  target: string;
  /** true met, false missed, undefined no target. */
  met: boolean | undefined;
  /**
   * Where the number comes from: the product on real libvirt, or vmkeep's code with the tools
   * replaced (a fake runner measures the code, never the product).
   */
  source: 'real libvirt' | 'fake runner' | 'in memory' | 'real files';
  /** What limits a missed target, or how the figure was taken. */
  note?: string;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
