/** Carry out the repair steps of a backup plan, in order, saying what was done. */
import { rm } from 'node:fs/promises';
import { readDomain } from '../domain/read-domain.js';
import { join, normalize } from 'node:path';
import type { AppContext } from '../app/context.js';
import { VmkeepError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { formatShellCommand } from '../util/shell-quote.js';
import { readManifest, writeManifest } from '../repository/manifest.js';
import type { RepairStep } from './plan-types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Describe a step in one line (for logs, results and --dry-run). */
export function describeRepair(step: RepairStep): string {
  switch (step.kind) {
    case 'abort-job':
      return `abort the active backup job (${step.reason})`;
    case 'remove-files':
      return `remove ${step.files.join(', ')} from ${step.folder} (${step.reason})`;
    case 'rewrite-cpt': {
      const list =
        step.checkpoints.length <= 4
          ? step.checkpoints.join(', ')
          : `${step.checkpoints[0]} … ${step.checkpoints.at(-1)}: ${step.checkpoints.length} checkpoints`;
      return `rewrite ${step.folder}'s checkpoint list to [${list}] (${step.reason})`;
    }
    case 'delete-checkpoint':
      return `delete checkpoint ${step.name}${step.metadataOnly ? ' (metadata only)' : ''} (${step.reason})`;
    case 'remove-bitmap':
      return `remove bitmap ${step.name} from ${step.disk} (${step.reason})`;
    case 'close-run':
      return `record in ${step.folder} that ${step.reason}`;
  }
}

export async function executeRepairs(ctx: AppContext, domain: string, domainFolder: string, steps: readonly RepairStep[]): Promise<string[]> {
  const done: string[] = [];
  for (const step of steps) {
    const how = await executeRepair(ctx, domain, domainFolder, step);
    const line = `${describeRepair(step)}${how ? `: ${how}` : ''}`;
    ctx.log.info(`${domain}: repaired: ${line}`);
    done.push(line);
  }
  return done;
}

async function executeRepair(ctx: AppContext, domain: string, domainFolder: string, step: RepairStep): Promise<string | undefined> {
  switch (step.kind) {
    case 'abort-job':
      return (await endBackupJob(ctx, domain, step.disks, { graceMs: 0 })) ?? 'it had ended meanwhile';
    case 'remove-files': {
      const dir = join(domainFolder, step.folder);
      for (const f of step.files) {
        const rel = normalize(f);
        if (rel.startsWith('..') || rel.startsWith('/')) throw new VmkeepError('failure', `refusing to remove ${f}: outside the chain folder`);
        await rm(join(dir, rel), { force: true });
      }
      return undefined;
    }
    case 'rewrite-cpt':
      await writeFileAtomic(join(domainFolder, step.folder, `${domain}.cpt`), JSON.stringify(step.checkpoints));
      return undefined;
    case 'delete-checkpoint':
      await ctx.virsh.deleteCheckpoint(domain, step.name, step.metadataOnly);
      return undefined;
    case 'remove-bitmap':
      await removeBitmap(ctx, domain, step.disk, step.name);
      return undefined;
    case 'close-run':
      await closeInterruptedRun(join(domainFolder, step.folder), step);
      return undefined;
  }
}

/** Clear a dead run's mark from a manifest and record the interruption (at the time it started). */
async function closeInterruptedRun(chainDir: string, step: Extract<RepairStep, { kind: 'close-run' }>): Promise<void> {
  const manifest = await readManifest(chainDir);
  if (!manifest?.running || manifest.running.pid !== step.pid || manifest.running.startedAt !== step.startedAt) return;
  const complete = manifest.points.length > 0;
  await writeManifest(chainDir, {
    ...manifest,
    running: undefined,
    state: complete ? 'complete' : 'broken',
    stateReason: complete ? undefined : `the full backup did not finish: ${step.reason}`,
    events: [
      ...manifest.events,
      { time: step.startedAt, kind: step.failed ? 'failed' : 'interrupted', message: `${manifest.running.level} backup: ${step.reason}` },
    ],
  });
}

export interface EndJobOptions {
  /** How long a job may take to end by itself before vmkeep steps in (ms). */
  graceMs: number;
  /** Polling interval (ms); tests make it 0. */
  pollMs?: number;
  /** How long each escalation step may take (ms). */
  stepMs?: number;
}

/**
 * End a backup job left active on a domain; undefined when none is (or it ends within the grace
 * time), otherwise how it was ended.
 *
 * `virsh domjobabort` is the normal way. It is not always enough: libvirt 9.0 sometimes misses
 * the end of the QEMU block job after an abort (QEMU lists the job as "concluded", libvirt keeps
 * reporting an unbounded backup job and ignores further domjobaborts), most often when the job
 * lived for less than a second, e.g. an incremental with nothing to copy. `virsh blockjob DISK
 * --abort` makes libvirt look at the job again and finish it.
 */
export async function endBackupJob(ctx: AppContext, domain: string, disks: readonly string[], options: EndJobOptions): Promise<string | undefined> {
  const pollMs = options.pollMs ?? 250;
  const stepMs = options.stepMs ?? 10_000;
  const active = () => jobStillActive(ctx, domain);
  const waitEnded = async (ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    for (;;) {
      if (!(await active())) return true;
      if (Date.now() >= deadline) return false;
      await sleep(pollMs);
    }
  };
  if (await waitEnded(options.graceMs)) return undefined;
  await ctx.virsh.abortJob(domain).catch(() => undefined);
  if (await waitEnded(stepMs)) return 'ended with virsh domjobabort';
  for (const disk of disks) {
    // Fails with "block job ... is still being ended" exactly when it works: the outcome is read below.
    await ctx.virsh.blockJobAbort(domain, disk).catch(() => undefined);
  }
  if (await waitEnded(stepMs)) return `libvirt ignored virsh domjobabort; ended with virsh blockjob --abort on ${disks.join(', ')}`;
  throw new VmkeepError(
    'failure',
    `the backup job on ${domain} does not end (tried virsh domjobabort and virsh blockjob --abort on ${disks.join(', ') || 'no disk'}); ` +
      `check ${formatShellCommand(['virsh', 'domjobinfo', domain])}: restarting libvirtd or the domain ends it`,
  );
}

/** domjobinfo, where a domain that stopped running has no job. */
async function jobStillActive(ctx: AppContext, domain: string): Promise<boolean> {
  try {
    return await ctx.virsh.jobActive(domain);
  } catch (error) {
    const state = await ctx.virsh.domainState(domain).catch(() => undefined);
    if (state === 'shut off') return false;
    throw error;
  }
}

/** Remove a bitmap: through QMP on a live domain, with qemu-img on a shut-off one. */
export async function removeBitmap(ctx: AppContext, domain: string, disk: string, name: string): Promise<void> {
  const snap = await readDomain(ctx, domain);
  const d = snap.disks.find((x) => x.disk.target === disk);
  if (!d?.disk.path) throw new VmkeepError('failure', `disk ${disk} of ${domain} has no local image`);
  if (snap.live) {
    // Already gone (or never there): nothing to remove.
    if (!d.node || !d.bitmaps?.some((b) => b.name === name)) return;
    await ctx.virsh.removeBitmap(domain, d.node, name);
  } else {
    await ctx.qemuImg.removeBitmap(d.disk.path, name);
  }
}
