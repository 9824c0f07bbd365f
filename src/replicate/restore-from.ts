/**
 * `vmkeep restore --from REPO`: pick the point's snapshot from the repository's list, restore its
 * files with restic into a scratch folder, then restore from there as from a local folder (every
 * needed file is checked against the manifest's size and sha256 before anything is written).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { usageError, VmkeepError } from '../errors.js';
import { MANIFEST_FILE } from '../repository/index.js';
import { ResticClient, redactRepository, type ResticRepo } from '../restic/index.js';
import { readPointTags, type PointTags } from '../restic/tags.js';
import type { ResticSnapshot } from '../restic/parse.js';
import { findRestorePoint, type PointSelector, type RestorePointRef } from '../points/points.js';
import { assertEmptyTarget } from '../points/execute-restore.js';
import type { RestoreOptions, RunRestore } from '../points/restore-options.js';
import { PhaseTimer, describePhases, type PhaseTime } from '../util/phase-timer.js';

export interface RestoreFromOptions {
  repo: ResticRepo;
  /** `domain` or `host/domain`. */
  domain: string;
  selector: PointSelector;
  /** Where the scratch folder goes (default /var/tmp: chains can be large). */
  scratchDir: string;
  /** The local restore, minus where the backups are (the scratch copy) and which point. */
  restore: Omit<RestoreOptions, 'output' | 'selector' | 'domain'>;
}

export interface RepoPoint {
  snapshot: ResticSnapshot;
  point: PointTags;
}

/** The repository's points of one domain (`host/domain` when hosts share a name), as restore points. */
export function pointsOfDomain(snapshots: readonly ResticSnapshot[], address: string): { host: string; domain: string; points: RepoPoint[] } {
  const slash = address.indexOf('/');
  const host = slash < 0 ? undefined : address.slice(0, slash);
  const domain = slash < 0 ? address : address.slice(slash + 1);
  const all = snapshots.flatMap((s) => {
    const point = readPointTags(s.tags);
    return point && point.domain === domain && (host === undefined || point.host === host) ? [{ snapshot: s, point }] : [];
  });
  const hosts = [...new Set(all.map((p) => p.point.host))];
  if (hosts.length > 1) throw usageError(`domain ${domain} is in the repository from hosts ${hosts.join(', ')}: name one as --domain HOST/${domain}`);
  if (all.length === 0) throw usageError(`the repository has no restore points of ${address}`);
  return { host: hosts[0]!, domain, points: all };
}

/** Snapshot points as restore point refs, so the local point rules (`--at`, `--at-time`, latest) apply unchanged. */
export function asRestorePoints(domain: string, points: readonly RepoPoint[]): RestorePointRef[] {
  return points.map((p) => ({
    id: `${p.point.chain}/${p.point.checkpoint}`,
    domain,
    chain: p.point.chain,
    checkpoint: p.point.checkpoint,
    index: 0,
    time: new Date(p.snapshot.time).toISOString(),
    level: 'full',
    state: 'complete',
    protected: false,
    legacy: false,
  }));
}

/** The chain folder a point's snapshot holds (where its manifest was). */
export function chainDirOf(snapshot: ResticSnapshot): string {
  const manifest = snapshot.paths.find((p) => basename(p) === MANIFEST_FILE);
  if (!manifest) throw new VmkeepError('failure', `snapshot ${snapshot.short_id ?? snapshot.id} holds no ${MANIFEST_FILE}: not made by vmkeep replicate`);
  return dirname(manifest);
}

/** `restoreLocal` is the restore command, passed in by the CLI (command folders don't import each other). */
export async function runRestoreFrom(ctx: AppContext, options: RestoreFromOptions, restoreLocal: RunRestore): Promise<CommandResult> {
  const restic = new ResticClient(ctx.runner, options.repo);
  // Where the time went: the snapshot list, restic's restore into scratch, then the local restore's own phases.
  const phases = new PhaseTimer();
  const { host, domain, points } = pointsOfDomain(await phases.time('read', () => restic.vmkeepSnapshots()), options.domain);
  const chosen = findRestorePoint(asRestorePoints(domain, points), options.selector, `${host}/${domain}`);
  const repoPoint = points.find((p) => `${p.point.chain}/${p.point.checkpoint}` === chosen.id)!;
  const from = { repository: redactRepository(options.repo.repository), snapshot: repoPoint.snapshot.id, host, domain, point: chosen.id };
  // Refuse a bad --to before restic copies the whole chain into scratch.
  if (options.restore.mode.kind === 'directory') await assertEmptyTarget(options.restore.mode.dir);
  if (options.restore.dryRun) {
    return {
      document: { dryRun: true, from },
      text: `would restore ${host}/${domain} ${chosen.id} from snapshot ${repoPoint.snapshot.short_id ?? repoPoint.snapshot.id} of ${from.repository}, check it against its manifest, then restore it as from a local folder\n`,
      outcome: 'ok',
    };
  }
  const scratch = await mkdtemp(join(options.scratchDir, 'vmkeep-from-repo-'));
  try {
    ctx.log.info(`${host}/${domain}: restoring ${chosen.id} from snapshot ${repoPoint.snapshot.short_id ?? repoPoint.snapshot.id} into ${scratch}`);
    await phases.time('restore', () => restic.restore(repoPoint.snapshot.id, scratch, ctx.signal));
    // restic restores absolute paths under the target: SCRATCH/<original output>/<domain>/<chain>/.
    const chainDir = join(scratch, chainDirOf(repoPoint.snapshot));
    const output = dirname(dirname(chainDir));
    const storedDomain = basename(dirname(chainDir));
    const result = await restoreLocal(ctx, { ...options.restore, domain: storedDomain, output, selector: { kind: 'at', value: chosen.id } });
    const doc = result.document as Record<string, unknown> & { phases?: PhaseTime[] };
    for (const p of doc.phases ?? []) phases.add(p.name, p.ms);
    ctx.log.debug(`${host}/${domain}: restore from ${from.repository}: time went to ${describePhases(phases.list())}`);
    return { ...result, document: { ...doc, from, phases: phases.list() } };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
