/** `vmkeep protect` / `unprotect`: s3snapshot's protected flag on a chain or a point, in the manifest. */
import { join } from 'node:path';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { readManifest, writeManifest } from '../repository/manifest.js';
import { domainDir, listChains } from '../repository/chains.js';
import { VmkeepError, usageError } from '../errors.js';
import { acquireLock } from '../util/lock.js';

export interface ProtectOptions {
  output: string;
  domain: string;
  /** `<chain folder>` or `<chain folder>/<checkpoint>`. */
  target: string;
  protect: boolean;
  lockWaitMs: number;
}

export async function runProtect(ctx: AppContext, options: ProtectOptions): Promise<CommandResult> {
  const [folder, checkpoint, extra] = options.target.split('/');
  if (!folder || extra !== undefined) throw usageError(`name a chain (FOLDER) or a point (FOLDER/CHECKPOINT), got ${JSON.stringify(options.target)}`);
  const chains = await listChains(options.output, options.domain);
  const chain = chains.find((c) => c.folder === folder);
  if (!chain) {
    const known = chains.map((c) => c.folder).join(', ') || 'none';
    throw usageError(`no chain ${JSON.stringify(folder)} for ${options.domain} in ${options.output} (chains: ${known})`);
  }
  if (chain.legacy) throw new VmkeepError('failure', `${folder} is a VMSnap folder without a vmkeep manifest: it cannot carry a protected flag`);
  const lock = await acquireLock(join(options.output, '.vmkeep.lock'), { waitMs: options.lockWaitMs, what: `output folder ${options.output}`, signal: ctx.signal });
  try {
    const dir = join(domainDir(options.output, options.domain), folder);
    const manifest = await readManifest(dir);
    if (!manifest) throw new VmkeepError('failure', `${dir} has no manifest`);
    const time = ctx.now().toISOString();
    const verb = options.protect ? 'protected' : 'unprotected';
    let changed;
    if (checkpoint === undefined) {
      changed = { ...manifest, protected: options.protect };
    } else {
      if (!manifest.points.some((p) => p.checkpoint === checkpoint)) {
        throw usageError(`no point ${checkpoint} in ${folder} (points: ${manifest.points.map((p) => p.checkpoint).join(', ')})`);
      }
      changed = { ...manifest, points: manifest.points.map((p) => (p.checkpoint === checkpoint ? { ...p, protected: options.protect } : p)) };
    }
    changed = {
      ...changed,
      updatedAt: time,
      events: [...changed.events, { time, kind: verb, message: `${verb} ${options.target}` } as const],
    };
    await writeManifest(dir, changed);
    return {
      document: { domain: options.domain, target: options.target, protected: options.protect },
      text: `${options.domain}: ${options.target} ${verb}`,
      outcome: 'ok',
    };
  } finally {
    lock.release();
  }
}
