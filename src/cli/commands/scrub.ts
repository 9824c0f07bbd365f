import { resolveDomains } from '../../domain/resolve-domains.js';
import { usageError } from '../../errors.js';
import { runScrub } from '../../scrub/index.js';
import { SCRUB_TYPES, type ScrubType } from '../../scrub/index.js';
import { acquireLock, domainLockDir, domainLockFile, type HeldLock } from '../../util/lock.js';
import type { AppContext } from '../../app/context.js';
import type { CommandResult } from '../../app/command-result.js';
import { parseLockWait } from '../parse-values.js';
import { defineCommand } from './types.js';

export interface ScrubCliOptions {
  domains: readonly string[] | undefined;
  scrubType: ScrubType;
  checkpointName: string | undefined;
  dryRun: boolean;
  force: boolean;
  lockWaitMs: number;
  env: NodeJS.ProcessEnv;
}

/** Resolve --domains, hold each domain's lock (a backup must not run meanwhile), then scrub. */
async function runScrubCommand(ctx: AppContext, options: ScrubCliOptions): Promise<CommandResult> {
  const selection = await resolveDomains(ctx, options.domains);
  const locks: HeldLock[] = [];
  try {
    if (!options.dryRun) {
      for (const d of selection.selected) {
        locks.push(await acquireLock(domainLockFile(domainLockDir(options.env), d), { waitMs: options.lockWaitMs, what: `domain ${d}`, signal: ctx.signal }));
      }
    }
    const result = await runScrub(ctx, {
      domains: selection.selected,
      scrubType: options.scrubType,
      ...(options.checkpointName === undefined ? {} : { checkpointName: options.checkpointName }),
      dryRun: options.dryRun,
      force: options.force,
    });
    const missing = [...selection.unknown, ...selection.emptyPatterns];
    if (missing.length === 0) return result;
    const document = { ...(result.document as Record<string, unknown>) };
    for (const m of missing) document[m] = { state: 'unknown', ok: false, error: 'unknown domain', actions: [], remaining: null, dryRun: options.dryRun };
    const anyOk = Object.values(document).some((r) => (r as { ok?: boolean }).ok === true);
    return {
      document,
      text: `${result.text}${missing.map((m) => `${m}: error: unknown domain`).join('\n')}\n`,
      outcome: result.outcome === 'interrupted' ? 'interrupted' : anyOk ? 'partial' : 'failure',
    };
  } finally {
    for (const l of locks.reverse()) l.release();
  }
}

export const scrubCommand = defineCommand<ScrubCliOptions>({
  name: 'scrub',
  describe: "remove vmkeep's checkpoints and/or bitmaps from domains (running or shut off)",
  builder: (y) =>
    y
      .option('scrubType', { type: 'string', describe: `what to remove: ${SCRUB_TYPES.join(', ')}` })
      .option('checkpointName', { type: 'string', describe: 'only this checkpoint (and its bitmap)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print the plan and change nothing' })
      .option('force', { type: 'boolean', default: false, describe: 'also remove names vmkeep does not own' })
      .option('lock-wait', { type: 'string', default: '0', describe: 'seconds to wait for a running backup of the domain' }),
  buildOptions: (argv, global) => {
    const t = argv['scrubType'];
    if (t === undefined) throw usageError(`scrub needs --scrubType (${SCRUB_TYPES.join(', ')})`);
    if (!(SCRUB_TYPES as readonly string[]).includes(String(t))) throw usageError(`--scrubType must be one of ${SCRUB_TYPES.join(', ')}, got ${JSON.stringify(t)}`);
    if (global.domains === undefined) throw usageError("scrub needs --domains (use --domains '*' for every domain)");
    const cp = argv['checkpointName'];
    return Object.freeze({
      domains: global.domains,
      scrubType: String(t) as ScrubType,
      checkpointName: cp === undefined ? undefined : String(cp),
      dryRun: argv['dry-run'] === true,
      force: argv['force'] === true,
      lockWaitMs: parseLockWait(argv['lock-wait']),
      env: process.env,
    });
  },
  run: (ctx, options) => runScrubCommand(ctx, options),
});
