/**
 * The domain's power state around a backup: --stop's shutdown and restart, and putting back a
 * domain vmkeep started paused. Each step says in vmkeep's words what it did to which domain.
 */
import type { AppContext } from '../app/context.js';
import { VmkeepError, messageOf } from '../errors.js';
import type { DomainSettings } from '../config/settings.js';
import { formatShellCommand } from '../util/shell-quote.js';

/**
 * The power changes a backup makes to its domain, owned by withPowerState: it hears about each
 * one as it happens and undoes them at the end, whatever happened to the backup.
 */
export interface PowerState {
  /** --stop / --stop-force: shut the running domain down for an offline backup. */
  stop(): Promise<void>;
  /** The plan found the domain paused by an interrupted run: shut it off, or resume a --stop one. */
  adoptLeftover(plan: { shutOffAfter: boolean; resumeAfter: boolean }): void;
  /** A shut-off domain has no QEMU to run the job: start it paused. */
  startPaused(): Promise<void>;
  /** How --stop shut it down (undefined: it was not stopped). */
  readonly stopped: 'graceful' | 'forced' | undefined;
  /** vmkeep started it (paused) and shuts it off again. */
  readonly startedByUs: boolean;
}

/**
 * Run a domain's backup with its power state owned here: what `body` changes through the
 * PowerState is put back afterwards (a --stop domain started again, one vmkeep started paused
 * shut off, an interrupted --stop run's domain resumed). Returns how --stop went, if it ran.
 */
export async function withPowerState<T>(
  ctx: AppContext,
  domain: string,
  settings: DomainSettings,
  body: (power: PowerState) => Promise<T>,
): Promise<{ value: T; stopped?: { how: 'graceful' | 'forced'; restarted: boolean } }> {
  let stopped: 'graceful' | 'forced' | undefined;
  let startedByUs = false;
  let resumeAfter = false;
  const power: PowerState = {
    stop: async () => {
      stopped = await stopForBackup(ctx, domain, settings);
    },
    adoptLeftover: (plan) => {
      startedByUs = plan.shutOffAfter;
      resumeAfter = plan.resumeAfter;
    },
    startPaused: async () => {
      await ctx.virsh.start(domain, true);
      startedByUs = true;
    },
    get stopped() {
      return stopped;
    },
    get startedByUs() {
      return startedByUs;
    },
  };
  let restarted = false;
  let value: T;
  try {
    value = await body(power);
  } finally {
    // A domain --stop shut down is resumed from the paused start: it boots once, not twice.
    if (stopped) restarted = await restartAfterStop(ctx, domain);
    else if (resumeAfter) await resumeInterruptedStop(ctx, domain);
    else if (startedByUs) await putBack(ctx, domain);
  }
  return stopped ? { value, stopped: { how: stopped, restarted } } : { value };
}

/** Shut a running domain down for --stop: graceful with a timeout, then destroy with --stop-force. */
export async function stopForBackup(ctx: AppContext, domain: string, settings: DomainSettings): Promise<'graceful' | 'forced'> {
  ctx.log.info(`${domain}: shutting it down for an offline backup (up to ${settings.stopTimeoutMs / 1000} s)`);
  try {
    await ctx.virsh.shutdown(domain);
  } catch (e) {
    ctx.log.warn(`${domain}: graceful shutdown request failed: ${messageOf(e)}`);
  }
  if (await waitForShutOff(ctx, domain, settings.stopTimeoutMs)) return 'graceful';
  if (settings.stop !== 'stop-force') {
    throw new VmkeepError(
      'failure',
      `domain ${domain} did not shut down within ${settings.stopTimeoutMs / 1000} s (does the guest answer ACPI shutdown?); it is left running and not backed up; use --stop-force to power it off, or a longer --stop-timeout`,
    );
  }
  ctx.log.warn(`${domain}: no graceful shutdown within ${settings.stopTimeoutMs / 1000} s: powering it off (--stop-force)`);
  await ctx.virsh.destroy(domain);
  if (!(await waitForShutOff(ctx, domain, 30_000))) throw new VmkeepError('failure', `domain ${domain} is still not shut off after destroy`);
  return 'forced';
}

async function waitForShutOff(ctx: AppContext, domain: string, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if ((await ctx.virsh.domainState(domain)) === 'shut off') return true;
    if (Date.now() >= until || ctx.signal.aborted) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Start a domain --stop shut down again; whatever happened to the backup. */
export async function restartAfterStop(ctx: AppContext, domain: string): Promise<boolean> {
  try {
    const state = await ctx.virsh.domainState(domain);
    if (state === 'paused') await ctx.virsh.resume(domain);
    else if (state === 'shut off') await ctx.virsh.start(domain);
    ctx.log.info(`${domain}: started again after the offline backup`);
    return true;
  } catch (e) {
    ctx.log.warn(`${domain}: could not start it again after the backup: ${messageOf(e)}; start it by hand: ${formatShellCommand(['virsh', 'start', domain])}`);
    return false;
  }
}

/** An interrupted --stop run left the domain paused: it ran before, so it runs again. */
export async function resumeInterruptedStop(ctx: AppContext, domain: string): Promise<void> {
  try {
    if ((await ctx.virsh.domainState(domain)) === 'paused') await ctx.virsh.resume(domain);
    ctx.log.info(`${domain}: resumed (an interrupted --stop run had left it paused)`);
  } catch (e) {
    ctx.log.warn(`${domain}: could not resume it after the backup: ${messageOf(e)}; resume it by hand: ${formatShellCommand(['virsh', 'resume', domain])}`);
  }
}

/**
 * Return a domain we started paused to shut off, also after a failure. Only while it is still
 * paused: someone who resumed it meanwhile is running a guest that must not be pulled.
 */
export async function putBack(ctx: AppContext, domain: string): Promise<void> {
  try {
    const state = await ctx.virsh.domainState(domain);
    if (state === 'paused') await ctx.virsh.destroy(domain);
    else if (state !== 'shut off') ctx.log.warn(`${domain}: started paused for the backup, but resumed meanwhile: left ${state}`);
  } catch (e) {
    ctx.log.warn(`${domain}: could not shut it off again after the backup: ${messageOf(e)}`);
  }
}
