/** Render `vmkeep status` for people. Colour only when asked (stdout is a terminal). */
import { printable } from '../util/printable.js';
import { join } from 'node:path';
import prettyBytes from 'pretty-bytes';
import type { DomainStatus } from '../domain/collect-status.js';
import type { BackupSummary } from './backup-summary.js';

export interface StatusEntry {
  status?: DomainStatus;
  backups?: BackupSummary;
  error?: string;
  /** vmkeep tags from the domain's metadata. */
  tags?: readonly string[];
  /** Backups of a domain libvirt no longer defines (renamed or undefined). */
  gone?: { renamedTo: string | undefined };
}

const size = (n: number | undefined) => (n === undefined ? '-' : prettyBytes(n, { binary: true }));

/** One block per domain: state and verdict, disks, checkpoints, problems with their fixes. */
export function renderStatusText(entries: ReadonlyMap<string, StatusEntry>, colour: boolean): string {
  const paint = (code: number, s: string) => (colour ? `\u001b[${code}m${s}\u001b[0m` : s);
  const out: string[] = [];
  for (const [name, entry] of entries) {
    if (entry.gone) {
      const renamed = entry.gone.renamedTo !== undefined ? `, renamed to ${printable(entry.gone.renamedTo)}` : '';
      out.push(`${printable(name)}  (not defined in libvirt${renamed})`);
      if (entry.backups) out.push(...renderBackups(entry.backups));
      out.push(
        `  note: its backups stay under this name; prune applies the retention rules and always keeps the newest complete chain; remove the folder by hand once it is no longer needed`,
        '',
      );
      continue;
    }
    if (!entry.status) {
      out.push(`${printable(name)}: ${paint(31, `error: ${entry.error ?? 'unknown'}`)}`, '');
      continue;
    }
    const s = entry.status;
    const verdict = s.consistency.consistent ? paint(32, 'consistent') : paint(31, 'INCONSISTENT');
    out.push(`${name}  (${s.state})  ${verdict}`);
    // VMSnap's wording, kept so that scripts grepping VMSnap's status text still match.
    out.push(`  Overall status: ${s.overallStatus === 0 ? paint(32, 'OK') : paint(31, 'INCONSISTENT')}`);
    if (entry.tags !== undefined) out.push(`  tags: ${entry.tags.length === 0 ? 'none' : entry.tags.join(', ')}`);
    out.push(`  checkpoints: ${s.checkpoints.length === 0 ? 'none' : s.checkpoints.join(', ')}`);
    for (const d of s.disks) {
      const what = d.eligible ? 'eligible for backup' : `skipped: ${d.excludedBy.join(', ')}`;
      out.push(`  disk ${d.disk}: ${d.format ?? '?'} ${size(d.virtualSize)} virtual, ${size(d.actualSize)} on disk, ${what}`);
      if (d.path) out.push(`    source: ${d.path}`);
      if (d.eligible) {
        out.push(`    bitmaps (${d.bitmapSource}): ${d.bitmaps.length === 0 ? 'none' : d.bitmaps.join(', ')}`);
        if (d.changedSinceLatestCheckpoint !== undefined) {
          out.push(`    changed since ${s.checkpoints.at(-1)}: ${size(d.changedSinceLatestCheckpoint)}`);
        }
      }
      for (const e of d.errors) out.push(`    ${paint(31, `error: ${e}`)}`);
    }
    for (const w of s.warnings) out.push(`  ${paint(33, 'WARNING')}: ${w}`);
    for (const p of s.consistency.problems) {
      out.push(`  ${paint(31, 'problem')}: ${p.message}`);
      out.push(`    fix: ${p.fix}`);
    }
    if (entry.backups) out.push(...renderBackups(entry.backups));
    out.push('');
  }
  return out.join('\n');
}

/** Folders an interrupted prune left: their bytes are still on disk. */
function renderPendingRemoval(b: BackupSummary): string[] {
  return (b.pendingRemoval ?? []).map((r) => `    ${r.folder}: ${size(r.bytes)} left by an interrupted prune (the next prune removes it)`);
}

function renderBackups(b: BackupSummary): string[] {
  const former = (b.formerNames ?? []).map(
    (n) => `    backups under its old name ${n} (renamed since): ${join(b.directory, n)}; list them with vmkeep list --domains ${n}`,
  );
  const next = b.nextEngine ? [`    next backup: ${b.nextEngine.engine} (${b.nextEngine.reason})`] : [];
  if (b.chains.length === 0) return [`  backups in ${b.directory}: none under this name`, ...next, ...renderPendingRemoval(b), ...former];
  const lines = [`  backups in ${b.directory}: ${b.chains.length} chain(s), ${b.restorePoints} restore point(s), ${size(b.sizeOnDisk)}`];
  if (b.lastBackup) {
    const frozen = b.lastBackup.quiesced === null ? '' : b.lastBackup.quiesced ? ', filesystems frozen' : ', not quiesced (crash-consistent)';
    const label = b.lastBackup.label === null ? '' : `, label ${b.lastBackup.label}`;
    lines.push(`    last backup: ${b.lastBackup.time} (${b.lastBackup.age} ago${label}${frozen})`);
  }
  lines.push(...next);
  if (b.futureDated && b.futureDated.length > 0) {
    const latest = b.futureDated.reduce((a, x) => (Date.parse(x.time) > Date.parse(a.time) ? x : a));
    lines.push(
      `    warning: ${b.futureDated.length} point(s) dated in the future (latest ${latest.chain}/${latest.checkpoint} at ${latest.time}): the host clock ran ahead; the last recorded point counts as the newest`,
    );
  }
  for (const c of b.chains) {
    lines.push(`    ${c.folder}: ${c.state}, ${c.points} point(s), ${size(c.sizeOnDisk)}${c.note ? ` (${c.note})` : ''}`);
  }
  lines.push(...renderPendingRemoval(b));
  if (b.lastVerify) lines.push(`    last verify: ${b.lastVerify.result} at ${b.lastVerify.time} (${b.lastVerify.chain})`);
  if (b.lastBootVerify) {
    const bv = b.lastBootVerify;
    lines.push(
      `    last boot proof: ${bv.result === 'ok' ? 'booted' : `did not boot (${bv.reason ?? 'no reason recorded'})`} at ${bv.time} (${bv.chain}/${bv.checkpoint})`,
    );
  }
  lines.push(...former);
  for (const r of b.replication ?? []) {
    const notSent = r.pointsNotReplicated > 0 ? `, ${r.pointsNotReplicated} not sent` : '';
    const forgotten = r.pointsForgotten > 0 ? `, ${r.pointsForgotten} forgotten there` : '';
    if (r.lagSeconds === null || r.lastReplicated === null) {
      lines.push(`    replicated to ${r.repository}: holds none of these points${forgotten}${notSent}`);
      continue;
    }
    const lag = r.lagSeconds === 0 ? 'up to date' : `${Math.round(r.lagSeconds / 3600)} h behind`;
    lines.push(`    replicated to ${r.repository}: ${r.pointsReplicated} points, last sent ${r.lastReplicated}, ${lag}${forgotten}${notSent}`);
  }
  return lines;
}
