/**
 * `vmkeep replicate`: read the repository's snapshot list once, plan, send each missing restore
 * point as one restic snapshot, record each in its chain's manifest.
 */
import { PhaseTimer, describePhases, type PhaseTime } from '../util/phase-timer.js';
import { performance } from 'node:perf_hooks';
import prettyBytes from 'pretty-bytes';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { VmkeepError, messageOf } from '../errors.js';
import { recordReplica } from '../repository/index.js';
import { withLocks } from '../repository/locks.js';
import { ResticClient, pointTags, readPointTags, redactRepository, type ResticRepo } from '../restic/index.js';
import type { ResticSnapshot } from '../restic/parse.js';
import type { PointTags } from '../restic/tags.js';
import type { RetentionPolicy } from '../retention/types.js';
import { planRepoPrune, type RepoPrunePlan } from './plan-repo-prune.js';
import { planReplication, samePoint, type ChainsOption, type ExistingSnapshot, type ReplicationPlan } from './plan-replicate.js';
import { readSourceChains, type ReplicationSource } from './read-sources.js';
import { followRepository, renderMarkChanges } from './follow-repository.js';

export interface ReplicateOptions {
  sources: readonly ReplicationSource[];
  repo: ResticRepo;
  chains: ChainsOption;
  /** Create the repository when it does not exist yet. */
  init: boolean;
  dryRun: boolean;
  lockWaitMs: number;
  /** --prune: repository-side retention after sending (whole chains, then `restic prune`). */
  prune?: RetentionPolicy | undefined;
}

export interface SentPoint {
  host: string;
  domain: string;
  id: string;
  snapshot: string;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  bytesAdded: number;
  durationMs: number;
  /** Where this point's time went: restic's backup, the manifest's replica record. */
  phases: PhaseTime[];
}

/** `host/domain chain/checkpoint`, how points are named in messages. */
export function describePoint(p: PointTags): string {
  return `${p.host}/${p.domain} ${p.chain}/${p.checkpoint}`;
}

/** The repository's vmkeep snapshots, each with the point its tags name. */
export function existingPoints(snapshots: readonly ResticSnapshot[]): ExistingSnapshot[] {
  return snapshots.flatMap((s) => {
    const point = readPointTags(s.tags);
    return point ? [{ id: s.id, point, time: s.time }] : [];
  });
}

export async function runReplicate(ctx: AppContext, options: ReplicateOptions): Promise<CommandResult> {
  const restic = new ResticClient(ctx.runner, options.repo);
  const repository = redactRepository(options.repo.repository);
  // The run's own phases; each point sent has its own (SentPoint.phases).
  const phases = new PhaseTimer();
  // Manifests are written: no backup or prune may change the chains meanwhile.
  const locks = { output: options.sources.map((s) => s.output), mode: options.dryRun ? 'none' : 'write', waitMs: options.lockWaitMs } as const;
  const asked = performance.now();
  return withLocks(ctx, locks, async () => {
    phases.add('lock', performance.now() - asked);
    const read = await phases.time('read', () => Promise.all(options.sources.map((s) => readSourceChains(ctx, s))));
    const filteredOut = read.flatMap((r) => r.filteredOut);
    for (const f of filteredOut) ctx.log.info(`${f.domain}: left out: ${f.why}`);
    const chains = read.flatMap((r) => r.chains);
    const notFound = read.flatMap((r, i) => r.notFound.map((n) => `${options.sources[i]!.host}/${n}`));
    if (options.init && !options.dryRun && (await restic.initIfMissing()) === 'created') ctx.log.info(`created restic repository ${repository}`);
    // The snapshot list, once per run: everything else is decided from it.
    const existing = existingPoints(await phases.time('read', () => restic.vmkeepSnapshots()));
    const plan = await phases.time('plan', () => planReplication(chains, existing, { chains: options.chains, repository }));
    for (const s of plan.skipped)
      ctx.log.info(`${s.point.host}/${s.point.domain} ${s.point.chain}${'checkpoint' in s.point ? `/${s.point.checkpoint}` : ''}: skipped: ${s.reason}`);
    if (options.dryRun) {
      const after = [...existing, ...plan.send.map((s) => ({ id: '(new)', point: s.point, time: new Date(s.time).toISOString() }))];
      const prune = options.prune ? planRepoPrune(after, options.prune, ctx.now()) : undefined;
      return {
        document: {
          ...documentOf(repository, true, plan, [], notFound),
          ...(filteredOut.length > 0 ? { filteredOut } : {}),
          ...(prune ? { prune: pruneDocument(prune) } : {}),
        },
        text: renderPlan(repository, plan) + (prune ? renderPrune(prune, true) : ''),
        outcome: notFound.length > 0 ? 'partial' : 'ok',
      };
    }
    const { sent, made } = await phases.time('send', () => sendPoints(ctx, restic, repository, plan, existing));
    const failed = plan.send.length - sent.length;
    let prune: RepoPrunePlan | undefined;
    let forgotten = new Set<string>();
    // Retention only after a clean send: a chain must not lose its copy while its newer points failed to arrive.
    if (options.prune && failed === 0 && !ctx.signal.aborted) {
      prune = planRepoPrune(made, options.prune, ctx.now());
      const ids = prune.forget.flatMap((f) => f.snapshots);
      if (ids.length > 0) {
        ctx.log.info(`forgetting ${prune.forget.length} chains (${ids.length} snapshots) in ${repository}, then restic prune`);
        await phases.time('prune', () => restic.forget(ids));
        forgotten = new Set(ids);
      }
    } else if (options.prune && failed > 0) {
      ctx.log.warn(`${failed} points were not sent: nothing pruned in ${repository}`);
    }
    // The marks follow the repository before restic prune runs: a prune that fails must not leave forgotten points marked as copies.
    const held = new Set(made.map((m) => m.id).filter((id) => !forgotten.has(id)));
    const marked = chains.filter((c) => c.hasManifest).map((c) => ({ host: c.host, domain: c.domain, chain: c.chain, dir: c.dir }));
    const marks = await phases.time('manifest', () => followRepository(ctx, marked, repository, held));
    if (forgotten.size > 0) await phases.time('prune', () => restic.prune());
    ctx.log.debug(`replicate to ${repository}: time went to ${describePhases(phases.list())}`);
    const doc = {
      ...documentOf(repository, false, plan, sent, notFound),
      ...(filteredOut.length > 0 ? { filteredOut } : {}),
      ...(prune ? { prune: pruneDocument(prune) } : {}),
      marksCorrected: marks.map((m) => ({ host: m.host, domain: m.domain, id: `${m.chain}/${m.checkpoint}`, snapshot: m.snapshot, change: m.change })),
      phases: phases.list(),
    };
    return {
      document: doc,
      text: renderResult(repository, plan, sent) + (prune ? renderPrune(prune, false) : '') + renderMarkChanges(marks, repository),
      outcome: ctx.signal.aborted ? 'interrupted' : failed > 0 || notFound.length > 0 ? (sent.length + plan.present.length > 0 ? 'partial' : 'failure') : 'ok',
    };
  });
}

async function sendPoints(
  ctx: AppContext,
  restic: ResticClient,
  repository: string,
  plan: ReplicationPlan,
  existing: readonly ExistingSnapshot[],
): Promise<{ sent: SentPoint[]; made: ExistingSnapshot[] }> {
  const made: ExistingSnapshot[] = [...existing];
  const sent: SentPoint[] = [];
  for (const p of plan.send) {
    if (ctx.signal.aborted) break;
    const parentOf = p.parentOf;
    const parent = parentOf ? made.find((m) => samePoint(m.point, parentOf))?.id : undefined;
    const started = Date.now();
    const phases = new PhaseTimer();
    try {
      const summary = await phases.time('send', () =>
        restic.backup({
          files: p.files,
          host: p.point.host,
          tags: pointTags(p.point),
          time: new Date(p.time),
          signal: ctx.signal,
          ...(parent ? { parent } : {}),
        }),
      );
      await phases.time('manifest', () =>
        recordReplica(p.chainDir, p.point.checkpoint, { repository, snapshot: summary.snapshotId, time: ctx.now().toISOString() }),
      );
      made.push({ id: summary.snapshotId, point: p.point, time: new Date(p.time).toISOString() });
      const row: SentPoint = {
        host: p.point.host,
        domain: p.point.domain,
        id: `${p.point.chain}/${p.point.checkpoint}`,
        snapshot: summary.snapshotId,
        filesNew: summary.filesNew,
        filesChanged: summary.filesChanged,
        filesUnmodified: summary.filesUnmodified,
        bytesAdded: summary.dataAdded,
        durationMs: Date.now() - started,
        phases: phases.list(),
      };
      sent.push(row);
      ctx.log.info(`${describePoint(p.point)}: snapshot ${summary.snapshotId}, ${prettyBytes(summary.dataAdded, { binary: true })} added`);
      ctx.log.debug(`${describePoint(p.point)}: time went to ${describePhases(row.phases)}`);
    } catch (e) {
      if (e instanceof VmkeepError && e.code === 'tool-missing') throw e;
      ctx.log.warn(`${describePoint(p.point)}: not replicated: ${messageOf(e)}`);
    }
  }
  return { sent, made };
}

function pruneDocument(p: RepoPrunePlan) {
  return {
    policy: p.plan.policy,
    warnings: p.plan.warnings,
    removed: p.forget,
    kept: p.plan.domains.flatMap((d) => d.keep.map((c) => ({ domain: d.domain, chain: c.id, reasons: c.reasons }))),
    removedReasons: p.plan.domains.flatMap((d) => d.remove.map((c) => ({ domain: d.domain, chain: c.id, reasons: c.reasons }))),
  };
}

function renderPrune(p: RepoPrunePlan, dryRun: boolean): string {
  const lines = [`repository retention (${p.plan.policy.join('; ')}):`];
  for (const d of p.plan.domains) {
    for (const c of d.keep) lines.push(`  keep ${d.domain} ${c.id}: ${c.reasons.join('; ')}`);
    for (const c of d.remove)
      lines.push(
        `  ${dryRun ? 'would forget' : 'forgot'} ${d.domain} ${c.id} (${p.forget.find((f) => f.domain === d.domain && f.chain === c.id)?.snapshots.length ?? 0} snapshots): ${c.reasons.join('; ')}`,
      );
  }
  for (const w of p.plan.warnings) lines.push(`  warning: ${w}`);
  return `${lines.join('\n')}\n`;
}

function documentOf(repository: string, dryRun: boolean, plan: ReplicationPlan, sent: readonly SentPoint[], notFound: readonly string[]) {
  const id = (p: PointTags) => ({ host: p.host, domain: p.domain, id: `${p.chain}/${p.checkpoint}` });
  return {
    repository,
    dryRun,
    ...(dryRun ? { toSend: plan.send.map((s) => ({ ...id(s.point), files: s.files.length })) } : { sent }),
    notSent: dryRun
      ? []
      : plan.send
          .filter((s) => !sent.some((x) => x.host === s.point.host && x.domain === s.point.domain && x.id === `${s.point.chain}/${s.point.checkpoint}`))
          .map((s) => id(s.point)),
    present: plan.present.map((p) => ({ ...id(p.point), snapshot: p.snapshot })),
    skipped: plan.skipped.map((s) => ({
      host: s.point.host,
      domain: s.point.domain,
      chain: s.point.chain,
      ...('checkpoint' in s.point ? { checkpoint: s.point.checkpoint } : {}),
      reason: s.reason,
    })),
    notFound,
  };
}

type SkippedWhat = ReplicationPlan['skipped'][number]['point'];

/** A skipped chain (`host/domain chain`) or a skipped point of one (`host/domain chain/checkpoint`). */
function describeSkipped(p: SkippedWhat): string {
  return 'checkpoint' in p ? describePoint(p) : `${p.host}/${p.domain} ${p.chain}`;
}

/** `, 1 chain and 2 points skipped`: whole chains and single points are counted apart (a point is not a chain). */
export function countSkipped(plan: Pick<ReplicationPlan, 'skipped'>): string {
  const points = plan.skipped.filter((s) => 'checkpoint' in s.point).length;
  const chains = plan.skipped.length - points;
  const parts = [chains > 0 ? `${chains} chain${chains === 1 ? '' : 's'}` : '', points > 0 ? `${points} point${points === 1 ? '' : 's'}` : ''].filter(Boolean);
  return parts.length > 0 ? `, ${parts.join(' and ')} skipped` : '';
}

function renderPlan(repository: string, plan: ReplicationPlan): string {
  const lines = [`replicate to ${repository} (dry run): ${plan.send.length} to send, ${plan.present.length} already there${countSkipped(plan)}`];
  for (const s of plan.send) lines.push(`  send ${describePoint(s.point)} (${s.files.length} files)`);
  for (const s of plan.skipped) lines.push(`  skip ${describeSkipped(s.point)}: ${s.reason}`);
  return `${lines.join('\n')}\n`;
}

function renderResult(repository: string, plan: ReplicationPlan, sent: readonly SentPoint[]): string {
  const added = sent.reduce((n, s) => n + s.bytesAdded, 0);
  const lines = [
    `replicate to ${repository}: ${sent.length} of ${plan.send.length} sent (${prettyBytes(added, { binary: true })} added), ${plan.present.length} already there${countSkipped(plan)}`,
  ];
  for (const s of sent) lines.push(`  ${s.host}/${s.domain} ${s.id}: snapshot ${s.snapshot}`);
  for (const s of plan.send) {
    if (!sent.some((x) => x.host === s.point.host && x.domain === s.point.domain && x.id === `${s.point.chain}/${s.point.checkpoint}`))
      lines.push(`  ${describePoint(s.point)}: NOT sent (see the warning above)`);
  }
  for (const s of plan.skipped) lines.push(`  skipped ${describeSkipped(s.point)}: ${s.reason}`);
  return `${lines.join('\n')}\n`;
}
