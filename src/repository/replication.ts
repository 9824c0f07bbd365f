/** How far each restic repository trails a domain's local restore points (pure, from the manifests' replica records). */

export interface ReplicationSummary {
  repository: string;
  /** When the newest point this repository holds was sent; null when it holds none of them. */
  lastReplicated: string | null;
  /** Local points the repository holds now (a point forgotten there no longer counts). */
  pointsReplicated: number;
  /** Local points never sent there. */
  pointsNotReplicated: number;
  /** Local points sent there once and forgotten there since (repository-side retention, or by hand). */
  pointsForgotten: number;
  /** Age difference between the newest local point and the newest point the repository holds (0: up to date); null when it holds none. */
  lagSeconds: number | null;
}

interface ReplicaMark {
  repository: string;
  time: string;
  forgotten?: string | undefined;
}

/** Replication state per repository from the points' replica records (pure). */
export function summarizeReplication(points: ReadonlyArray<{ time: string; replicas?: ReadonlyArray<ReplicaMark> | undefined }>): ReplicationSummary[] {
  const newestLocal = Math.max(...points.map((p) => Date.parse(p.time)));
  const repos = [...new Set(points.flatMap((p) => (p.replicas ?? []).map((r) => r.repository)))];
  return repos.map((repository) => {
    const mark = (p: (typeof points)[number]) => p.replicas?.find((r) => r.repository === repository);
    const held = points.filter((p) => {
      const m = mark(p);
      return m !== undefined && m.forgotten === undefined;
    });
    const forgotten = points.filter((p) => mark(p)?.forgotten !== undefined).length;
    const newestHeld = Math.max(...held.map((p) => Date.parse(p.time)));
    const lastSent = Math.max(...held.map((p) => Date.parse(mark(p)!.time)));
    return {
      repository,
      lastReplicated: held.length > 0 ? new Date(lastSent).toISOString() : null,
      pointsReplicated: held.length,
      pointsNotReplicated: points.length - held.length - forgotten,
      pointsForgotten: forgotten,
      lagSeconds: held.length > 0 ? Math.max(0, Math.round((newestLocal - newestHeld) / 1000)) : null,
    };
  });
}
