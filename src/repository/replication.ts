/** How far each restic repository trails a domain's local restore points (pure, from the manifests' replica records). */

export interface ReplicationSummary {
  repository: string;
  /** When the newest point this repository holds was sent. */
  lastReplicated: string;
  pointsReplicated: number;
  /** Local points never sent there (a point pruned there later still counts as sent). */
  pointsNotReplicated: number;
  /** Age difference between the newest local point and the newest point the repository holds (0: up to date). */
  lagSeconds: number;
}

/** Replication state per repository from the points' replica records (pure). */
export function summarizeReplication(points: ReadonlyArray<{ time: string; replicas?: ReadonlyArray<{ repository: string; time: string }> | undefined }>): ReplicationSummary[] {
  const newestLocal = Math.max(...points.map((p) => Date.parse(p.time)));
  const repos = [...new Set(points.flatMap((p) => (p.replicas ?? []).map((r) => r.repository)))];
  return repos.map((repository) => {
    const copied = points.filter((p) => p.replicas?.some((r) => r.repository === repository));
    const newestCopied = Math.max(...copied.map((p) => Date.parse(p.time)));
    const lastSent = Math.max(...copied.map((p) => Date.parse(p.replicas!.find((r) => r.repository === repository)!.time)));
    return {
      repository,
      lastReplicated: new Date(lastSent).toISOString(),
      pointsReplicated: copied.length,
      pointsNotReplicated: points.length - copied.length,
      lagSeconds: Math.max(0, Math.round((newestLocal - newestCopied) / 1000)),
    };
  });
}
