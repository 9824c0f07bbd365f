/** padCheckpointList: the .cpt list given to virtnbdbackup so that its next checkpoint name is free. */
import { describe, expect, it } from 'vitest';
import { padCheckpointList } from '../../../src/virtnbd/backup-folder.js';

const n = (...xs: number[]) => xs.map((x) => `virtnbdbackup.${x}`);

describe('padCheckpointList', () => {
  it('leaves a list alone when the next name by count is free', () => {
    expect(padCheckpointList(n(0, 1, 2))).toEqual(n(0, 1, 2));
    expect(padCheckpointList(n(0, 3, 5, 6))).toEqual(n(0, 3, 5, 6));
    expect(padCheckpointList([])).toEqual([]);
  });

  it('after merges, inserts unused names before the parent until the next name is free', () => {
    // Next by count would be .5, which the chain holds; .6 too: two fillers make it .7.
    const padded = padCheckpointList(n(0, 3, 5, 6, 4));
    expect(padded).toEqual(n(0, 3, 5, 6, 1, 2, 4));
    expect(padded.at(-1)).toBe('virtnbdbackup.4');
    expect(padded).not.toContain(`virtnbdbackup.${padded.length}`);
  });
});
