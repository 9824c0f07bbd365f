import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { estimateSpace } from '../../../src/backup/estimate-space.js';
import type { DomainBackupPlan } from '../../../src/backup/plan-backup.js';
import { createContext } from '../../../src/app/context.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { chain, cps, disk, inventory } from './builders.js';

type BackupPlan = Extract<DomainBackupPlan, { action: 'backup' }>;

const output = mkdtempSync(join(tmpdir(), 'vmkeep-estimate-'));
afterAll(() => rmSync(output, { recursive: true, force: true }));
const folder = 'vmsnap-backup-monthly-2026-03';

function contextWith(runner: FakeRunner) {
  return createContext({
    runner,
    uri: 'qemu:///system',
    now: () => new Date(0),
    log: createMemoryLogger(),
    interactive: false,
    signal: new AbortController().signal,
  });
}

describe('estimateSpace of an incremental', () => {
  it('sums the changed bytes QEMU counted when the domain was read, without asking QEMU again', async () => {
    const runner = new FakeRunner();
    const inv = inventory({
      disks: [
        { ...disk('vda', cps(0, 1)), changedBytes: { [cps(1)[0]!]: 10 * 1024 * 1024, [cps(0)[0]!]: 99 } },
        { ...disk('vdb', cps(0, 1)), changedBytes: { [cps(1)[0]!]: 65536 } },
      ],
      chains: [chain(folder, cps(0, 1))],
    });
    const plan = { action: 'backup', level: 'inc', folder } as BackupPlan;
    const estimate = await estimateSpace(contextWith(runner), inv, plan, output, false);
    expect(estimate).toMatchObject({ neededBytes: 10 * 1024 * 1024 + 65536, basis: `the bytes changed since ${cps(1)[0]!}` });
    expect(estimate!.freeBytes).toBeGreaterThan(0);
    expect(runner.calls).toEqual([]);
  });

  it('asks QEMU when a disk has no count for the last checkpoint (a shut-off domain read from its image)', async () => {
    const runner = new FakeRunner();
    const inv = inventory({ disks: [disk('vda', cps(0, 1))], chains: [chain(folder, cps(0, 1))] });
    const plan = { action: 'backup', level: 'inc', folder } as BackupPlan;
    // The fake runner answers nothing: the question is asked, and without an answer there is no estimate.
    expect(await estimateSpace(contextWith(runner), inv, plan, output, false)).toBeUndefined();
    expect(runner.calls.map((c) => c.argv.join(' '))).toEqual([expect.stringContaining('query-named-block-nodes')]);
  });
});
