/**
 * `vmkeep verify --from REPO`: restic's own check (with `--read-data-subset` it reads that share
 * of the data back), damaged packs traced to the restore points they hold, and vmkeep's own
 * check on a sample: the newest point of each domain restored from the repository into a
 * scratch folder and every file it needs compared with the manifest (size, sha256, stream structure).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { readManifest, requireOutputFolder } from '../repository/index.js';
import { withLocks } from '../repository/locks.js';
import { ResticClient, redactRepository, type ResticRepo } from '../restic/index.js';
import type { ResticSnapshot } from '../restic/parse.js';
import { readPointTags, type PointTags } from '../restic/tags.js';
import { checkChainFiles, describeFileProblem } from '../points/check-files.js';
import { chainDirOf } from './restore-from.js';
import { describePoint } from './run-replicate.js';
import { messageOf } from '../errors.js';
import { chainsInOutputs, followRepository, renderMarkChanges, type MarkChange } from './follow-repository.js';
import { PhaseTimer, describePhases } from '../util/phase-timer.js';

export interface VerifyFromOptions {
  repo: ResticRepo;
  /** restic's `--read-data-subset` (`10%`, `1/5`, `500M`); `100%` reads everything; undefined: structure only. */
  readDataSubset: string | undefined;
  scratchDir: string;
  /** Skip vmkeep's own sample restore (restic's check only). */
  sample: boolean;
  /** Local output folders (one per host) whose replica marks are checked against the repository and corrected. */
  outputs?: ReadonlyArray<{ host: string; output: string }>;
  lockWaitMs?: number;
}

interface PointRow {
  host: string;
  domain: string;
  id: string;
  snapshot: string;
}

function row(p: PointTags, snapshot: string): PointRow {
  return { host: p.host, domain: p.domain, id: `${p.chain}/${p.checkpoint}`, snapshot };
}

/** The newest point of each host/domain: the sample vmkeep restores and checks itself. */
export function pickSample(snapshots: readonly ResticSnapshot[]): Array<{ snapshot: ResticSnapshot; point: PointTags }> {
  const newest = new Map<string, { snapshot: ResticSnapshot; point: PointTags }>();
  for (const s of snapshots) {
    const point = readPointTags(s.tags);
    if (!point) continue;
    const key = `${point.host}/${point.domain}`;
    const seen = newest.get(key);
    if (!seen || Date.parse(s.time) > Date.parse(seen.snapshot.time)) newest.set(key, { snapshot: s, point });
  }
  return [...newest.values()];
}

export async function runVerifyFrom(ctx: AppContext, options: VerifyFromOptions): Promise<CommandResult> {
  const restic = new ResticClient(ctx.runner, options.repo);
  const repository = redactRepository(options.repo.repository);
  // Where the time went: the snapshot list, restic's check, the sample's restores and file checks, the marks.
  const phases = new PhaseTimer();
  const snapshots = await phases.time('read', () => restic.vmkeepSnapshots());
  const byId = new Map(snapshots.map((s) => [s.id, s]));
  ctx.log.info(`restic check of ${repository}${options.readDataSubset ? ` reading ${options.readDataSubset} of the data` : ''}`);
  const check = await phases.time('check', () => restic.check(options.readDataSubset));
  const affected: PointRow[] = [];
  for (const pack of check.damagedPacks) {
    for (const id of await phases.time('check', () => restic.snapshotsUsingPack(pack))) {
      const s = byId.get(id);
      const point = s ? readPointTags(s.tags) : undefined;
      if (point && !affected.some((a) => a.snapshot === id)) affected.push(row(point, id));
    }
  }
  const sample: Array<PointRow & { ok: boolean; problems: string[] }> = [];
  if (options.sample) {
    for (const { snapshot, point } of pickSample(snapshots)) {
      if (ctx.signal.aborted) break;
      sample.push({ ...row(point, snapshot.id), ...(await checkSnapshot(ctx, restic, snapshot, point, options.scratchDir, phases)) });
    }
  }
  const marks = options.outputs
    ? await phases.time('manifest', () => correctMarks(ctx, options.outputs!, repository, new Set(snapshots.map((s) => s.id)), options.lockWaitMs ?? 0))
    : undefined;
  ctx.log.debug(`verify ${repository}: time went to ${describePhases(phases.list())}`);
  const failedSample = sample.filter((s) => !s.ok);
  const ok = check.ok && failedSample.length === 0;
  const document = {
    repository,
    ok,
    restic: { ok: check.ok, readDataSubset: options.readDataSubset ?? null, damagedPacks: check.damagedPacks },
    affectedPoints: affected,
    sample,
    marksCorrected: marks?.map((m) => ({ host: m.host, domain: m.domain, id: `${m.chain}/${m.checkpoint}`, snapshot: m.snapshot, change: m.change })) ?? null,
    ...(check.ok ? {} : { resticOutput: check.output.trim().split('\n').slice(-20) }),
    phases: phases.list(),
  };
  const lines = [`verify ${repository}: ${ok ? 'ok' : 'FAILED'}`];
  lines.push(
    `  restic check${options.readDataSubset ? ` (read ${options.readDataSubset})` : ''}: ${check.ok ? 'ok' : `errors${check.damagedPacks.length > 0 ? `, damaged packs ${check.damagedPacks.map((p) => p.slice(0, 8)).join(', ')}` : ''}`}`,
  );
  if (!check.ok && affected.length === 0) lines.push('  restic reported errors that vmkeep could not trace to restore points (see --json resticOutput)');
  for (const a of affected) lines.push(`  damaged: ${a.host}/${a.domain} ${a.id} (snapshot ${a.snapshot.slice(0, 8)}) would not restore`);
  for (const s of sample) lines.push(`  sample ${s.host}/${s.domain} ${s.id}: ${s.ok ? 'restored and matches its manifest' : s.problems.join('; ')}`);
  if (marks === undefined) lines.push('  replica marks: not checked (give --output DIR to check and correct the local marks against the repository)');
  else if (marks.length === 0) lines.push(`  replica marks in ${options.outputs!.map((o) => o.output).join(', ')}: agree with the repository`);
  return { document, text: `${lines.join('\n')}\n${marks ? renderMarkChanges(marks, repository) : ''}`, outcome: ok ? 'ok' : 'failure' };
}

/** Under each output folder's lock (manifests are written): the marks follow the repository's snapshot list. */
async function correctMarks(
  ctx: AppContext,
  outputs: ReadonlyArray<{ host: string; output: string }>,
  repository: string,
  held: ReadonlySet<string>,
  lockWaitMs: number,
): Promise<MarkChange[]> {
  // A typo or an unmounted disk must not read as "no marks to check".
  for (const o of outputs) await requireOutputFolder(o.output);
  const locks = { output: outputs.map((o) => o.output), mode: 'write', waitMs: lockWaitMs } as const;
  return withLocks(ctx, locks, async () => followRepository(ctx, await chainsInOutputs(outputs), repository, held));
}

/** Restore one snapshot into scratch and check the files of its point against the manifest. */
async function checkSnapshot(
  ctx: AppContext,
  restic: ResticClient,
  snapshot: ResticSnapshot,
  point: PointTags,
  scratchDir: string,
  phases: PhaseTimer,
): Promise<{ ok: boolean; problems: string[] }> {
  const scratch = await mkdtemp(join(scratchDir, 'vmkeep-verify-repo-'));
  try {
    ctx.log.info(`${describePoint(point)}: restoring snapshot ${snapshot.short_id ?? snapshot.id} to check it`);
    await phases.time('restore', () => restic.restore(snapshot.id, scratch, ctx.signal));
    const chainDir = join(scratch, chainDirOf(snapshot));
    const manifest = await readManifest(chainDir);
    if (!manifest) return { ok: false, problems: ['the snapshot holds no manifest'] };
    const upTo = manifest.points.findIndex((p) => p.checkpoint === point.checkpoint);
    if (upTo < 0) return { ok: false, problems: [`the manifest in the snapshot has no point ${point.checkpoint}`] };
    const files = manifest.points.slice(0, upTo + 1).flatMap((p) => p.files);
    const problems = await phases.time('check', () => checkChainFiles(chainDir, files, { structure: true, signal: ctx.signal }));
    return { ok: problems.length === 0, problems: problems.map(describeFileProblem) };
  } catch (e) {
    return { ok: false, problems: [`could not restore it: ${messageOf(e)}`] };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
