import { describe, expect, it } from 'vitest';
import { formatRunSeconds } from '../../../src/report/render-html.js';

describe("the report's run durations", () => {
  it('show tenths under 10 s (a push incremental is not "0 s") and whole seconds above', () => {
    expect(formatRunSeconds(0.44)).toBe('0.4 s');
    expect(formatRunSeconds(0)).toBe('0.0 s');
    expect(formatRunSeconds(9.94)).toBe('9.9 s');
    expect(formatRunSeconds(12.6)).toBe('13 s');
  });
});
