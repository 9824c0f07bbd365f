/**
 * Carry out a scrub plan, then judge it by what a fresh read of the domain shows: a command that
 * exited 0 proves nothing until the checkpoint or bitmap is really gone.
 */
import type { AppContext } from '../app/context.js';
import { VmkeepError, messageOf } from '../errors.js';
import type { ScrubAction, ScrubDomainState, ScrubPlan } from './plan-scrub.js';

/**
 * One planned action and how it ended. After executeScrubPlan `done` means the command succeeded;
 * verifyScrubResults then keeps it only where the re-read shows the target gone.
 */
export interface ScrubActionResult extends ScrubAction {
  done: boolean;
  error?: string;
}

/** Run the plan's actions in order; one failed action does not stop the others (except its dependants). */
export async function executeScrubPlan(ctx: AppContext, plan: ScrubPlan, state: ScrubDomainState): Promise<ScrubActionResult[]> {
  const disks = new Map(state.disks.map((d) => [d.target, d]));
  const failedCheckpoints = new Set<string>();
  const results: ScrubActionResult[] = [];
  for (const action of plan.actions) {
    if (action.action === 'skip-checkpoint' || action.action === 'skip-bitmap') {
      results.push({ ...action, done: false });
      continue;
    }
    if (ctx.signal.aborted) {
      results.push({ ...action, done: false, error: 'not attempted: interrupted' });
      continue;
    }
    if (action.checkpoint !== undefined && failedCheckpoints.has(action.checkpoint)) {
      // Removing the bitmap now would leave the checkpoint pointing at nothing: the next backup fails.
      results.push({ ...action, done: false, error: `not attempted: deleting checkpoint ${action.checkpoint} failed` });
      continue;
    }
    try {
      await runAction(ctx, plan, action, disks);
      results.push({ ...action, done: true });
    } catch (error) {
      if (action.action !== 'remove-bitmap') failedCheckpoints.add(action.target);
      results.push({ ...action, done: false, error: messageOf(error) });
      ctx.log.warn(`${plan.domain}: ${describe(action)} failed: ${messageOf(error)}`);
    }
  }
  return results;
}

async function runAction(ctx: AppContext, plan: ScrubPlan, action: ScrubAction, disks: ReadonlyMap<string, ScrubDomainState['disks'][number]>): Promise<void> {
  ctx.log.info(`${plan.domain}: ${describe(action)}`);
  switch (action.action) {
    case 'delete-checkpoint':
      return ctx.virsh.deleteCheckpoint(plan.domain, action.target);
    case 'delete-checkpoint-metadata':
      return ctx.virsh.deleteCheckpoint(plan.domain, action.target, true);
    case 'remove-bitmap': {
      const disk = action.disk === undefined ? undefined : disks.get(action.disk);
      if (!disk) throw new VmkeepError('failure', `no disk ${action.disk ?? '?'} in the state the plan was made from`);
      if (plan.state === 'shut off') return ctx.qemuImg.removeBitmap(disk.path, action.target);
      if (disk.node === undefined) throw new VmkeepError('failure', `no QEMU node known for ${disk.target}`);
      return ctx.virsh.removeBitmap(plan.domain, disk.node, action.target);
    }
    default:
      throw new VmkeepError('failure', `not an executable scrub action: ${action.action}`);
  }
}

/**
 * Hold the results against the re-read state: an action whose checkpoint or bitmap is still there
 * is not done, whatever its command said.
 */
export function verifyScrubResults(results: readonly ScrubActionResult[], after: ScrubDomainState): ScrubActionResult[] {
  const checkpoints = new Set(after.checkpoints.map((c) => c.name));
  const bitmapsOn = (disk: string | undefined) => after.disks.find((d) => d.target === disk)?.bitmaps ?? [];
  return results.map((r) => {
    if (r.action === 'skip-checkpoint' || r.action === 'skip-bitmap') return r;
    const still: string[] = [];
    if (r.action === 'remove-bitmap') {
      if (bitmapsOn(r.disk).includes(r.target)) still.push(`bitmap ${r.target} is still on ${r.disk}`);
    } else {
      if (checkpoints.has(r.target)) still.push(`checkpoint ${r.target} is still there`);
      // libvirt's plain delete also takes the bitmaps: check those too.
      if (r.action === 'delete-checkpoint') {
        for (const d of after.disks) if (d.bitmaps.includes(r.target)) still.push(`bitmap ${r.target} is still on ${d.target}`);
      }
    }
    if (!r.done) {
      // Failed here, yet gone (another tool, or a retry inside libvirt): say so, it is not a leftover.
      return still.length === 0 && r.error !== undefined ? { ...r, error: `${r.error} (the re-read shows it gone anyway)` } : r;
    }
    return still.length === 0 ? r : { ...r, done: false, error: `the command succeeded but the re-read shows: ${still.join('; ')}` };
  });
}

/** "delete checkpoint X", "remove bitmap Y on vda": the action in words. */
export function describe(action: ScrubAction): string {
  switch (action.action) {
    case 'delete-checkpoint':
      return `delete checkpoint ${action.target}`;
    case 'delete-checkpoint-metadata':
      return `delete checkpoint ${action.target} (metadata only)`;
    case 'remove-bitmap':
      return `remove bitmap ${action.target} on ${action.disk ?? '?'}`;
    case 'skip-checkpoint':
      return `skip checkpoint ${action.target}`;
    case 'skip-bitmap':
      return `skip bitmap ${action.target} on ${action.disk ?? '?'}`;
  }
}
