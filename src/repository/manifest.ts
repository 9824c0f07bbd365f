/**
 * The chain manifest: vmkeep's record of one chain folder (a full and its incrementals).
 *
 * Written atomically after every run that changes the chain; read by status, list, verify,
 * prune and restore. A chain folder without one (a VMSnap tree) is read from virtnbdbackup's own
 * files instead, see repository.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { VmkeepError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export const MANIFEST_FILE = 'vmkeep-manifest.json';
export const MANIFEST_FORMAT = 'vmkeep-chain/1';

const isoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not an ISO time');

/**
 * A path inside the chain folder: relative, no `..` or `.` segment, no empty segment. A manifest
 * naming `../../etc/passwd` is refused as a whole, so no reader ever opens or deletes such a file.
 */
const chainRelativePath = z
  .string()
  .refine(
    (p) =>
      p.length > 0 && !p.startsWith('/') && !p.includes('\\') && !p.includes('\0') && p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..'),
    'must be a path inside the chain folder',
  );

/** A checkpoint name is also a file name (checkpoints/<name>.xml): no separators, no dot names. */
const checkpointName = z.string().regex(/^(?!\.\.?$)[^/\\\0]+$/, 'is not a checkpoint name');

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * A file's digest: one sha256 of the whole file (what older manifests recorded, and every file no
 * longer than one chunk), or one per fixed-size chunk (larger files: hashed on every core, and a
 * mismatch names the byte range).
 */
const digestFields = {
  sha256: sha256Hex.optional(),
  chunks: z.object({ size: z.number().int().positive(), sha256: z.array(sha256Hex).min(1) }).optional(),
};

function hasValidDigest(f: { size: number; sha256?: string | undefined; chunks?: { size: number; sha256: string[] } | undefined }): boolean {
  if (f.chunks === undefined) return f.sha256 !== undefined;
  return f.chunks.sha256.length === Math.max(1, Math.ceil(f.size / f.chunks.size));
}

const ManifestFileSchema = z
  .object({
    /** Path relative to the chain folder. */
    path: chainRelativePath,
    /** Disk target for data files; undefined for config/checkpoint files. */
    disk: z.string().optional(),
    kind: z.enum(['data', 'config', 'checkpoint', 'meta']),
    size: z.number().int().nonnegative(),
    ...digestFields,
  })
  .refine(hasValidDigest, 'must record a sha256, or one sha256 per chunk that covers the file');

/** One copy of a restore point in a restic repository (`vmkeep replicate`). */
const ReplicaRecordSchema = z.object({
  /** The repository, credentials removed. */
  repository: z.string(),
  /** restic's snapshot id (64 hex). */
  snapshot: z.string(),
  time: isoTime,
  /**
   * When vmkeep saw that the repository no longer holds the snapshot (repository-side retention,
   * or a `restic forget` by hand). The record stays, so replicate does not send the point again
   * and undo that retention, but the point no longer counts as replicated there.
   */
  forgotten: isoTime.optional(),
});

/** One phase of a run and its time (see util/phase-timer.ts); a name a later vmkeep adds still reads. */
const PhaseTimeSchema = z.object({ name: z.string(), ms: z.number().nonnegative() });

const ManifestPointSchema = z.object({
  /** Checkpoint name (virtnbdbackup.N): the point's id within its chain. */
  checkpoint: checkpointName,
  parent: checkpointName.optional(),
  time: isoTime,
  /**
   * Place in the domain's recording order (1, 2, ... per output folder): which point is newest
   * when the host clock went wrong. Absent in points recorded before it was kept.
   */
  sequence: z.number().int().positive().optional(),
  level: z.enum(['full', 'inc']),
  label: z.string().optional(),
  /** backup --name: unique among the domain's points. */
  name: z.string().optional(),
  /** Did the guest agent freeze the filesystems for this point's checkpoint? (absent: not recorded) */
  quiesced: z.boolean().optional(),
  /** Why the filesystems were not frozen (no agent channel, agent not answering, freeze failed, not asked). */
  quiesceReason: z.string().optional(),
  /** The guest was not running while the point was taken (shut off, or --stop): consistent on disk. */
  offline: z.boolean().optional(),
  protected: z.boolean().default(false),
  /** Guest data bytes the run copied (sum of data extents). */
  dataBytes: z.number().int().nonnegative(),
  durationMs: z.number().nonnegative(),
  /** Where the run's time went, phase by phase, up to the point's record (absent in older points). */
  phases: z.array(PhaseTimeSchema).optional(),
  files: z.array(ManifestFileSchema),
  /** Where this point was replicated, and when (absent: never). */
  replicas: z.array(ReplicaRecordSchema).optional(),
});

const ChainEventSchema = z.object({
  time: isoTime,
  kind: z.enum(['started', 'repaired', 'interrupted', 'failed', 'broken', 'protected', 'unprotected', 'verified', 'merged', 'deleted']),
  message: z.string(),
});

const VerifyRecordSchema = z.object({
  time: isoTime,
  result: z.enum(['ok', 'failed']),
  deep: z.boolean(),
  problems: z.array(z.string()),
  /** Restore points the problems break (absent in records written before it was kept). */
  brokenPoints: z.array(z.string()).optional(),
  /** Where the verify run's time went for this chain (absent in older records). */
  phases: z.array(PhaseTimeSchema).optional(),
});

/** The outcome of booting one restore point in isolation (`verify --boot`). */
const BootVerifyRecordSchema = z.object({
  time: isoTime,
  result: z.enum(['ok', 'failed']),
  /** Why it failed, in vmkeep's words. */
  reason: z.string().optional(),
  /** From `virsh start` to the end of the checks. */
  durationMs: z.number().nonnegative(),
  /** From `virsh start` to the guest's first answer (agent or console); absent when it never answered. */
  firstAnswerMs: z.number().nonnegative().optional(),
  checks: z.array(z.object({ check: z.string(), ok: z.boolean(), reason: z.string().optional() })),
  /** The evidence folder, relative to the chain folder. */
  evidence: z.string(),
});

/**
 * Did the chain's last verify find damage to its restore points? A failure that broke none (a
 * leftover file beside the chain) is not damage; a record without the list counts as damage.
 */
export function verifyFoundDamage(lastVerify: ChainManifest['lastVerify']): boolean {
  return lastVerify?.result === 'failed' && (lastVerify.brokenPoints === undefined || lastVerify.brokenPoints.length > 0);
}

const ChainManifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  domain: z.string(),
  domainUuid: z.string().optional(),
  /** Which engine wrote the chain; restore/verify dispatch on it. */
  engine: z.enum(['virtnbdbackup', 'push']),
  toolVersions: z.record(z.string(), z.string()),
  /** Period this chain belongs to, when grouped (VMSnap's --groupBy). */
  period: z.object({ groupBy: z.enum(['month', 'quarter', 'bi-annual', 'year']), key: z.string(), start: isoTime }).optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
  state: z.enum(['complete', 'in-progress', 'broken']),
  stateReason: z.string().optional(),
  protected: z.boolean().default(false),
  disks: z.array(z.object({ target: z.string(), sourcePath: z.string().optional(), format: z.string().optional(), virtualSize: z.number().optional() })),
  /** Shared files of the chain (domain XML copies...), refreshed each run. */
  points: z.array(ManifestPointSchema),
  /** A run that started and has not finished: set before the engine runs, cleared after. */
  running: z
    .object({
      pid: z.number().int(),
      startedAt: isoTime,
      level: z.enum(['full', 'inc']),
      /** The run started the (shut-off) domain paused: a run that finds it still paused shuts it off. */
      startedDomain: z.boolean().optional(),
      /** --stop shut the running domain down and started it paused: a run that finds it still paused resumes it. */
      stoppedDomain: z.boolean().optional(),
    })
    .optional(),
  events: z.array(ChainEventSchema).default([]),
  /**
   * A point-level prune (push chains) between its two manifest writes: the verified new images
   * are in place under `temp` names or already renamed over `path`. Whoever finds it (the next
   * prune) finishes the merge; see docs/RETENTION.md for the crash states.
   */
  merging: z
    .object({
      dropped: z.array(z.string()),
      into: z.string(),
      newParent: z.string().optional(),
      files: z.array(
        z
          .object({ path: z.string(), temp: z.string(), size: z.number().int().nonnegative(), ...digestFields })
          .refine(hasValidDigest, 'must record its digest'),
      ),
    })
    .optional(),
  lastVerify: VerifyRecordSchema.optional(),
  /** The last boot proof of each point, by checkpoint. */
  bootVerify: z.record(z.string(), BootVerifyRecordSchema).optional(),
});

export type ManifestFile = z.infer<typeof ManifestFileSchema>;
export type ManifestPoint = z.infer<typeof ManifestPointSchema>;
export type ChainEvent = z.infer<typeof ChainEventSchema>;

/** The fields that say which point it is; every chain folder records them, a VMSnap folder too. */
type PointIdentity = 'checkpoint' | 'time' | 'level' | 'protected';

/**
 * A restore point as the readers of a chain (status, list, restore, verify) see it: the manifest's
 * point without its files and replicas, which each reader holds in its own shape. A VMSnap folder
 * records only the identity, so the rest is optional. A field added to the manifest's point is
 * here, and in every view built on it, without further code.
 */
export type PointFacts = Pick<ManifestPoint, PointIdentity> & Partial<Omit<ManifestPoint, PointIdentity | 'files' | 'replicas'>>;

/** A manifest point's facts: the point itself, less its files and replicas. */
export function pointFactsOf(point: ManifestPoint): PointFacts {
  const { files, replicas, ...facts } = point;
  return facts;
}
export type ChainManifest = z.infer<typeof ChainManifestSchema>;
export type VerifyRecord = z.infer<typeof VerifyRecordSchema>;
export type BootVerifyRecord = z.infer<typeof BootVerifyRecordSchema>;
export type ReplicaRecord = z.infer<typeof ReplicaRecordSchema>;

/** Parse manifest text; a manifest that does not match the schema is an error naming the file. */
export function parseManifest(text: string, where = MANIFEST_FILE): ChainManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new VmkeepError('failure', `${where} is not valid JSON`, { cause });
  }
  const parsed = ChainManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new VmkeepError('failure', `${where} is not a valid vmkeep manifest: ${first?.path.join('.') ?? ''} ${first?.message ?? ''}`);
  }
  return parsed.data;
}

/** Read a chain folder's manifest; undefined when there is none. */
export async function readManifest(chainDir: string): Promise<ChainManifest | undefined> {
  const path = join(chainDir, MANIFEST_FILE);
  let text: string;
  try {
    // One synchronous read: a manifest is a few kB, and a report reads thousands of them, where a
    // file handle's open, stat, read and close, each a hop to the thread pool, cost twice the CPU.
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseManifest(text, path);
}

/** Validate and write a manifest atomically (temp file, fsync, rename). */
export async function writeManifest(chainDir: string, manifest: ChainManifest): Promise<void> {
  const checked = ChainManifestSchema.parse(manifest);
  await writeFileAtomic(join(chainDir, MANIFEST_FILE), `${JSON.stringify(checked, null, 2)}\n`);
}

/**
 * Record that a point now has a copy in a repository (replacing an older record for the same
 * repository). Read, change, write atomically: the manifest on disk is the truth, not a copy in memory.
 */
export async function recordReplica(chainDir: string, checkpoint: string, record: ReplicaRecord): Promise<void> {
  const manifest = await readManifest(chainDir);
  if (!manifest) throw new VmkeepError('failure', `${join(chainDir, MANIFEST_FILE)} is gone: cannot record the replica of ${checkpoint}`);
  const point = manifest.points.find((p) => p.checkpoint === checkpoint);
  if (!point) throw new VmkeepError('failure', `${join(chainDir, MANIFEST_FILE)} has no point ${checkpoint}: cannot record its replica`);
  point.replicas = [...(point.replicas ?? []).filter((r) => r.repository !== record.repository), record];
  await writeManifest(chainDir, manifest);
}

/** A replica record whose mark changed to follow the repository. */
export interface ReplicaMarkChange {
  checkpoint: string;
  snapshot: string;
  /** forgotten: the repository no longer holds it; held again: it holds it after all. */
  change: 'forgotten' | 'held again';
}

/**
 * Make the chain's replica marks for `repository` follow what it holds now (`held`: every
 * snapshot id the repository lists). Written only when a mark changes; returns the changes.
 */
export async function reconcileReplicas(chainDir: string, repository: string, held: ReadonlySet<string>, now: string): Promise<ReplicaMarkChange[]> {
  const manifest = await readManifest(chainDir);
  if (!manifest) return [];
  const changes: ReplicaMarkChange[] = [];
  for (const point of manifest.points) {
    point.replicas = (point.replicas ?? []).map((r) => {
      if (r.repository !== repository) return r;
      // restic's backup summary gives a short id on some versions, its snapshot list full ids: a prefix is the same snapshot.
      const isHeld = held.has(r.snapshot) || [...held].some((id) => id.startsWith(r.snapshot) || r.snapshot.startsWith(id));
      if (!isHeld && r.forgotten === undefined) {
        changes.push({ checkpoint: point.checkpoint, snapshot: r.snapshot, change: 'forgotten' });
        return { ...r, forgotten: now };
      }
      if (isHeld && r.forgotten !== undefined) {
        changes.push({ checkpoint: point.checkpoint, snapshot: r.snapshot, change: 'held again' });
        const { forgotten: _gone, ...rest } = r;
        return rest;
      }
      return r;
    });
  }
  if (changes.length > 0) await writeManifest(chainDir, manifest);
  return changes;
}
