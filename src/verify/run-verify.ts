/**
 * `vmkeep verify`: check every chain of the selected domains, name each bad file and the restore
 * points it breaks, optionally restore points for real (--deep), and record the outcome in each
 * chain's manifest (`lastVerify`). Exit 0 only when every chain is sound.
 */
import { performance } from 'node:perf_hooks';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppContext } from '../app/context.js';
import { outcomeOf, type CommandResult } from '../app/command-result.js';
import { readManifest, writeManifest } from '../repository/manifest.js';
import { findHostFolders, listBackedUpDomains, requireOutputFolder } from '../repository/chains.js';
import { listRemovalLeftovers } from '../repository/removal-leftovers.js';
import { namesOnly, selectAmong, type SelectionRequest } from '../domain/select-by-tags.js';
import { readRestoreChains } from '../points/chains.js';
import { withLocks } from '../repository/locks.js';
import { pointId } from '../points/points.js';
import type { RestoreChain } from '../points/types.js';
import { installedToolVersion } from '../virtnbd/tool-version.js';
import { brokenPoints, type VerifyProblem } from './broken-points.js';
import { NO_MANIFEST_NOTE, checkChain } from './check-chain.js';
import { deepCheckChain, type DeepChainResult } from './deep.js';
import { adoptChain } from '../points/adopt-chain.js';
import { messageOf } from '../errors.js';
import { sweepVerifyLeftovers } from '../domain/verify-domains.js';
import { PhaseTimer, describePhases, type PhaseTime } from '../util/phase-timer.js';

export interface VerifyOptions {
  output: string;
  domains: readonly string[] | undefined;
  /** --tag / --tag-any / --exclude over `domains`. */
  selection?: SelectionRequest;
  /** Restore points for real into a scratch folder and qemu-img check them. */
  deep: boolean;
  /** With deep: every point, not only the newest of each chain. */
  allPoints: boolean;
  /** Where deep restores go (a private folder is made inside and removed). */
  scratchDir: string;
  lockWaitMs: number;
  /** VMSnap chains that pass a deep check of every point get a manifest with checksums. */
  adopt?: boolean;
}

export interface ChainVerifyReport {
  domain: string;
  chain: string;
  /** VMSnap folder: no checksums recorded. */
  legacy: boolean;
  result: 'ok' | 'failed';
  points: number;
  filesChecked: number;
  problems: VerifyProblem[];
  /** Ids (`<chain>/<checkpoint>`) of the points the problems break. */
  brokenPoints: string[];
  deep: DeepChainResult | null;
  notes: string[];
  /** Was the result stored in the chain's manifest? */
  recorded: boolean;
  /** --adopt wrote a manifest for this VMSnap chain. */
  adopted: boolean;
  /** Where this chain's time went: checking the files, the deep restore, the manifest. */
  phases: PhaseTime[];
}

export interface VerifyDocument {
  output: string;
  time: string;
  deep: boolean;
  allPoints: boolean;
  chains: ChainVerifyReport[];
  /** Domains that could not be verified at all (unknown, unreadable manifests). */
  failures: Array<{ domain: string; reason: string }>;
  /** Backed-up domains --exclude or --tag left out, with why. */
  filteredOut: Array<{ domain: string; why: string }>;
  /** Chain folders an interrupted prune left half-deleted: not verified, named so they are not missed. */
  pendingRemoval: Array<{ domain: string; folder: string; bytes: number }>;
  /** Set when not one chain was checked: why (the run then fails). */
  nothingVerified?: string;
  /** What killed `verify --boot` runs left and this run removed (absent when nothing). */
  leftoversRemoved?: string[];
  /** What the run spent beside the chains: waiting for the output folder's lock, reading the domains' chains. */
  phases: PhaseTime[];
}

/** Remove what a killed verify --boot left, one warning line each; no libvirtd here (a replica's host) is no news. */
async function removeBootVerifyLeftovers(ctx: AppContext, output: string): Promise<string[]> {
  const removed = await sweepVerifyLeftovers(ctx.virsh, [output], { libvirtOptional: true });
  for (const line of removed) ctx.log.warn(line);
  return removed;
}

export async function runVerify(ctx: AppContext, options: VerifyOptions): Promise<CommandResult> {
  await requireOutputFolder(options.output);
  const now = ctx.now();
  const leftoversRemoved = await removeBootVerifyLeftovers(ctx, options.output);
  const selection = await selectAmong(ctx, await listBackedUpDomains(options.output), options.selection ?? namesOnly(options.domains));
  const failures: VerifyDocument['failures'] = [
    ...selection.unknown.map((d) => ({ domain: d, reason: `no backups in ${options.output}` })),
    ...selection.emptyPatterns.map((d) => ({ domain: d, reason: `no backed-up domain matches in ${options.output}` })),
  ];
  const runPhases = new PhaseTimer();
  // Manifests are rewritten and deep restores read whole chains: no backup or prune meanwhile.
  const asked = performance.now();
  const chains: ChainVerifyReport[] = [];
  const pendingRemoval: VerifyDocument['pendingRemoval'] = [];
  let scratch: string | undefined;
  await withLocks(ctx, { output: options.output, mode: 'read', waitMs: options.lockWaitMs }, async () => {
    runPhases.add('lock', performance.now() - asked);
    try {
      let version: string | undefined;
      if (options.deep) {
        await mkdir(options.scratchDir, { recursive: true });
        scratch = await mkdtemp(join(options.scratchDir, 'vmkeep-verify-'));
        version = await installedToolVersion(ctx.runner, 'virtnbdrestore', ctx.env).then(
          (v) => v.text,
          () => undefined,
        );
      }
      for (const domain of selection.selected) {
        for (const l of await listRemovalLeftovers(options.output, domain)) {
          pendingRemoval.push({ domain, folder: l.name, bytes: l.bytes });
          ctx.log.warn(`${domain}: ${l.name} was left by an interrupted prune: not a chain, not verified; the next prune removes it`);
        }
        let list: RestoreChain[];
        try {
          list = await runPhases.time('read', () => readRestoreChains(options.output, domain));
        } catch (e) {
          failures.push({ domain, reason: messageOf(e) });
          continue;
        }
        for (const chain of list) {
          ctx.signal.throwIfAborted();
          ctx.log.info(`${domain}: verifying ${chain.folder}`);
          const phases = new PhaseTimer();
          const report = await verifyChain(ctx, chain, options, scratch, version, phases);
          if (options.adopt && chain.legacy) await phases.time('manifest', () => adopt(ctx, chain, report, now));
          report.recorded = await phases.time('manifest', () => recordResult(ctx, chain, report, options.deep, now, phases.list()));
          report.phases = phases.list();
          ctx.log.debug(`${domain}: ${chain.folder}: time went to ${describePhases(report.phases)}`);
          chains.push(report);
        }
      }
    } finally {
      if (scratch) await rm(scratch, { recursive: true, force: true });
    }
  });
  const document: VerifyDocument = {
    output: options.output,
    time: now.toISOString(),
    deep: options.deep,
    allPoints: options.allPoints,
    chains,
    failures,
    filteredOut: selection.filteredOut,
    pendingRemoval,
    phases: runPhases.list(),
    ...(leftoversRemoved.length > 0 ? { leftoversRemoved } : {}),
  };
  const ok = chains.filter((c) => c.result === 'ok').length;
  // A verify that checked nothing must not pass: a cron job pointed at the wrong folder would be green forever.
  if (chains.length + failures.length === 0) {
    const hosts = await findHostFolders(options.output);
    document.nothingVerified =
      hosts.length > 0
        ? `${options.output} holds the backups of several hosts (${hosts.join(', ')}): give each host's --connect NAME=URI, or --output ${join(options.output, hosts[0]!)}`
        : `no chain to verify in ${options.output}`;
  }
  return {
    document,
    text: renderVerify(document),
    outcome: ctx.signal.aborted ? 'interrupted' : chains.length + failures.length === 0 ? 'failure' : outcomeOf(ok, chains.length + failures.length),
  };
}

async function verifyChain(
  ctx: AppContext,
  chain: RestoreChain,
  options: VerifyOptions,
  scratch: string | undefined,
  version: string | undefined,
  phases: PhaseTimer,
): Promise<ChainVerifyReport> {
  const checked = await phases.time('check', () => checkChain(chain, ctx.signal, ctx.qemuImg));
  const problems = [...checked.problems];
  let broken = brokenPoints(chain, problems);
  let deep: DeepChainResult | null = null;
  if (options.deep && scratch && chain.points.length > 0) {
    const targets = options.allPoints ? chain.points.map((p) => p.checkpoint) : [chain.points.at(-1)!.checkpoint];
    deep = await phases.time('restore', () => deepCheckChain(ctx, chain, targets, new Set(broken), scratch, version));
    problems.push(...deep.problems);
    broken = brokenPoints(chain, problems);
  }
  return {
    domain: chain.domain,
    chain: chain.folder,
    legacy: chain.legacy,
    result: problems.length === 0 ? 'ok' : 'failed',
    points: chain.points.length,
    filesChecked: checked.filesChecked,
    problems,
    brokenPoints: broken.map((c) => pointId(chain.folder, c)),
    deep,
    notes: checked.notes,
    recorded: false,
    adopted: false,
    phases: [],
  };
}

/** What --adopt says about its checksums (in the manifest's event and in the output). */
const ADOPT_NOTE =
  'checksums recorded by vmkeep verify --adopt after every point restored and passed qemu-img check; they certify the files as they are now, not as they were at backup time';

/** --adopt: a VMSnap chain whose every point restored and passed gets a manifest with checksums. */
async function adopt(ctx: AppContext, chain: RestoreChain, report: ChainVerifyReport, now: Date): Promise<void> {
  const allRestored = report.deep !== null && report.deep.points.length === chain.points.length && report.deep.points.every((p) => p.result === 'ok');
  if (report.result !== 'ok' || !allRestored || chain.points.length === 0) {
    report.notes.push('not adopted: every point must restore and pass qemu-img check first');
    return;
  }
  try {
    await adoptChain(chain, now, ADOPT_NOTE);
    report.adopted = true;
    // The folder has checksums now: "no checksums are recorded" no longer holds.
    report.notes = report.notes.filter((n) => n !== NO_MANIFEST_NOTE);
    report.notes.push(`adopted: ${ADOPT_NOTE}`);
    ctx.log.info(`${chain.domain}: adopted ${chain.folder}: ${ADOPT_NOTE}`);
  } catch (e) {
    report.notes.push(`not adopted: ${messageOf(e)}`);
  }
}

/** Store the outcome as the manifest's lastVerify (re-read under the lock, written atomically). */
async function recordResult(ctx: AppContext, chain: RestoreChain, report: ChainVerifyReport, deep: boolean, now: Date, phases: PhaseTime[]): Promise<boolean> {
  if (chain.legacy && !report.adopted) return false;
  try {
    const manifest = await readManifest(chain.dir);
    if (!manifest) return false;
    await writeManifest(chain.dir, {
      ...manifest,
      lastVerify: {
        time: now.toISOString(),
        result: report.result,
        deep,
        problems: report.problems.map((p) => p.message),
        brokenPoints: report.brokenPoints,
        phases,
      },
    });
    return true;
  } catch (e) {
    ctx.log.warn(`${chain.domain}: could not record the verify result in ${chain.folder}: ${messageOf(e)}`);
    return false;
  }
}

/** One block per chain: ok, or each problem and the points it breaks. */
export function renderVerify(doc: VerifyDocument): string {
  const out: string[] = [];
  for (const c of doc.chains) {
    const deepNote = c.deep
      ? `, deep: ${c.deep.points.map((p) => `${p.checkpoint} ${p.result}`).join(', ') || 'no points'}${c.deep.checksumVerify === 'unavailable' ? '' : `, checksum verify ${c.deep.checksumVerify}`}`
      : '';
    out.push(
      `${c.domain}/${c.chain}: ${c.result === 'ok' ? 'ok' : 'FAILED'} (${c.points} point${c.points === 1 ? '' : 's'}, ${c.filesChecked} files checked${deepNote})`,
    );
    for (const p of c.problems) out.push(`  ${p.kind}: ${p.message}`);
    if (c.brokenPoints.length > 0) out.push(`  restore points broken: ${c.brokenPoints.join(', ')}`);
    else if (c.result === 'failed') out.push('  every restore point still restores (the problems are in records the next backup uses)');
    for (const n of c.notes) out.push(`  note: ${n}`);
  }
  for (const f of doc.failures) out.push(`${f.domain}: not verified: ${f.reason}`);
  for (const r of doc.pendingRemoval)
    out.push(`${r.domain}/${r.folder}: not verified: left by an interrupted prune (${r.bytes} bytes); the next prune removes it`);
  if (out.length === 0) out.push(doc.filteredOut.length > 0 ? `no backed-up domain in ${doc.output} passes --tag/--exclude` : `no backups in ${doc.output}`);
  if (doc.nothingVerified !== undefined) out.push(`nothing verified: ${doc.nothingVerified}`);
  return `${out.join('\n')}\n`;
}
