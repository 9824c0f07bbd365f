/** The scrub report for people: per domain what was (or would be) removed, skipped, and left. */
import type { ScrubActionReport, ScrubDocument, ScrubRemaining } from './types.js';

const PAST: Record<ScrubActionReport['action'], string> = {
  'delete-checkpoint': 'deleted checkpoint',
  'delete-checkpoint-metadata': 'deleted checkpoint metadata',
  'remove-bitmap': 'removed bitmap',
  'skip-checkpoint': 'skipped checkpoint',
  'skip-bitmap': 'skipped bitmap',
};

const PLANNED: Record<ScrubActionReport['action'], string> = {
  'delete-checkpoint': 'would delete checkpoint',
  'delete-checkpoint-metadata': 'would delete checkpoint metadata',
  'remove-bitmap': 'would remove bitmap',
  'skip-checkpoint': 'would skip checkpoint',
  'skip-bitmap': 'would skip bitmap',
};

const FAILED: Record<ScrubActionReport['action'], string> = {
  'delete-checkpoint': 'FAILED to delete checkpoint',
  'delete-checkpoint-metadata': 'FAILED to delete checkpoint metadata',
  'remove-bitmap': 'FAILED to remove bitmap',
  'skip-checkpoint': 'skipped checkpoint', // never failed: a skip does nothing
  'skip-bitmap': 'skipped bitmap',
};

/** Render the scrub document as text (stdout without --json/--yaml). */
export function renderScrubText(document: ScrubDocument, options: { dryRun: boolean }): string {
  const names = Object.keys(document);
  if (names.length === 0) return 'scrub: no domains to scrub\n';
  const lines: string[] = [];
  for (const name of names) {
    const r = document[name]!;
    const verdict = options.dryRun ? (r.ok ? 'would be clean' : 'would NOT be clean') : r.ok ? 'clean' : 'NOT CLEAN';
    lines.push(`${name} (${r.state}): ${verdict}`);
    if (r.actions.length === 0 && !r.error) lines.push('  nothing to scrub');
    for (const a of r.actions) lines.push(`  ${actionLine(a, options.dryRun)}`);
    if (r.error) lines.push(`  error: ${r.error}`);
    if (r.remaining) lines.push(`  ${options.dryRun ? 'would be left' : 'left'}: ${remainingLine(r.remaining)}`);
  }
  const ok = names.filter((n) => document[n]!.ok).length;
  lines.push(
    options.dryRun ? `dry run: nothing changed; ${ok} of ${names.length} domain(s) would be clean` : `scrub: ${ok} of ${names.length} domain(s) clean`,
  );
  return `${lines.join('\n')}\n`;
}

function actionLine(a: ScrubActionReport, dryRun: boolean): string {
  const skip = a.action === 'skip-checkpoint' || a.action === 'skip-bitmap';
  const failed = !dryRun && !skip && !a.done;
  const verb = dryRun ? PLANNED[a.action] : failed ? FAILED[a.action] : PAST[a.action];
  const what = a.disk === undefined ? a.target : `${a.target} on ${a.disk}`;
  return `${verb} ${what}: ${failed ? (a.error ?? 'not done') : a.reason}`;
}

function remainingLine(r: ScrubRemaining): string {
  const checkpoints = r.checkpoints.length > 0 ? r.checkpoints.join(', ') : 'none';
  const disks = Object.entries(r.bitmaps);
  const bitmaps = disks.length === 0 ? 'no qcow2 disks' : disks.map(([disk, names]) => `${disk}: ${names.length > 0 ? names.join(', ') : 'none'}`).join('; ');
  return `checkpoints ${checkpoints}; bitmaps ${bitmaps}`;
}
