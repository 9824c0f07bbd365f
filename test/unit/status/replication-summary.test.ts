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
      { repository: '/a', lastReplicated: '2026-11-02T01:00:00.000Z', pointsReplicated: 2, pointsNotReplicated: 1, lagSeconds: 86_400 },
      { repository: '/b', lastReplicated: '2026-11-01T02:00:00.000Z', pointsReplicated: 1, pointsNotReplicated: 2, lagSeconds: 2 * 86_400 },
    ]);
    expect(summarizeReplication(points.slice(0, 2))[0]!.lagSeconds).toBe(0);
    expect(summarizeReplication([{ time: '2026-11-01T00:00:00Z' }])).toEqual([]);
  });
});
