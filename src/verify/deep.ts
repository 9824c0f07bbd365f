/**
 * verify --deep: restore points into a scratch folder exactly as `restore` would (same plan, same
 * virtnbdrestore sequence), run `qemu-img check` on each image, and remove the images again.
 * With virtnbdbackup 1.9.40+ (which writes adler32 `.chksum` files), also its own checksum verify.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppContext } from '../app/context.js';
import { isImageFile } from '../points/check-files.js';
import { restoreDiskImages } from '../points/execute-restore.js';
import { planRestore } from '../points/plan-restore.js';
import type { RestoreChain } from '../points/types.js';
import { CHECKSUM_VERIFY_SINCE, compareVersions } from '../points/virtnbdrestore.js';
import { buildRestoreVerifyArgv } from '../virtnbd/argv.js';
import type { VerifyProblem } from './broken-points.js';
import { messageOf } from '../errors.js';

export interface DeepPointResult {
  checkpoint: string;
  result: 'ok' | 'failed' | 'skipped';
  reason?: string;
  images: Array<{ disk: string; corruptions: number; leaks: number; checkErrors: number }>;
  durationMs: number;
}

export interface DeepChainResult {
  points: DeepPointResult[];
  /** virtnbdrestore's checksum verify: ran, not available (version), or nothing to check. */
  checksumVerify: 'ok' | 'failed' | 'unavailable' | 'no-checksums';
  problems: VerifyProblem[];
}

/** Deep-check these points of a chain (skipping ones already known broken). */
export async function deepCheckChain(
  ctx: AppContext,
  chain: RestoreChain,
  checkpoints: readonly string[],
  broken: ReadonlySet<string>,
  scratchRoot: string,
  virtnbdVersion: string | undefined,
): Promise<DeepChainResult> {
  const problems: VerifyProblem[] = [];
  const points: DeepPointResult[] = [];
  for (const checkpoint of checkpoints) {
    ctx.signal.throwIfAborted();
    if (broken.has(checkpoint)) {
      points.push({ checkpoint, result: 'skipped', reason: 'already broken by a bad file', images: [], durationMs: 0 });
      continue;
    }
    points.push(await deepCheckPoint(ctx, chain, checkpoint, scratchRoot, problems));
  }
  let checksumVerify: DeepChainResult['checksumVerify'] = 'unavailable';
  if (virtnbdVersion !== undefined && compareVersions(virtnbdVersion, CHECKSUM_VERIFY_SINCE) >= 0) {
    const hasSums = (await readdir(chain.dir)).some((n) => n.endsWith('.chksum'));
    checksumVerify = hasSums ? await checksumVerifyChain(ctx, chain, scratchRoot, problems) : 'no-checksums';
  }
  return { points, checksumVerify, problems };
}

async function deepCheckPoint(
  ctx: AppContext,
  chain: RestoreChain,
  checkpoint: string,
  scratchRoot: string,
  problems: VerifyProblem[],
): Promise<DeepPointResult> {
  const t0 = Date.now();
  const scratch = await mkdtemp(join(scratchRoot, 'point-'));
  try {
    const plan = planRestore(
      [chain],
      chain.domain,
      { selector: { kind: 'at', value: `${chain.folder}/${checkpoint}` }, disks: undefined, destination: { kind: 'scratch' } },
      ctx.now(),
    );
    const images = await restoreDiskImages(ctx, plan, (target) => join(scratch, `out-${target}`));
    const checked: DeepPointResult['images'] = [];
    let ok = true;
    for (const img of images) {
      // A point image chain is read a second time, independently of the flattening: the two must agree.
      if (img.sequence.length > 0 && img.sequence.every(isImageFile)) {
        const second = join(chain.dir, img.sequence.at(-1)!);
        if (!(await ctx.qemuImg.identical(img.path, second))) {
          ok = false;
          problems.push({
            kind: 'deep',
            checkpoint,
            message: `restored ${img.target} of ${checkpoint} differs from a second read of the chain (${img.sequence.at(-1)!})`,
          });
        }
      }
      const c = await ctx.qemuImg.check(img.path);
      checked.push({ disk: img.target, corruptions: c.corruptions, leaks: c.leaks, checkErrors: c.checkErrors });
      if (!c.ok) {
        ok = false;
        problems.push({
          kind: 'deep',
          checkpoint,
          message: `restored ${img.target} of ${checkpoint} fails qemu-img check: ${c.corruptions} corruptions, ${c.checkErrors} check errors`,
        });
      }
    }
    return { checkpoint, result: ok ? 'ok' : 'failed', images: checked, durationMs: Date.now() - t0 };
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    problems.push({ kind: 'deep', checkpoint, message: `restoring ${checkpoint} failed: ${messageOf(e)}` });
    return { checkpoint, result: 'failed', reason: messageOf(e), images: [], durationMs: Date.now() - t0 };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** virtnbdrestore --action verify (1.9.40+): the backup's own adler32 sums against the data files. */
async function checksumVerifyChain(ctx: AppContext, chain: RestoreChain, scratchRoot: string, problems: VerifyProblem[]): Promise<'ok' | 'failed'> {
  const scratch = await mkdtemp(join(scratchRoot, 'chksum-'));
  try {
    await ctx.runner.run('virtnbdrestore', buildRestoreVerifyArgv(chain.dir, join(scratch, 'verify')), {
      timeoutMs: 24 * 3_600_000,
      env: { TMPDIR: scratch },
      cwd: scratch,
      cancelSignal: ctx.signal,
      killSignal: 'SIGINT',
    });
    return 'ok';
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    problems.push({ kind: 'deep', message: `virtnbdrestore checksum verify of ${chain.folder} failed: ${messageOf(e)}` });
    return 'failed';
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
