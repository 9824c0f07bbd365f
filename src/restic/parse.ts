/** Parsers of restic 0.14 output (recorded in fixtures/restic/ by its capture.sh). */
import { z } from 'zod';
import { VmkeepError } from '../errors.js';

const SnapshotSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  short_id: z.string().optional(),
  time: z.string(),
  parent: z.string().optional(),
  tree: z.string(),
  paths: z.array(z.string()),
  hostname: z.string(),
  tags: z.array(z.string()).optional(),
});

export type ResticSnapshot = z.infer<typeof SnapshotSchema>;

/** `restic snapshots --json` → snapshots (an empty repository prints `[]`). */
export function parseSnapshots(stdout: string): ResticSnapshot[] {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout.trim() === '' ? '[]' : stdout);
  } catch (cause) {
    throw new VmkeepError('failure', 'restic snapshots --json did not print JSON', { cause, detail: stdout.slice(0, 2000) });
  }
  // restic prints `null` for no snapshots in some versions.
  if (raw === null) return [];
  const parsed = z.array(SnapshotSchema).safeParse(raw);
  if (!parsed.success) throw new VmkeepError('failure', `restic snapshots --json: unexpected shape (${parsed.error.issues[0]?.message ?? ''})`);
  return parsed.data;
}

export interface BackupSummary {
  snapshotId: string;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  /** Bytes added to the repository (after dedup, before compression in 0.14's format 1). */
  dataAdded: number;
  totalBytesProcessed: number;
  durationSeconds: number;
}

const SummarySchema = z.object({
  message_type: z.literal('summary'),
  files_new: z.number(),
  files_changed: z.number(),
  files_unmodified: z.number(),
  data_added: z.number(),
  total_bytes_processed: z.number(),
  total_duration: z.number(),
  snapshot_id: z.string(),
});

/** `restic backup --json` (JSON lines: status..., summary) → the summary. */
export function parseBackupSummary(stdout: string): BackupSummary {
  for (const line of stdout.split('\n').reverse()) {
    if (!line.includes('"summary"')) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      continue;
    }
    const s = SummarySchema.safeParse(raw);
    if (!s.success) continue;
    return {
      snapshotId: s.data.snapshot_id,
      filesNew: s.data.files_new,
      filesChanged: s.data.files_changed,
      filesUnmodified: s.data.files_unmodified,
      dataAdded: s.data.data_added,
      totalBytesProcessed: s.data.total_bytes_processed,
      durationSeconds: s.data.total_duration,
    };
  }
  throw new VmkeepError('failure', 'restic backup --json printed no summary line', { detail: stdout.slice(-2000) });
}

/**
 * Pack ids that `restic check` reports as damaged: "Pack ID does not match, want ID, got ...",
 * "pack ID: ..." (missing, unreadable, wrong contents). Unique, in order of appearance.
 */
export function parseDamagedPacks(output: string): string[] {
  const ids: string[] = [];
  const add = (id: string) => {
    if (!ids.includes(id)) ids.push(id);
  };
  for (const m of output.matchAll(/want ([0-9a-f]{64})/g)) add(m[1]!);
  for (const m of output.matchAll(/^\s*pack ([0-9a-f]{64})\b/gim)) add(m[1]!);
  return ids;
}

const FindEntrySchema = z.object({ snapshot: z.string(), path: z.string().optional() });

/** `restic find --json --pack ID` → the snapshot ids (full) holding blobs of that pack. */
export function parseFindPack(stdout: string): string[] {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout.trim() === '' ? '[]' : stdout);
  } catch (cause) {
    throw new VmkeepError('failure', 'restic find --json did not print JSON', { cause, detail: stdout.slice(0, 2000) });
  }
  const parsed = z.array(FindEntrySchema).safeParse(raw ?? []);
  if (!parsed.success) throw new VmkeepError('failure', 'restic find --json: unexpected shape');
  return [...new Set(parsed.data.map((e) => e.snapshot))];
}

/** A restic repository lock that refused a command: who holds it, from restic's own message. */
export interface RepositoryLock {
  pid: number;
  host: string;
  exclusive: boolean;
  /** restic's "lock was created at ..." text, as printed. */
  createdAt: string | undefined;
}

/** "unable to create lock in backend: repository is already locked [exclusively] by PID N on HOST by USER ..." */
export function parseRepositoryLock(output: string): RepositoryLock | undefined {
  const m = /repository is already locked (exclusively )?by PID (\d+) on (\S+) by/.exec(output);
  if (!m) return undefined;
  const created = /lock was created at ([^\n(]+?)\s*(?:\(|\n|$)/.exec(output);
  return { pid: Number(m[2]), host: m[3]!, exclusive: m[1] !== undefined, createdAt: created?.[1] };
}
