/** Run one command on every host of the run, each with its own context; a failed host is one item. */
import { join } from 'node:path';
import pLimit from 'p-limit';
import { createContext, createLockService, type AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { isRemoteUri, patternsForHost, uriHost, type HostSpec } from '../app/hosts.js';
import { ToolError, messageOf } from '../errors.js';
import type { Logger } from '../util/log.js';

export { checkHostPrefixes } from '../app/hosts.js';

export interface HostOutcome {
  host: HostSpec;
  /** The command's result on this host; absent when the host failed as a whole. */
  result?: CommandResult;
  /** Why the host failed as a whole (unreachable libvirtd, locked output folder...), in vmkeep's words. */
  error?: string;
}

/** Hosts queried at once: each is mostly waiting on its own ssh/libvirt connection. */
export const HOST_CONCURRENCY = 8;

export { hostOutputDir } from '../app/hosts.js';

/**
 * Domain locks are per domain name; two hosts may both have a `web`. A remote host's locks live
 * in a sub-folder named after the URI's host part, so the same host locks the same files
 * whether it is backed up alone or with others.
 */
export function withHostLocks(ctx: AppContext, host: HostSpec): AppContext {
  if (!isRemoteUri(host.uri)) return ctx;
  return { ...ctx, locks: createLockService(join(ctx.locks.domainDir, `host-${encodeURIComponent(uriHost(host.uri)!)}`)) };
}

function prefixed(log: Logger, prefix: string): Logger {
  return {
    info: (m) => log.info(`${prefix}: ${m}`),
    warn: (m) => log.warn(`${prefix}: ${m}`),
    debug: (m) => log.debug(`${prefix}: ${m}`),
  };
}

/** A context for one host: its own virsh client (URI); everything else is the run's. */
export function createHostContext(ctx: AppContext, host: HostSpec): AppContext {
  const hostCtx = createContext({
    runner: ctx.runner,
    uri: host.uri,
    now: ctx.now,
    log: prefixed(ctx.log, host.name),
    interactive: ctx.interactive,
    signal: ctx.signal,
    env: ctx.env,
    locks: ctx.locks,
  });
  return withHostLocks(hostCtx, host);
}

/**
 * Run `perHost` on every host that the `--domains` patterns touch (`host/pattern` only on that
 * host), at most HOST_CONCURRENCY at once. A throw becomes that host's `error`; nothing else stops.
 */
export async function runAcrossHosts(
  ctx: AppContext,
  hosts: readonly HostSpec[],
  domains: readonly string[] | undefined,
  perHost: (hostCtx: AppContext, host: HostSpec, domains: readonly string[] | undefined) => Promise<CommandResult>,
): Promise<HostOutcome[]> {
  const limit = pLimit(HOST_CONCURRENCY);
  const work = hosts.map((host) => ({ host, patterns: patternsForHost(domains, host.name) })).filter((w) => w.patterns === undefined || w.patterns.length > 0);
  return Promise.all(
    work.map(({ host, patterns }) =>
      limit(async (): Promise<HostOutcome> => {
        if (ctx.signal.aborted) return { host, error: `host ${host.name}: not started: interrupted` };
        try {
          return { host, result: await perHost(createHostContext(ctx, host), host, patterns) };
        } catch (e) {
          const reason = describeHostFailure(e);
          if (e instanceof Error && e.message !== reason) ctx.log.debug(`host ${host.name}: ${e.message}`);
          ctx.log.warn(`host ${host.name} (${host.uri}) failed: ${reason}`);
          return { host, error: `host ${host.name} (${host.uri}): ${reason}` };
        }
      }),
    ),
  );
}

/** A host's failure in vmkeep's words: a virsh that cannot connect means the host is unreachable. */
export function describeHostFailure(e: unknown): string {
  if (
    e instanceof ToolError &&
    e.tool === 'virsh' &&
    /failed to connect|Cannot recv data|Connection refused|No route to host|Could not resolve|Permission denied \(publickey|timed out|Host key verification failed/i.test(
      `${e.stderr}${e.timedOut ? ' timed out' : ''}`,
    )
  ) {
    const last =
      e.stderr
        .split('\n')
        .map((l) => l.replace(/^error:\s*/, '').trim())
        .filter(Boolean)
        .at(-1) ?? (e.timedOut ? 'no answer' : 'no reason given');
    return `unreachable: libvirt could not be reached (${last}); check the URI, the ssh key and that libvirtd runs there`;
  }
  return messageOf(e);
}

/**
 * A command's options for one host: the host's own domain names (`--domains h1/web` becomes
 * `web` on h1), in the plain list and in the tag selection built from it alike.
 */
export function optionsForHost<O extends { domains: readonly string[] | undefined; selection?: { domains: readonly string[] | undefined } | undefined }>(
  options: O,
  domains: readonly string[] | undefined,
): O {
  return { ...options, domains, ...(options.selection ? { selection: { ...options.selection, domains, emptyIsFine: true } } : {}) };
}
