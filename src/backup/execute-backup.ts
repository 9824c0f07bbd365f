/** Carry out one domain's backup plan: repairs, the engine run, the manifest, the domain's state. */
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppContext } from '../cli/context.js';
import { VmkeepError } from '../errors.js';
import { sha256File } from '../util/sha256.js';
import type { BackupEngine } from './engine/types.js';
import { executeRepairs } from './execute-repairs.js';
import { MANIFEST_FORMAT, readManifest, writeManifest, type ChainManifest, type ManifestFile } from './manifest.js';
import type { BackupInventory } from './inspect-domain.js';
import type { DomainBackupPlan } from './plan-backup.js';

export interface ExecuteBackupOptions {
  output: string;
  compress: boolean;
  raw: boolean;
  label: string | undefined;
  toolVersions: Record<string, string>;
  onProgress?: (done: number, total: number) => void;
}

export interface ExecutedBackup {
  level: 'full' | 'inc';
  folder: string;
  checkpoint: string;
  dataBytes: number;
  durationMs: number;
  repairs: string[];
}

type BackupPlan = Extract<DomainBackupPlan, { action: 'backup' }>;

/** Classify a file virtnbdbackup wrote (for the manifest). */
export function classifyFile(rel: string): { kind: ManifestFile['kind']; disk?: string } {
  if (rel.endsWith('.data')) return { kind: 'data', disk: rel.split('.')[0] };
  if (rel.startsWith('checkpoints/')) return { kind: 'checkpoint' };
  if (/^vmconfig.*\.xml$/.test(rel)) return { kind: 'config' };
  return { kind: 'meta' };
}

/** Files whose content changes after they are written are not fingerprinted. */
function isMutable(rel: string, domain: string): boolean {
  return rel === `${domain}.cpt` || rel.startsWith('.') || rel.endsWith('.log');
}

/** Run one planned backup. The domain is already in the state the plan expects (live). */
export async function executeBackup(
  ctx: AppContext,
  engine: BackupEngine,
  inv: BackupInventory,
  plan: BackupPlan,
  options: ExecuteBackupOptions,
): Promise<ExecutedBackup> {
  const domainFolder = join(options.output, inv.domain);
  const chainDir = join(domainFolder, plan.folder);
  const repairs = await executeRepairs(ctx, inv.domain, domainFolder, plan.repairs);
  await mkdir(chainDir, { recursive: true, mode: 0o700 });
  await chmod(domainFolder, 0o700);
  await chmod(chainDir, 0o700);

  const startedAt = ctx.now();
  let manifest = (await readManifest(chainDir)) ?? newManifest(inv, plan, options, startedAt);
  manifest = {
    ...manifest,
    toolVersions: { ...manifest.toolVersions, ...options.toolVersions },
    running: { pid: process.pid, startedAt: startedAt.toISOString(), level: plan.level },
    updatedAt: startedAt.toISOString(),
    events: [
      ...manifest.events,
      ...repairs.map((r) => ({ time: startedAt.toISOString(), kind: 'repaired' as const, message: r })),
    ],
  };
  await writeManifest(chainDir, manifest);

  const workDir = await mkdtemp(join('/var/tmp', 'vmkeep-run-'));
  // QEMU (user libvirt-qemu on a normal host) creates the NBD socket here.
  await chmod(workDir, 0o1733);
  const t0 = Date.now();
  try {
    const result = await engine.run({
      domain: inv.domain,
      uri: ctx.virsh.uri,
      level: plan.level,
      chainDir,
      excludeDisks: plan.excluded.map((e) => e.disk),
      compress: options.compress,
      raw: options.raw,
      workDir,
      signal: ctx.signal,
      onProgress: (p) => options.onProgress?.(p.doneBytes, p.totalBytes),
      onLog: (line) => ctx.log.debug(`${inv.domain}: ${line}`),
    });
    const durationMs = Date.now() - t0;
    const files: ManifestFile[] = [];
    for (const rel of result.newFiles) {
      if (isMutable(rel, inv.domain)) continue;
      const path = join(chainDir, rel);
      files.push({ path: rel, ...classifyFile(rel), size: (await stat(path)).size, sha256: await sha256File(path) });
    }
    // A restore point's time is when its checkpoint was taken: the start of the run.
    const time = startedAt.toISOString();
    const finished: ChainManifest = {
      ...manifest,
      running: undefined,
      state: 'complete',
      stateReason: undefined,
      updatedAt: ctx.now().toISOString(),
      points: [
        ...manifest.points,
        {
          checkpoint: result.checkpoint,
          ...(result.parent ? { parent: result.parent } : {}),
          time,
          level: plan.level,
          ...(options.label ? { label: options.label } : {}),
          protected: false,
          dataBytes: result.dataBytes,
          durationMs,
          files,
        },
      ],
    };
    await writeManifest(chainDir, finished);
    return { level: plan.level, folder: plan.folder, checkpoint: result.checkpoint, dataBytes: result.dataBytes, durationMs, repairs };
  } catch (error) {
    const interrupted = ctx.signal.aborted;
    const message = interrupted ? 'interrupted (SIGINT/SIGTERM)' : error instanceof Error ? error.message : String(error);
    const time = ctx.now().toISOString();
    const failed: ChainManifest = {
      ...manifest,
      running: undefined,
      updatedAt: time,
      // A chain with recorded points stays usable: those points restore as before.
      state: manifest.points.length > 0 ? 'complete' : 'broken',
      stateReason: manifest.points.length > 0 ? undefined : `the full backup did not finish: ${message}`,
      events: [...manifest.events, { time, kind: interrupted ? 'interrupted' : 'failed', message: `${plan.level} backup: ${message}` }],
    };
    await writeManifest(chainDir, failed).catch(() => undefined);
    if (interrupted) throw new VmkeepError('interrupted', `backup of ${inv.domain} interrupted`, { cause: error });
    throw error;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

function newManifest(inv: BackupInventory, plan: BackupPlan, options: ExecuteBackupOptions, now: Date): ChainManifest {
  return {
    format: MANIFEST_FORMAT,
    domain: inv.domain,
    ...(inv.uuid ? { domainUuid: inv.uuid } : {}),
    engine: 'virtnbdbackup',
    toolVersions: { ...options.toolVersions },
    period: { groupBy: plan.period.groupBy, key: plan.period.key, start: plan.period.start.toISOString() },
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    state: 'in-progress',
    protected: false,
    disks: inv.disks
      .filter((d) => d.eligible)
      .map((d) => ({ target: d.target, ...(d.path ? { sourcePath: d.path } : {}), ...(d.format ? { format: d.format } : {}) })),
    points: [],
    events: [],
  };
}
