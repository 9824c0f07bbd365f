import { describe, expect, it } from 'vitest';
import { summarizeReplication } from '../../../src/repository/replication.js';

describe('summarizeReplication', () => {
  it('per repository: points sent, points not sent, lag behind the newest local point', () => {
    const sent = (repository: string, time: string) => ({ repository, time });
    const points = [
      { time: '2026-11-01T00:00:00Z', replicas: [sent('/a', '2026-11-01T01:00:00Z'), sent('/b', '2026-11-01T02:00:00Z')] },
      { time: '2026-11-02T00:00:00Z', replicas: [sent('/a', '2026-11-02T01:00:00Z')] },
      { time: '2026-11-03T00:00:00Z' },
    ];
    expect(summarizeReplication(points)).toEqual([
      { repository: '/a', lastReplicated: '2026-11-02T01:00:00.000Z', pointsReplicated: 2, pointsNotReplicated: 1, pointsForgotten: 0, lagSeconds: 86_400 },
      { repository: '/b', lastReplicated: '2026-11-01T02:00:00.000Z', pointsReplicated: 1, pointsNotReplicated: 2, pointsForgotten: 0, lagSeconds: 2 * 86_400 },
    ]);
    expect(summarizeReplication(points.slice(0, 2))[0]!.lagSeconds).toBe(0);
    expect(summarizeReplication([{ time: '2026-11-01T00:00:00Z' }])).toEqual([]);
  });

  it('a point the repository forgot is neither replicated nor unsent; holding none leaves no lag to claim', () => {
    const mark = (time: string, forgotten?: string) => ({ repository: '/r', time, ...(forgotten ? { forgotten } : {}) });
    const points = [
      { time: '2026-11-01T00:00:00Z', replicas: [mark('2026-11-01T01:00:00Z', '2026-11-05T00:00:00Z')] },
      { time: '2026-11-02T00:00:00Z', replicas: [mark('2026-11-02T01:00:00Z')] },
      { time: '2026-11-03T00:00:00Z', replicas: [mark('2026-11-03T01:00:00Z', '2026-11-05T00:00:00Z')] },
    ];
    expect(summarizeReplication(points)).toEqual([
      { repository: '/r', lastReplicated: '2026-11-02T01:00:00.000Z', pointsReplicated: 1, pointsNotReplicated: 0, pointsForgotten: 2, lagSeconds: 86_400 },
    ]);
    expect(summarizeReplication([points[0]!])).toEqual([
      { repository: '/r', lastReplicated: null, pointsReplicated: 0, pointsNotReplicated: 0, pointsForgotten: 1, lagSeconds: null },
    ]);
  });
});
