/**
 * planBackup when --disks/--exclude-disks change between runs: a disk left out by selection can
 * still carry vmkeep's bitmaps (seen for real: chain of [vda], then [vdb], then [vda] again failed
 * with "Bitmap already exists: virtnbdbackup.0" before the planner looked at such disks).
 */
import { describe, expect, it } from 'vitest';
import { planBackup } from '../../../src/backup/plan-backup.js';
import { cp, disk, inventory } from './builders.js';

const NOW = new Date('2026-03-10T00:00:00Z');
const request = { groupBy: 'month' as const, ifOlderThan: undefined };

describe('disks left out by selection', () => {
  it('a checkpoint whose bitmap is only on a selected-out disk goes with that bitmap', () => {
    // Last chain backed up vda only; now only vdb is selected.
    const inv = inventory({ disks: [disk('vda', [cp(0)], { excludedBy: ['not-selected'] }), disk('vdb', [])], checkpoints: [cp(0)] });
    const plan = planBackup(inv, request, NOW);
    expect(plan.action).toBe('backup');
    if (plan.action !== 'backup') return;
    expect(plan.repairs.map((r) => [r.kind, 'disk' in r ? r.disk : 'metadataOnly' in r ? r.metadataOnly : undefined])).toEqual([
      ['delete-checkpoint', true],
      ['remove-bitmap', 'vda'],
    ]);
    expect(plan.excluded).toEqual([{ disk: 'vda', why: ['not-selected'] }]);
  });

  it('an orphan bitmap on a selected-out disk is removed before a new chain', () => {
    const inv = inventory({ disks: [disk('vda', []), disk('vdb', [cp(3)], { excludedBy: ['excluded'] })], checkpoints: [] });
    const plan = planBackup(inv, request, NOW);
    if (plan.action !== 'backup') throw new Error('expected a backup plan');
    expect(plan.repairs).toEqual([expect.objectContaining({ kind: 'remove-bitmap', disk: 'vdb', name: cp(3) })]);
  });
});
