/** Carry out the repair steps of a backup plan, in order, saying what was done. */
import { rm } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import type { AppContext } from '../cli/context.js';
import { VmkeepError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { RepairStep } from './plan-backup.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Describe a step in one line (for logs, results and --dry-run). */
export function describeRepair(step: RepairStep): string {
  switch (step.kind) {
    case 'abort-job':
      return `abort the active backup job (${step.reason})`;
    case 'remove-files':
      return `remove ${step.files.join(', ')} from ${step.folder} (${step.reason})`;
    case 'rewrite-cpt':
      return `rewrite ${step.folder}'s checkpoint list to [${step.checkpoints.join(', ')}] (${step.reason})`;
    case 'delete-checkpoint':
      return `delete checkpoint ${step.name}${step.metadataOnly ? ' (metadata only)' : ''} (${step.reason})`;
    case 'remove-bitmap':
      return `remove bitmap ${step.name} from ${step.disk} (${step.reason})`;
  }
}

export async function executeRepairs(
  ctx: AppContext,
  domain: string,
  domainFolder: string,
  steps: readonly RepairStep[],
): Promise<string[]> {
  const done: string[] = [];
  for (const step of steps) {
    await executeRepair(ctx, domain, domainFolder, step);
    const line = describeRepair(step);
    ctx.log.info(`${domain}: repaired: ${line}`);
    done.push(line);
  }
  return done;
}

async function executeRepair(ctx: AppContext, domain: string, domainFolder: string, step: RepairStep): Promise<void> {
  switch (step.kind) {
    case 'abort-job': {
      await ctx.virsh.abortJob(domain).catch(() => undefined);
      for (let i = 0; i < 60; i += 1) {
        if (!(await ctx.virsh.jobActive(domain))) return;
        await sleep(500);
      }
      throw new VmkeepError('failure', `the backup job on ${domain} did not stop after domjobabort`);
    }
    case 'remove-files': {
      const dir = join(domainFolder, step.folder);
      for (const f of step.files) {
        const rel = normalize(f);
        if (rel.startsWith('..') || rel.startsWith('/')) throw new VmkeepError('failure', `refusing to remove ${f}: outside the chain folder`);
        await rm(join(dir, rel), { force: true });
      }
      return;
    }
    case 'rewrite-cpt':
      await writeFileAtomic(join(domainFolder, step.folder, `${domain}.cpt`), JSON.stringify(step.checkpoints));
      return;
    case 'delete-checkpoint':
      await ctx.virsh.deleteCheckpoint(domain, step.name, step.metadataOnly);
      return;
    case 'remove-bitmap':
      await removeBitmap(ctx, domain, step.disk, step.name);
      return;
  }
}

/** Remove a bitmap: through QMP on a live domain, with qemu-img on a shut-off one. */
export async function removeBitmap(ctx: AppContext, domain: string, disk: string, name: string): Promise<void> {
  const state = await ctx.virsh.domainState(domain);
  const def = await ctx.virsh.domain(domain);
  const d = def.disks.find((x) => x.target === disk);
  if (!d?.path) throw new VmkeepError('failure', `disk ${disk} of ${domain} has no local image`);
  if (state === 'running' || state === 'paused') {
    const nodes = await ctx.virsh.blockNodes(domain);
    const node = nodes.find((n) => n.file === d.path && n.bitmaps.some((b) => b.name === name));
    if (!node) return;
    await ctx.virsh.qmp(domain, 'block-dirty-bitmap-remove', { node: node.nodeName, name });
  } else {
    await ctx.qemuImg.removeBitmap(d.path, name);
  }
}
