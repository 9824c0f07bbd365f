/**
 * Carry out an in-place restore plan (steps 2-8 of plan-in-place.ts; the caller has run the
 * "before-restore" backup and holds the output and domain locks).
 *
 * Fault points (ctx.faults, set only by tests): restore-disk (after the first disk is restored),
 * stop-domain, swap-disk (after the first disk is swapped), start-domain.
 */
import { chmod, chown, rename, rm, stat } from 'node:fs/promises';
import type { AppContext } from '../app/context.js';
import type { DomainState } from '../domain/types.js';
import { VmkeepError, messageOf } from '../errors.js';
import { executeScrubPlan } from '../domain/execute-scrub.js';
import { planScrub } from '../domain/plan-scrub.js';
import { readScrubState } from '../domain/read-scrub-state.js';
import { formatShellCommand } from '../util/shell-quote.js';
import { checkPlanFiles, restoreDiskImages } from '../points/execute-restore.js';
import type { InPlacePlan } from './plan-in-place.js';
import { pathExists } from '../util/path-exists.js';

export type InPlaceStep = 'restore-disk' | 'stop-domain' | 'swap-disk' | 'start-domain';

export interface InPlaceResult {
  disks: Array<{ target: string; path: string; replacedPath: string | undefined; sequence: string[] }>;
  state: DomainState;
  scrubbed: string[];
  warnings: string[];
  checkedFiles: number;
  durationMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run the plan; on failure in the middle, put the originals back and the domain as it was. */
export async function executeInPlace(ctx: AppContext, plan: InPlacePlan): Promise<InPlaceResult> {
  const t0 = Date.now();
  const hook = (step: InPlaceStep) => ctx.faults?.after(step);
  const domain = plan.domain;

  for (const d of plan.disks) {
    for (const p of [d.tempDir, d.replacedPath]) {
      if (await pathExists(p)) throw new VmkeepError('failure', `${p} already exists: refusing to overwrite it (left by an earlier restore?)`);
    }
  }
  const checkedFiles = await checkPlanFiles(ctx, plan.restore);

  let step = 'restoring the disks';
  const restoredAt = new Map<string, string>();
  const swapped: typeof plan.disks = [];
  // Set before the first call that may change the domain's state, so a failure in it is rolled back too.
  let domainTouched = false;
  try {
    const images = await restoreDiskImages(ctx, plan.restore, (target) => plan.disks.find((d) => d.target === target)!.tempDir);
    for (const i of images) restoredAt.set(i.target, i.path);
    hook('restore-disk');

    if (plan.stop) {
      step = `stopping ${domain}`;
      domainTouched = true;
      await stopDomain(ctx, domain, plan.wasState, plan.shutdownTimeoutMs);
      hook('stop-domain');
    }

    for (const d of plan.disks) {
      step = `swapping ${d.target}`;
      const restored = restoredAt.get(d.target)!;
      // libvirt hands the image back to its owner when the domain stops: copy that, not QEMU's.
      const original = await stat(d.path);
      await chown(restored, original.uid, original.gid);
      await chmod(restored, original.mode & 0o7777);
      await rename(d.path, d.replacedPath);
      swapped.push(d);
      await rename(restored, d.path);
      ctx.log.info(`${domain}: ${d.target}: ${d.path} restored (the previous image is ${d.replacedPath})`);
      hook('swap-disk');
    }

    if (plan.restart !== 'none') {
      step = `starting ${domain}`;
      domainTouched = true;
      await ctx.virsh.start(domain, plan.restart === 'start-paused');
      hook('start-domain');
    }
  } catch (error) {
    const undo = await rollBack(ctx, plan, swapped, domainTouched);
    for (const d of plan.disks) await rm(d.tempDir, { recursive: true, force: true }).catch(() => undefined);
    const cause = messageOf(error);
    const message =
      undo.failures.length === 0
        ? `in-place restore of ${domain} failed while ${step}: ${cause}; rolled back: ${undo.done.join(', ') || 'nothing had changed yet'}`
        : `in-place restore of ${domain} failed while ${step}: ${cause}; ROLLBACK INCOMPLETE: ${undo.failures.join('; ')} (done: ${undo.done.join(', ') || 'nothing'})`;
    throw new VmkeepError(ctx.signal.aborted ? 'interrupted' : 'failure', message, { cause: error, detail: undo.failures.join('\n') || undefined });
  }

  for (const d of plan.disks) await rm(d.tempDir, { recursive: true, force: true }).catch(() => undefined);
  const warnings: string[] = [];
  const scrubbed = await scrubCheckpoints(ctx, domain, warnings);
  for (const c of plan.foreign)
    warnings.push(
      `checkpoint ${c} is not vmkeep's and was left; its bitmaps are gone with the replaced images (${formatShellCommand(['vmkeep', 'scrub', '--domains', domain, '--scrubType', 'checkpoint', '--checkpointName', c, '--force'])} removes it)`,
    );
  if (plan.discardOld) {
    for (const d of plan.disks) {
      await rm(d.replacedPath, { force: true }).catch((e: unknown) => warnings.push(`could not delete ${d.replacedPath}: ${messageOf(e)}`));
    }
  }
  return {
    disks: plan.disks.map((d) => ({
      target: d.target,
      path: d.path,
      replacedPath: plan.discardOld ? undefined : d.replacedPath,
      sequence: plan.restore.disks.find((x) => x.target === d.target)!.sequence,
    })),
    state: await ctx.virsh.domainState(domain),
    scrubbed,
    warnings,
    checkedFiles,
    durationMs: Date.now() - t0,
  };
}

/** Put every swapped original back and the domain in its previous state; says what it did. */
async function rollBack(
  ctx: AppContext,
  plan: InPlacePlan,
  swapped: InPlacePlan['disks'],
  touchedDomain: boolean,
): Promise<{ done: string[]; failures: string[] }> {
  const done: string[] = [];
  const failures: string[] = [];
  const domain = plan.domain;
  if (touchedDomain && swapped.length > 0) {
    // The domain may run on restored images already (a failure after the start): stop it first.
    try {
      const now = await ctx.virsh.domainState(domain);
      if (now !== 'shut off') {
        await ctx.virsh.destroy(domain);
        await waitForState(ctx, domain, 'shut off', 30_000);
      }
    } catch (e) {
      failures.push(`could not stop ${domain} to put its disks back: ${messageOf(e)}`);
      return { done, failures };
    }
  }
  for (const d of [...swapped].reverse()) {
    try {
      // rename() replaces the restored image (if it got there) with the original in one step.
      await rename(d.replacedPath, d.path);
      done.push(`original ${d.target} image back at ${d.path}`);
    } catch (e) {
      failures.push(`could not put ${d.replacedPath} back to ${d.path}: ${messageOf(e)}`);
    }
  }
  if (touchedDomain && (plan.wasState === 'running' || plan.wasState === 'paused')) {
    try {
      const now = await ctx.virsh.domainState(domain);
      if (now === 'shut off') {
        await ctx.virsh.start(domain, plan.wasState === 'paused');
        done.push(`${domain} started again${plan.wasState === 'paused' ? ' (paused)' : ''}`);
      } else {
        done.push(`${domain} is ${now}`);
      }
    } catch (e) {
      failures.push(`could not start ${domain} again: ${messageOf(e)}`);
    }
  }
  return { done, failures };
}

/** How often a shutdown wait says it is still waiting. */
const SHUTDOWN_REPORT_MS = 10_000;

/**
 * Shut the domain down: graceful first (running only), destroy after the timeout; a timeout of 0
 * destroys at once. The wait is reported every 10 s: a guest without ACPI support or a guest
 * agent never acts on the request, and the admin should see why nothing happens.
 */
async function stopDomain(ctx: AppContext, domain: string, state: DomainState, timeoutMs: number): Promise<void> {
  if (state === 'running' && timeoutMs > 0) {
    const total = Math.round(timeoutMs / 1000);
    ctx.log.info(`${domain}: shutting down (up to ${total} s, then destroy)`);
    try {
      await ctx.virsh.shutdown(domain);
      const started = Date.now();
      let nextReport = started + SHUTDOWN_REPORT_MS;
      const done = await waitForState(ctx, domain, 'shut off', timeoutMs, () => {
        if (Date.now() < nextReport) return;
        nextReport += SHUTDOWN_REPORT_MS;
        const waited = Math.round((Date.now() - started) / 1000);
        ctx.log.info(
          `${domain}: still waiting for the guest to shut down (${waited} s of ${total} s; a guest without ACPI or a guest agent ignores the request and is destroyed at ${total} s)`,
        );
      });
      if (done) return;
      ctx.log.warn(`${domain}: the guest did not shut down within ${total} s`);
    } catch (e) {
      ctx.log.warn(`${domain}: graceful shutdown failed: ${messageOf(e)}`);
    }
  } else if (state === 'running') {
    ctx.log.info(`${domain}: --shutdown-timeout 0: destroying it at once, without a graceful shutdown`);
  }
  if ((await ctx.virsh.domainState(domain)) !== 'shut off') {
    ctx.log.info(`${domain}: destroying`);
    await ctx.virsh.destroy(domain);
  }
  if (!(await waitForState(ctx, domain, 'shut off', 30_000))) {
    throw new VmkeepError('failure', `${domain} did not shut off`);
  }
}

async function waitForState(ctx: AppContext, domain: string, want: DomainState, timeoutMs: number, onTick?: () => void): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await ctx.virsh.domainState(domain)) === want) return true;
    if (Date.now() >= deadline) return false;
    onTick?.();
    await sleep(250);
  }
}

/**
 * Delete the domain's vmkeep checkpoints and bitmaps through scrub's planner: the restored images
 * have no bitmaps, so libvirt's plain delete fails ("bitmap not found in backing chain") and the
 * plan drops the metadata only. A failure here is a warning: the next backup starts a new full
 * chain either way (planBackup sees the missing bitmaps).
 */
async function scrubCheckpoints(ctx: AppContext, domain: string, warnings: string[]): Promise<string[]> {
  try {
    const state = await readScrubState(ctx, domain);
    const plan = planScrub(state, { scrubType: 'both', force: false });
    const results = await executeScrubPlan(ctx, plan, state);
    for (const r of results) if (r.error) warnings.push(`scrub: ${r.action} ${r.target}: ${r.error}`);
    return results.filter((r) => r.done && r.action.startsWith('delete-checkpoint')).map((r) => r.target);
  } catch (e) {
    warnings.push(`could not delete the domain's checkpoints: ${messageOf(e)}; the next backup starts a new full chain anyway`);
    return [];
  }
}
