/**
 * planBackup: decide, for one domain, what the next backup run does and why. Pure: it reads an
 * inventory (what libvirt, QEMU and the backup folder say) and returns a plan; it does no I/O.
 *
 * The rules, in order:
 * - skip when --if-older-than says the last successful backup is recent enough;
 * - tidy the current chain first: a backup job left running, `.partial` files, files and `.cpt`
 *   entries of checkpoints the manifest never recorded, and libvirt checkpoints newer than the
 *   chain's last recorded point (deleted so their bitmaps merge back into the parent: nothing
 *   written since the last recorded point is lost to the next incremental);
 * - continue the current period's chain with an incremental when libvirt still has its last
 *   recorded checkpoint and every disk still has that bitmap;
 * - otherwise start a new full chain (new period, lost bitmaps, changed disks, VMSnap folder...),
 *   after removing every vmkeep-owned checkpoint and bitmap so the full starts clean.
 */
import { isOwnedName } from '../status/verdict.js';
import type { Duration, GroupBy } from '../retention/types.js';
import { addDuration } from '../retention/duration.js';
import type { BackupLevel } from './engine/types.js';
import type { BackupInventory, ChainFiles } from './inspect-domain.js';
import { parseChainFolderName, periodFolderName, periodKey } from './period-folders.js';
import type { ChainView } from './repository.js';

export interface BackupRequest {
  groupBy: GroupBy;
  /** Skip when the last successful backup is younger than this. */
  ifOlderThan: Duration | undefined;
}

export type RepairStep =
  | { kind: 'abort-job'; reason: string }
  | { kind: 'remove-files'; folder: string; files: string[]; reason: string }
  | { kind: 'rewrite-cpt'; folder: string; checkpoints: string[]; reason: string }
  | { kind: 'delete-checkpoint'; name: string; metadataOnly: boolean; reason: string }
  | { kind: 'remove-bitmap'; disk: string; name: string; reason: string };

export type DomainBackupPlan =
  | { domain: string; action: 'skip'; reason: string }
  | {
      domain: string;
      action: 'backup';
      level: BackupLevel;
      /** Chain folder name under OUTPUT/<domain>/. */
      folder: string;
      newChain: boolean;
      period: { groupBy: GroupBy; key: string; start: Date };
      reasons: string[];
      repairs: RepairStep[];
      /** Disk targets not copied, with why. */
      excluded: Array<{ disk: string; why: string[] }>;
      /** The domain is shut off: start it paused for the run, destroy it afterwards. */
      startPaused: boolean;
    };

/** The newest recorded point over all chains. */
export function lastRecordedTime(chains: readonly ChainView[]): Date | undefined {
  let best: number | undefined;
  for (const c of chains) for (const p of c.points) {
    const t = Date.parse(p.time);
    if (best === undefined || t > best) best = t;
  }
  return best === undefined ? undefined : new Date(best);
}

export function planBackup(inv: BackupInventory, request: BackupRequest, now: Date): DomainBackupPlan {
  const last = lastRecordedTime(inv.chains);
  if (request.ifOlderThan && last && addDuration(last, request.ifOlderThan) > now) {
    return {
      domain: inv.domain,
      action: 'skip',
      reason: `last backup at ${last.toISOString()} is younger than ${request.ifOlderThan.text}`,
    };
  }
  const key = periodKey(now, request.groupBy);
  const inPeriod = inv.chains.filter((c) => c.period?.groupBy === request.groupBy && c.period.key === key);
  const current = inPeriod.at(-1);
  const repairs: RepairStep[] = [];
  const reasons: string[] = [];
  if (inv.jobActive) repairs.push({ kind: 'abort-job', reason: 'a backup job from an interrupted run is still active in QEMU' });

  // Tidy every vmkeep chain's folder: leftovers of interrupted runs must not be mistaken for data.
  const recordedByFolder = new Map(inv.chains.map((c) => [c.folder, c.points.map((p) => p.checkpoint)]));
  for (const files of inv.chainFiles) repairs.push(...tidyChainFolder(files, recordedByFolder.get(files.folder) ?? []));

  const recorded = current && !current.legacy ? current.points.map((p) => p.checkpoint) : [];
  const continuation = current ? whyNotContinue(inv, current, recorded) : 'no chain for this period yet';
  const eligible = inv.disks.filter((d) => d.eligible);
  const excluded = inv.disks.filter((d) => !d.eligible).map((d) => ({ disk: d.target, why: d.excludedBy }));
  const periodInfo = { groupBy: request.groupBy, key, start: startOfKey(now, request.groupBy) };

  if (continuation === undefined && current) {
    const lastRecorded = recorded.at(-1)!;
    // libvirt checkpoints after the last recorded one belong to runs that never finished.
    const idx = inv.checkpoints.indexOf(lastRecorded);
    const orphans = inv.checkpoints.slice(idx + 1).filter(isOwnedName);
    for (const name of [...orphans].reverse()) {
      repairs.push({
        kind: 'delete-checkpoint',
        name,
        metadataOnly: !eligible.every((d) => d.bitmaps?.includes(name)),
        reason: `checkpoint ${name} was created by a run that did not finish; deleting it merges its bitmap into ${lastRecorded}`,
      });
    }
    reasons.push(`continue chain ${current.folder} after ${lastRecorded}`);
    return {
      domain: inv.domain,
      action: 'backup',
      level: 'inc',
      folder: current.folder,
      newChain: false,
      period: periodInfo,
      reasons,
      repairs,
      excluded,
      startPaused: inv.state === 'shut off',
    };
  }

  reasons.push(continuation ?? 'new chain');
  repairs.push(...cleanSlate(inv));
  const reuse = current && !current.legacy && current.points.length === 0;
  const folder = reuse ? current.folder : nextFolderName(inv.chains, now, request.groupBy);
  return {
    domain: inv.domain,
    action: 'backup',
    level: 'full',
    folder,
    newChain: !reuse,
    period: periodInfo,
    reasons,
    repairs,
    excluded,
    startPaused: inv.state === 'shut off',
  };
}

function startOfKey(now: Date, groupBy: GroupBy): Date {
  return parseChainFolderName(periodFolderName(now, groupBy))!.start;
}

/** Why the current chain cannot take an incremental (undefined: it can). */
function whyNotContinue(inv: BackupInventory, chain: ChainView, recorded: readonly string[]): string | undefined {
  if (chain.legacy) return `chain ${chain.folder} is a VMSnap folder without a vmkeep manifest: starting a vmkeep chain beside it`;
  if (chain.state === 'broken') return `chain ${chain.folder} is broken (${chain.stateReason ?? 'no reason recorded'})`;
  const last = recorded.at(-1);
  if (!last) return `chain ${chain.folder} has no recorded restore point (its full did not finish)`;
  if (!inv.checkpoints.includes(last)) return `checkpoint ${last} of chain ${chain.folder} is no longer known to libvirt`;
  const eligible = inv.disks.filter((d) => d.eligible);
  const chainDisks = (chain.manifest?.disks ?? []).map((d) => d.target).sort();
  const nowDisks = eligible.map((d) => d.target).sort();
  if (chainDisks.join(',') !== nowDisks.join(',')) {
    return `disks changed (chain has ${chainDisks.join(',') || 'none'}, domain now has ${nowDisks.join(',') || 'none'})`;
  }
  for (const d of eligible) {
    if (d.bitmaps === undefined) return `bitmaps of ${d.target} cannot be read`;
    if (!d.bitmaps.includes(last)) return `bitmap ${last} is missing on ${d.target}: changes since it are unknown`;
    if (d.badBitmaps.includes(last)) return `bitmap ${last} on ${d.target} is inconsistent`;
  }
  return undefined;
}

/** Remove every vmkeep-owned checkpoint and bitmap so a full starts a clean chain. */
function cleanSlate(inv: BackupInventory): RepairStep[] {
  const steps: RepairStep[] = [];
  const eligible = inv.disks.filter((d) => d.eligible);
  const owned = inv.checkpoints.filter(isOwnedName);
  for (const name of [...owned].reverse()) {
    const complete = eligible.every((d) => d.bitmaps?.includes(name) && !d.badBitmaps.includes(name));
    steps.push({
      kind: 'delete-checkpoint',
      name,
      metadataOnly: !complete,
      reason: complete
        ? `a new chain starts: checkpoint ${name} and its bitmap go`
        : `a new chain starts: checkpoint ${name} has lost its bitmap, only its metadata can go`,
    });
  }
  for (const d of eligible) {
    for (const b of d.bitmaps ?? []) {
      if (!isOwnedName(b)) continue;
      // A bitmap a plain checkpoint delete will take with it needs no step of its own.
      if (owned.includes(b) && eligible.every((e) => e.bitmaps?.includes(b) && !e.badBitmaps.includes(b))) continue;
      steps.push({ kind: 'remove-bitmap', disk: d.target, name: b, reason: `bitmap ${b} on ${d.target} would block a new chain` });
    }
  }
  return steps;
}

/** Leftovers in a chain folder: partial data, files and .cpt entries of unrecorded checkpoints. */
export function tidyChainFolder(files: ChainFiles, recorded: readonly string[]): RepairStep[] {
  const steps: RepairStep[] = [];
  const partial = files.files.filter((f) => f.endsWith('.partial'));
  const unrecorded = files.cpt.filter((c) => !recorded.includes(c));
  const strays = files.files.filter((f) => !f.endsWith('.partial') && unrecorded.some((c) => fileBelongsTo(f, c)));
  // A full whose run never finished leaves vda.full.data etc. with no recorded point at all.
  const fullLeftovers = recorded.length === 0 ? files.files.filter((f) => /\.(full|copy)\.data$/.test(f)) : [];
  const remove = [...new Set([...partial, ...strays, ...fullLeftovers])].sort();
  if (remove.length > 0) {
    steps.push({
      kind: 'remove-files',
      folder: files.folder,
      files: remove,
      reason: 'data of a run that did not finish (never recorded in the manifest)',
    });
  }
  if (unrecorded.length > 0 || files.cpt.length !== recorded.length) {
    if (files.cpt.join(',') !== recorded.join(',')) {
      steps.push({
        kind: 'rewrite-cpt',
        folder: files.folder,
        checkpoints: [...recorded],
        reason: `checkpoint list names ${unrecorded.join(', ') || 'entries'} that no finished run recorded`,
      });
    }
  }
  return steps;
}

/** Does a virtnbdbackup file belong to this checkpoint? (vda.inc.<cp>.data, checkpoints/<cp>.xml...) */
function fileBelongsTo(file: string, checkpoint: string): boolean {
  const esc = checkpoint.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[./])${esc}(\\.|$)`).test(file);
}

/** The next chain folder for the period of `now`: the period name, or `.N` after existing ones. */
export function nextFolderName(chains: readonly ChainView[], now: Date, groupBy: GroupBy): string {
  const key = periodKey(now, groupBy);
  const seqs = chains
    .map((c) => parseChainFolderName(c.folder))
    .filter((p) => p && p.groupBy === groupBy && p.key === key)
    .map((p) => p!.sequence);
  const next = seqs.length === 0 ? 1 : Math.max(...seqs) + 1;
  return periodFolderName(now, groupBy, next);
}
