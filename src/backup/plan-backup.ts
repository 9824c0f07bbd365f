/**
 * planBackup: decide, for one domain, what the next backup run does and why. Pure: it reads an
 * inventory (what libvirt, QEMU and the backup folder say) and returns a plan; it does no I/O.
 *
 * The rules, in order:
 * - skip when --if-older-than says the last successful backup is recent enough;
 * - refuse when libvirt has checkpoints vmkeep did not make and the engine cannot work beside
 *   them (virtnbdbackup would refuse them anyway, after a second of work and with a less
 *   helpful message);
 * - tidy first: a backup job left running, `.partial` files, files and `.cpt` entries of
 *   checkpoints the manifest never recorded (virtnbdbackup would redefine a checkpoint from its
 *   leftover XML), and libvirt checkpoints newer than the chain's last recorded point. Every
 *   checkpoint's bitmap records all writes since it was taken (libvirt keeps them all active),
 *   so the next incremental from the last recorded point loses nothing when newer ones go;
 * - continue the current period's chain with an incremental when it was written by this engine
 *   (its checkpoints are of the engine's family), libvirt still knows its recorded checkpoints
 *   and every disk still has a consistent bitmap for the last one;
 * - otherwise start a new full chain (new period, lost bitmaps, changed disks, VMSnap folder...),
 *   after removing the vmkeep-owned checkpoints and bitmaps in its way (a bitmap left behind with
 *   a name the new chain reuses fails the run with "Bitmap already exists").
 *
 * Which checkpoints a run may delete: an engine that works beside other chains' checkpoints
 * (push, whose names are per chain) touches only those of its own output folder's chains, so a
 * second copy in another folder keeps its own chain. virtnbdbackup cannot: its names are shared
 * by every folder and it refuses the other family's, so it deletes them all, and says that the
 * chain they belong to starts over.
 */
import { isOwnedName, nameFamily, virtnbdbackupNamesIn } from '../domain/owned-names.js';
import type { Duration, GroupBy } from '../retention/types.js';
import { addDuration } from '../retention/duration.js';
import { startOfPeriod } from '../retention/periods.js';
import type { EngineTraits } from './engine/types.js';
import type { BackupInventory, ChainFiles, DiskInventory, DomainBackupPlan, RepairStep } from './plan-types.js';
import { parseChainFolderName, periodFolderName, periodKey } from '../repository/period-folders.js';
import type { ChainView } from '../repository/chains.js';
import { verifyFoundDamage } from '../repository/manifest.js';
import { findLastRecorded, isDatedInFuture, nextSequence } from '../repository/recording-order.js';

/** What planBackup returns; defined in plan-types.ts with the rest of a plan's types. */
export type { DomainBackupPlan, RepairStep };

export interface BackupRequest {
  groupBy: GroupBy;
  /** Skip when the last successful backup is younger than this. */
  ifOlderThan: Duration | undefined;
  /** The engine that will run (default: virtnbdbackup's traits). */
  engine?: EngineTraits;
}

const VIRTNBDBACKUP_TRAITS: EngineTraits = { checkpointFamily: 'virtnbdbackup', acceptsForeignCheckpoints: false };

const pointsOf = (chains: readonly ChainView[]) => chains.flatMap((c) => c.points.map((p) => ({ ...p, chain: c.folder })));

/** The time of the point recorded last over all chains (by recording order, not by date). */
function lastRecordedTime(chains: readonly ChainView[]): Date | undefined {
  const last = findLastRecorded(pointsOf(chains));
  return last === undefined ? undefined : new Date(last.time);
}

/**
 * Points dated after `now`: made while the host clock ran ahead. Said on every run until the
 * clock passes them, because this run's point is dated before them yet recorded after them.
 */
function futureDatedWarning(inv: BackupInventory, now: Date): string | undefined {
  const future = pointsOf(inv.chains).filter((p) => isDatedInFuture(p.time, now));
  if (future.length === 0) return undefined;
  const latest = future.reduce((a, b) => (Date.parse(b.time) > Date.parse(a.time) ? b : a));
  return (
    `${future.length} point(s) of ${inv.domain} are dated in the future (the latest, ${latest.chain}/${latest.checkpoint}, at ${latest.time}; now is ${now.toISOString()}): ` +
    `the host clock ran ahead and was put back. This run's point is dated before them but recorded after them; ` +
    `vmkeep takes the last recorded point as the newest (status, restore, prune, check), whatever its date`
  );
}

// eslint-disable-next-line max-lines-per-function -- a pure decision read in order, each branch returning with its reason; being restructured with the plan types
export function planBackup(inv: BackupInventory, request: BackupRequest, now: Date): DomainBackupPlan {
  const lastPoint = findLastRecorded(pointsOf(inv.chains));
  const clockWarning = futureDatedWarning(inv, now);
  if (request.ifOlderThan && lastPoint) {
    const last = new Date(lastPoint.time);
    // A date in the future says nothing about how old the backup is: never a reason to skip.
    if (!isDatedInFuture(lastPoint.time, now) && addDuration(last, request.ifOlderThan) > now) {
      return {
        domain: inv.domain,
        action: 'skip',
        reason: `last backup at ${last.toISOString()} is younger than ${request.ifOlderThan.text}`,
      };
    }
  }
  const engine = request.engine ?? VIRTNBDBACKUP_TRAITS;
  // virtnbdbackup also refuses the other engine's names; a new chain removes those first (cleanSlate).
  const foreign = inv.checkpoints.filter((c) => !isOwnedName(c));
  if (foreign.length > 0 && !engine.acceptsForeignCheckpoints) {
    return {
      domain: inv.domain,
      action: 'refuse',
      reason:
        `libvirt has checkpoints vmkeep did not make (${foreign.join(', ')}); this engine will not back up beside them. ` +
        `Remove them if nothing needs them (virsh checkpoint-delete, or vmkeep scrub --domains DOMAIN --scrubType both --checkpointName NAME --force), then run again`,
    };
  }

  const key = periodKey(now, request.groupBy);
  const inPeriod = inv.chains.filter((c) => c.period?.groupBy === request.groupBy && c.period.key === key);
  const current = inPeriod.at(-1);
  const eligible = inv.disks.filter((d) => d.eligible);
  const repairs: RepairStep[] = [];
  const reasons: string[] = [];
  if (inv.jobActive) {
    repairs.push({
      kind: 'abort-job',
      disks: eligible.map((d) => d.target),
      reason: 'a backup job from an interrupted run is still active in QEMU',
    });
  }

  // Tidy every vmkeep chain's folder: leftovers of interrupted runs must not be mistaken for data.
  const recordedByFolder = new Map(inv.chains.map((c) => [c.folder, c.points.map((p) => p.checkpoint)]));
  for (const files of inv.chainFiles) repairs.push(...tidyChainFolder(files, recordedByFolder.get(files.folder) ?? []));
  // This run holds the domain lock: a run still marked as running was killed or crashed.
  for (const c of inv.chains) {
    const running = c.manifest?.running;
    if (!running) continue;
    // A run that failed but could not write that into the manifest left a note: say what it was.
    const note = inv.failureNote;
    const noted = note && note.folder === c.folder && note.pid === running.pid && note.startedAt === running.startedAt ? note : undefined;
    repairs.push({
      kind: 'close-run',
      folder: c.folder,
      startedAt: running.startedAt,
      pid: running.pid,
      ...(noted
        ? {
            failed: true,
            reason: `the previous run failed: ${noted.message} (${running.level} backup started at ${running.startedAt}; its manifest could not take the record then)`,
          }
        : { reason: `the ${running.level} run started at ${running.startedAt} (pid ${running.pid}) ended without finishing: killed or crashed` }),
    });
    if (noted) reasons.push(`the previous run failed: ${noted.message}`);
  }

  const previous = previousRunFailure(inv.chains);
  if (previous) reasons.push(previous);
  if (request.ifOlderThan && lastPoint && isDatedInFuture(lastPoint.time, now)) {
    reasons.push(
      `the last backup is dated ${lastPoint.time}, in the future: --if-older-than ${request.ifOlderThan.text} does not skip on a date the clock got wrong`,
    );
  }
  if (clockWarning) reasons.push(clockWarning);
  const sequence = nextSequence(pointsOf(inv.chains));

  const adoption = current?.legacy ? checkAdoption(inv, current) : undefined;
  const recorded = current && (!current.legacy || adoption?.matched) ? current.points.map((p) => p.checkpoint) : [];
  const continuation = current ? whyNotContinue(inv, current, recorded, engine, adoption) : 'no chain for this period yet';
  const excluded = inv.disks.filter((d) => !d.eligible).map((d) => ({ disk: d.target, why: d.excludedBy }));
  const periodInfo = { groupBy: request.groupBy, key, start: startOfPeriod(now, request.groupBy) };
  const startPaused = inv.state === 'shut off';
  const resumeAfter = inv.pausedByInterruptedStop;
  const shutOffAfter = !resumeAfter && (startPaused || inv.pausedByInterruptedRun);
  if (resumeAfter) {
    reasons.push('the domain is paused because an interrupted vmkeep --stop run shut it down for a backup: it is resumed afterwards');
  } else if (inv.pausedByInterruptedRun) {
    reasons.push('the domain is paused because an interrupted vmkeep run started it for a backup: it is shut off again afterwards');
  }

  const mine = checkpointScope(inv, engine);
  if (continuation === undefined && current) {
    const lastRecorded = recorded.at(-1)!;
    // libvirt checkpoints after the last recorded one belong to runs that never finished (or,
    // for push, to chains in other output folders, which stay).
    const idx = inv.checkpoints.indexOf(lastRecorded);
    const orphans = inv.checkpoints.slice(idx + 1).filter((n) => isOwnedName(n) && mine(n));
    for (const name of [...orphans].reverse())
      repairs.push(
        ...dropCheckpoint(
          trackedDisks(inv),
          name,
          `checkpoint ${name} was created by a run that did not finish; the changes since it are still in ${lastRecorded}'s bitmap`,
        ),
      );
    // Bitmaps libvirt knows no checkpoint for: a later run would create a checkpoint of the same
    // name and fail. Recorded names stay: virtnbdbackup redefines them from the chain's XML.
    for (const d of eligible) {
      for (const b of d.bitmaps ?? []) {
        if (!isOwnedName(b) || !mine(b) || inv.checkpoints.includes(b) || recorded.includes(b)) continue;
        repairs.push({
          kind: 'remove-bitmap',
          disk: d.target,
          name: b,
          reason: `bitmap ${b} on ${d.target} has no checkpoint in libvirt and would block the next one`,
        });
      }
    }
    reasons.push(
      adoption?.matched
        ? `continue VMSnap chain ${current.folder} after ${lastRecorded} instead of starting a second full: ${adoption.matched}; vmkeep adopts it first (as verify --adopt does)`
        : `continue chain ${current.folder} after ${lastRecorded}`,
    );
    return {
      domain: inv.domain,
      action: 'backup',
      level: 'inc',
      folder: current.folder,
      newChain: false,
      ...(adoption?.matched ? { adopt: { folder: current.folder, why: adoption.matched } } : {}),
      period: periodInfo,
      reasons,
      repairs,
      excluded,
      startPaused,
      shutOffAfter,
      resumeAfter,
      sequence,
      ...(clockWarning ? { warnings: [clockWarning] } : {}),
    };
  }

  reasons.push(continuation ?? 'new chain');
  repairs.push(...cleanSlate(inv, mine));
  const kept = inv.checkpoints.filter((n) => isOwnedName(n) && !mine(n));
  if (kept.length > 0) reasons.push(`checkpoints of chains in other output folders stay: ${kept.join(', ')}`);
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
    startPaused,
    shutOffAfter,
    resumeAfter,
    sequence,
    ...(clockWarning ? { warnings: [clockWarning] } : {}),
  };
}

/**
 * "the previous run failed: …" when the newest run on record failed or was interrupted: the
 * latest failure event is newer than every recorded point (a tie counts as the point's).
 */
export function previousRunFailure(chains: readonly ChainView[]): string | undefined {
  const last = lastRecordedTime(chains)?.getTime() ?? -Infinity;
  let newest: { time: number; kind: string; message: string } | undefined;
  for (const c of chains) {
    for (const e of c.manifest?.events ?? []) {
      if (e.kind !== 'failed' && e.kind !== 'interrupted') continue;
      const t = Date.parse(e.time);
      if (t > last && (!newest || t >= newest.time)) newest = { time: t, kind: e.kind, message: e.message };
    }
  }
  if (!newest) return undefined;
  // Events read "<level> backup: <what happened>"; say what happened, then which run it was.
  const m = /^(full|inc) backup: (.*)$/s.exec(newest.message);
  const what = m ? `${m[2]} (${m[1]} backup at ${new Date(newest.time).toISOString()})` : `${newest.message} (at ${new Date(newest.time).toISOString()})`;
  return newest.kind === 'failed' ? `the previous run failed: ${what}` : `the previous run was interrupted: ${what}`;
}

const isoSeconds = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');

/** A raw image has no dirty bitmaps: no checkpoint is judged by it, and no repair looks for bitmaps on it. */
const carriesBitmaps = (d: DiskInventory) => d.format !== 'raw';

const hasGoodBitmap = (d: DiskInventory, name: string) => (d.bitmaps?.includes(name) ?? false) && !d.badBitmaps.includes(name);

/** Does a VMSnap chain qualify for adoption: what matched, or why not. */
type AdoptionCheck = { matched: string; notAdopted?: undefined } | { matched?: undefined; notAdopted: string };

/**
 * A VMSnap chain (no manifest) is continued instead of starting a second full beside it when it
 * is the newest chain folder, complete, its last checkpoint is the one libvirt has (same name and
 * creationTime, from virtnbdbackup's `checkpoints/<name>.xml`), and its files pass the structure
 * check. The rest (bitmaps, disks, engine) is judged as for vmkeep's own chains.
 */
function checkAdoption(inv: BackupInventory, chain: ChainView): AdoptionCheck {
  const facts = inv.vmsnapChain;
  if (!facts || facts.folder !== chain.folder) return { notAdopted: 'it is not the newest chain folder' };
  if (chain.state !== 'complete') return { notAdopted: chain.stateReason ?? `it is ${chain.state}` };
  const last = chain.points.at(-1)?.checkpoint;
  if (last === undefined) return { notAdopted: `its ${inv.domain}.cpt lists no checkpoint` };
  if (!inv.checkpoints.includes(last)) return { notAdopted: `libvirt has no checkpoint ${last}, its last one` };
  const recordedAt = facts.lastCheckpointCreated;
  if (recordedAt === undefined) return { notAdopted: `its checkpoints/${last}.xml is missing or unreadable, so ${last} cannot be matched to libvirt's` };
  const libvirtAt = inv.checkpointCreated?.[last];
  if (libvirtAt === undefined) return { notAdopted: `libvirt's creationTime of ${last} could not be read` };
  if (libvirtAt !== recordedAt) {
    return {
      notAdopted: `checkpoint ${last} in libvirt is not the chain's (made ${isoSeconds(libvirtAt)}, the chain's ${isoSeconds(recordedAt)}): another run took the name`,
    };
  }
  if (facts.problems.length > 0) return { notAdopted: `its files fail the structure check (${facts.problems.join('; ')})` };
  return { matched: `its last checkpoint ${last} is libvirt's (same name and creationTime ${isoSeconds(recordedAt)}) and its files pass the structure check` };
}

/** Why the current chain cannot take an incremental (undefined: it can). */
function whyNotContinue(
  inv: BackupInventory,
  chain: ChainView,
  recorded: readonly string[],
  engine: EngineTraits,
  adoption: AdoptionCheck | undefined,
): string | undefined {
  if (chain.legacy && !adoption?.matched) {
    const why = adoption?.notAdopted ? ` (not continued: ${adoption.notAdopted})` : '';
    return `chain ${chain.folder} is a VMSnap folder without a vmkeep manifest: starting a vmkeep chain beside it${why}`;
  }
  if (chain.damage) return `chain ${chain.folder} is damaged (${chain.damage.problems.join('; ')}): it is left as it is and a new chain starts`;
  if (chain.state === 'broken') return `chain ${chain.folder} is broken (${chain.stateReason ?? 'no reason recorded'})`;
  const last = recorded.at(-1);
  if (!last) return `chain ${chain.folder} has no recorded restore point (its full did not finish)`;
  if (nameFamily(last) !== engine.checkpointFamily)
    return `chain ${chain.folder} was written by the other engine (its last point is ${last}): this engine starts a chain of its own`;
  if (!inv.checkpoints.includes(last)) return `checkpoint ${last} of chain ${chain.folder} is no longer known to libvirt`;
  // Same name, other checkpoint: virtnbdbackup names every chain's points virtnbdbackup.N, so a
  // chain in another output folder (or under another --groupBy) can have made a new one since.
  const clash = nameTakenElsewhere(inv, chain);
  if (clash) {
    const { recordedAt, libvirtAt } = clash;
    return `checkpoint ${last} in libvirt is not the one chain ${chain.folder} recorded (made ${isoSeconds(libvirtAt)}, the chain's ${isoSeconds(recordedAt)}): another chain of this domain (another output folder or --groupBy) took the name, so the changes since this chain's point are unknown`;
  }
  if (chain.manifest?.lastVerify && verifyFoundDamage(chain.manifest.lastVerify)) {
    return `chain ${chain.folder} failed its last verify (${chain.manifest.lastVerify.time}): nothing more is added to it`;
  }
  const eligible = inv.disks.filter((d) => d.eligible);
  const chainDisks = (chain.legacy ? (inv.vmsnapChain?.disks ?? []) : (chain.manifest?.disks ?? []).map((d) => d.target)).slice().sort();
  const nowDisks = eligible.map((d) => d.target).sort();
  if (chainDisks.join(',') !== nowDisks.join(',')) {
    return `disks changed (chain has ${chainDisks.join(',') || 'none'}, domain now has ${nowDisks.join(',') || 'none'})`;
  }
  // virtnbdbackup copies a raw image only in a full (an incremental leaves it out), so a point
  // added to this chain would restore the raw disk as it was at the full: start a full instead.
  const raw = eligible.find((d) => !carriesBitmaps(d));
  if (raw) return `${raw.target} is a raw image (--raw): it has no dirty bitmap and is copied only by a full, so every backup of this domain is a full`;
  for (const d of eligible) {
    if (d.bitmaps === undefined) return `bitmaps of ${d.target} cannot be read`;
    if (!d.bitmaps.includes(last)) return `bitmap ${last} is missing on ${d.target}: changes since it are unknown`;
    if (d.badBitmaps.includes(last)) return `bitmap ${last} on ${d.target} is inconsistent (QEMU stopped without saving it): changes since it are unknown`;
  }
  // virtnbdbackup redefines recorded checkpoints libvirt lost from the chain's XML; libvirt
  // accepts that only while the bitmaps are there.
  for (const cp of recorded) {
    if (inv.checkpoints.includes(cp)) continue;
    const without = eligible.filter(carriesBitmaps).find((d) => !hasGoodBitmap(d, cp));
    if (without) return `checkpoint ${cp} of chain ${chain.folder} is gone from libvirt and its bitmap from ${without.target}`;
  }
  return undefined;
}

/** libvirt's checkpoint of the chain's last name was made after the chain's own (another chain took the name): both times. */
function nameTakenElsewhere(inv: BackupInventory, chain: ChainView): { recordedAt: number; libvirtAt: number } | undefined {
  const last = chain.points.at(-1)?.checkpoint;
  if (last === undefined) return undefined;
  const recordedAt = inv.chainFiles.find((f) => f.folder === chain.folder)?.lastCheckpointCreated;
  const libvirtAt = inv.checkpointCreated?.[last];
  return recordedAt !== undefined && libvirtAt !== undefined && recordedAt !== libvirtAt ? { recordedAt, libvirtAt } : undefined;
}

/**
 * Steps that make checkpoint `name` and its bitmaps go. A checkpoint whose bitmap is missing or
 * inconsistent on some disk can only lose its metadata; the bitmaps left on other disks are
 * removed one by one.
 */
function dropCheckpoint(eligible: readonly DiskInventory[], name: string, why: string): RepairStep[] {
  const complete = eligible.every((d) => hasGoodBitmap(d, name));
  if (complete) return [{ kind: 'delete-checkpoint', name, metadataOnly: false, reason: why }];
  const steps: RepairStep[] = [
    { kind: 'delete-checkpoint', name, metadataOnly: true, reason: `${why}; its bitmap is lost or inconsistent, so only its metadata can go` },
  ];
  for (const d of eligible) {
    if (d.bitmaps?.includes(name))
      steps.push({ kind: 'remove-bitmap', disk: d.target, name, reason: `the bitmap of checkpoint ${name} on ${d.target} goes with it` });
  }
  return steps;
}

/**
 * Disks whose bitmaps a repair must consider: the backed-up ones, and disks left out only by
 * disk selection that still carry bitmaps from runs that included them. Without the latter, a
 * checkpoint deleted "metadata only" would leave its bitmap on such a disk, and a later run that
 * includes the disk again fails with "Bitmap already exists".
 */
function trackedDisks(inv: BackupInventory): DiskInventory[] {
  return inv.disks.filter((d) => carriesBitmaps(d) && (d.eligible || (d.bitmaps?.length ?? 0) > 0));
}

/**
 * Which vmkeep-owned checkpoint and bitmap names this run may delete. An engine that works beside
 * other chains' checkpoints may delete only those of this output folder's chains: names its
 * manifests recorded or its files and `.cpt` lists mention (a push name by its chain id, so a
 * killed run's checkpoint counts). Anything else is another folder's chain's.
 */
function checkpointScope(inv: BackupInventory, engine: EngineTraits): (name: string) => boolean {
  if (!engine.acceptsForeignCheckpoints) return () => true;
  const claimed = new Set<string>();
  for (const c of inv.chains) for (const p of c.points) claimed.add(chainKey(p.checkpoint));
  for (const f of inv.chainFiles) {
    for (const n of f.cpt) claimed.add(chainKey(n));
    for (const file of f.files) for (const n of checkpointNamesIn(file)) claimed.add(chainKey(n));
  }
  return (name) => claimed.has(chainKey(name));
}

/** A push checkpoint's chain (`vmkeep.<id>`); any other name stands for itself. */
function chainKey(name: string): string {
  return /^(vmkeep\.[0-9a-f]{8})\.\d+$/.exec(name)?.[1] ?? name;
}

/**
 * Did this output folder's chains make the checkpoint (recorded, or in a file or `.cpt` of
 * theirs)? A shared virtnbdbackup name another chain has taken since (newer in libvirt than this
 * folder saved it) is that chain's.
 */
function madeHere(inv: BackupInventory, name: string): boolean {
  const key = chainKey(name);
  const named = (n: string) => chainKey(n) === key;
  if (nameFamily(name) === 'virtnbdbackup' && inv.chains.some((c) => nameTakenElsewhere(inv, c) !== undefined)) return false;
  return (
    inv.chains.some((c) => c.points.some((p) => named(p.checkpoint))) ||
    inv.chainFiles.some((f) => f.cpt.some(named) || f.files.some((file) => checkpointNamesIn(file).some(named)))
  );
}

/** Remove the vmkeep-owned checkpoints and bitmaps this run may delete, so a full starts a clean chain. */
function cleanSlate(inv: BackupInventory, mine: (name: string) => boolean): RepairStep[] {
  const steps: RepairStep[] = [];
  const eligible = trackedDisks(inv);
  const owned = inv.checkpoints.filter((n) => isOwnedName(n) && mine(n));
  for (const name of [...owned].reverse()) {
    const why = madeHere(inv, name)
      ? `a new chain starts: checkpoint ${name} goes`
      : `a new chain starts: checkpoint ${name} belongs to no chain in this output folder (another folder's?) and virtnbdbackup cannot work beside it, ` +
        `so that chain's next backup is a full; a second copy that continues needs --engine push or vmkeep replicate`;
    steps.push(...dropCheckpoint(eligible, name, why));
  }
  for (const d of eligible) {
    for (const b of d.bitmaps ?? []) {
      if (!isOwnedName(b) || !mine(b) || owned.includes(b)) continue;
      steps.push({ kind: 'remove-bitmap', disk: d.target, name: b, reason: `bitmap ${b} on ${d.target} has no checkpoint and would block the new chain` });
    }
  }
  return steps;
}

/**
 * Leftovers in a chain folder: partial data, and files and `.cpt` entries of checkpoints no
 * finished run recorded. The files are found by name, not only through `.cpt`: a run killed
 * between writing a file and extending `.cpt` leaves files `.cpt` does not name.
 */
export function tidyChainFolder(files: ChainFiles, recorded: readonly string[]): RepairStep[] {
  const steps: RepairStep[] = [];
  const partial = files.files.filter((f) => f.endsWith('.partial'));
  const unrecorded = files.cpt.filter((c) => !recorded.includes(c));
  const strays = files.files.filter((f) => !f.endsWith('.partial') && checkpointNamesIn(f).some((c) => !recorded.includes(c)));
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
  // Only virtnbdbackup reads `.cpt`; a folder without one and without stream data needs none.
  const needsCpt = files.files.some((f) => f.endsWith('.cpt') || f.endsWith('.data'));
  if (!needsCpt) return steps;
  if (files.cptReadable === false) {
    steps.push({
      kind: 'rewrite-cpt',
      folder: files.folder,
      checkpoints: [...recorded],
      reason: 'its checkpoint list is not a JSON list (a run was killed while writing it)',
    });
  } else if (files.cpt.join(',') !== recorded.join(',')) {
    steps.push({
      kind: 'rewrite-cpt',
      folder: files.folder,
      checkpoints: [...recorded],
      reason:
        unrecorded.length > 0
          ? `its checkpoint list names ${unrecorded.join(', ')}, which no finished run recorded`
          : `its checkpoint list [${files.cpt.join(', ')}] differs from the recorded points`,
    });
  }
  return steps;
}

/** Checkpoint names of either engine that a file name mentions (vda.inc.virtnbdbackup.3.data, vda.vmkeep.0a1b2c3d.3.qcow2...). */
export function checkpointNamesIn(file: string): string[] {
  return [...virtnbdbackupNamesIn(file), ...[...file.matchAll(/(?:^|[./])(vmkeep\.[0-9a-f]{8}\.\d+)(?=\.|$)/g)].map((m) => m[1]!)];
}

/** The next chain folder for the period of `now`: the period name, or `.N` after existing ones. */
function nextFolderName(chains: readonly ChainView[], now: Date, groupBy: GroupBy): string {
  const key = periodKey(now, groupBy);
  const seqs = chains
    .map((c) => parseChainFolderName(c.folder))
    .filter((p) => p && p.groupBy === groupBy && p.key === key)
    .map((p) => p!.sequence);
  const next = seqs.length === 0 ? 1 : Math.max(...seqs) + 1;
  return periodFolderName(now, groupBy, next);
}
