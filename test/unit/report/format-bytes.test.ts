import prettyBytes from 'pretty-bytes';
import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../../src/report/format-bytes.js';

describe("the report's byte counts", () => {
  it('read as pretty-bytes writes them with one decimal at most (truncated, not rounded up)', () => {
    const values = [0, 0.5, 1, 999, 1000, 1049, 1050, 1805, 4598, 999_950, 999_999, 1e6, 23_100_000, 2e9, 737_180_006_683, 1.5e12, 1e18, 1e24, 1e27, -5, -2e9];
    // And a spread over every unit: 1.37^k runs from 1 B to past a yottabyte.
    for (let k = 0; k < 200; k++) values.push(Math.floor(1.37 ** k) + k);
    for (const v of values) expect(formatBytes(v), String(v)).toBe(prettyBytes(v, { maximumFractionDigits: 1 }));
    expect(formatBytes(1050)).toBe('1 kB');
    expect(formatBytes(23_100_000)).toBe('23.1 MB');
  });
});
