/**
 * Retention on a real repository: chains in three periods made by real backups of a running
 * domain (VMKEEP_NOW moves the clock), then prune (and the report it writes after the run with
 * --report-html), protect, and a failed backup.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, virsh, writeGuestData, type TestDomain } from '../helpers/libvirt.js';

const chainsOf = (out: string, dom: string) =>
  readdirSync(join(out, dom))
    .filter((f) => !f.startsWith('.'))
    .sort();

interface PrunePlanDoc {
  dryRun: boolean;
  removed?: string[];
  plan: {
    warnings: string[];
    domains: Array<{ domain: string; keep: Array<{ id: string; reasons: string[] }>; remove: Array<{ id: string; reasons: string[] }> }>;
  };
}

let dom: TestDomain;
let out: string;
const lockDir = mkdtempSync('/tmp/vmkeep-prune-locks-');
const env = (now: string) => ({ VMKEEP_NOW: now, VMKEEP_LOCK_DIR: lockDir });

beforeAll(async () => {
  dom = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] });
  out = mkdtempSync('/var/tmp/vmkeep-prune-out-');
  for (const [i, now] of ['2026-08-10T03:00:00Z', '2026-09-10T03:00:00Z', '2026-10-10T03:00:00Z', '2026-10-11T03:00:00Z'].entries()) {
    await writeGuestData(dom, 'vda', { pattern: 0x10 + i, offset: i << 20, length: 1 << 20 });
    const run = await runVmkeep(['backup', '--domains', dom.name, '--output', out], { env: env(now) });
    expect(run.code, run.stderr).toBe(0);
  }
}, 240_000);

afterAll(async () => {
  await cleanupAll();
  rmSync(out, { recursive: true, force: true });
  rmSync(lockDir, { recursive: true, force: true });
});

describe('prune on a real repository', () => {
  it('has three monthly chains, the newest with two points', async () => {
    expect(chainsOf(out, dom.name)).toEqual(['vmsnap-backup-monthly-2026-08', 'vmsnap-backup-monthly-2026-09', 'vmsnap-backup-monthly-2026-10']);
    const list = parseJsonOutput<{ domains: Array<{ points: Array<{ id: string }> }> }>(await runVmkeep(['list', '--output', out, '--json']));
    expect(list.domains[0]!.points.map((p) => p.id)).toEqual([
      'vmsnap-backup-monthly-2026-08/virtnbdbackup.0',
      'vmsnap-backup-monthly-2026-09/virtnbdbackup.0',
      'vmsnap-backup-monthly-2026-10/virtnbdbackup.0',
      'vmsnap-backup-monthly-2026-10/virtnbdbackup.1',
    ]);
  });

  it('a dry run shows the plan with reasons and removes nothing', async () => {
    const run = await runVmkeep(['prune', '--output', out, '--keep-last', '1', '--dry-run', '--json'], { env: env('2026-10-12T03:00:00Z') });
    expect(run.code).toBe(0);
    const doc = parseJsonOutput<PrunePlanDoc>(run);
    const plan = doc.plan.domains[0]!;
    expect(plan.remove.map((c) => c.id)).toEqual(['vmsnap-backup-monthly-2026-08', 'vmsnap-backup-monthly-2026-09']);
    expect(plan.keep.map((c) => c.id)).toEqual(['vmsnap-backup-monthly-2026-10']);
    expect(plan.keep[0]!.reasons.join(' ')).toMatch(/newest complete chain/);
    expect(chainsOf(out, dom.name)).toHaveLength(3);
  });

  it('a protected chain survives a policy that would remove it; prune removes exactly the planned chains; list and status agree', async () => {
    const prot = await runVmkeep(['protect', 'vmsnap-backup-monthly-2026-08', '--domain', dom.name, '--output', out]);
    expect(prot.code, prot.stderr).toBe(0);
    const planned = parseJsonOutput<PrunePlanDoc>(
      await runVmkeep(['prune', '--output', out, '--keep-last', '1', '--dry-run', '--json'], { env: env('2026-10-12T03:00:00Z') }),
    );
    const toRemove = planned.plan.domains[0]!.remove.map((c) => c.id);
    expect(toRemove).toEqual(['vmsnap-backup-monthly-2026-09']);
    expect(planned.plan.domains[0]!.keep.find((c) => c.id === 'vmsnap-backup-monthly-2026-08')!.reasons.join(' ')).toMatch(/protected/);

    // --report-html: the folder's report is written after the prune, so it shows what prune left.
    const report = join(dom.dir, 'report.html');
    const run = await runVmkeep(['prune', '--output', out, '--keep-last', '1', '--json', '--verbose', '--report-html', report], {
      env: env('2026-10-12T03:00:00Z'),
    });
    expect(run.code, run.stderr).toBe(0);
    expect(parseJsonOutput<PrunePlanDoc>(run).removed).toEqual(toRemove.map((c) => `${dom.name}/${c}`));
    expect(chainsOf(out, dom.name)).toEqual(['vmsnap-backup-monthly-2026-08', 'vmsnap-backup-monthly-2026-10']);
    expect(run.stderr).toContain(`report written to ${report}`);
    expect(run.stderr).toMatch(/after the run: writing the HTML report \d/);
    const html = readFileSync(report, 'utf8');
    expect(html).toContain(`>${dom.name}</a>`);
    expect(html).toContain('vmsnap-backup-monthly-2026-08/virtnbdbackup.0');
    expect(html).toContain('vmsnap-backup-monthly-2026-10/virtnbdbackup.1');
    expect(html).not.toContain('vmsnap-backup-monthly-2026-09');

    const list = parseJsonOutput<{ domains: Array<{ points: Array<{ chain: string }> }> }>(await runVmkeep(['list', '--output', out, '--json']));
    const status = parseJsonOutput<Record<string, { backups: { chains: Array<{ folder: string }>; restorePoints: number } }>>(
      await runVmkeep(['status', '--domains', dom.name, '--output', out, '--json'], { env: env('2026-10-12T03:00:00Z') }),
    );
    const listChains = [...new Set(list.domains[0]!.points.map((p) => p.chain))];
    expect(status[dom.name]!.backups.chains.map((c) => c.folder)).toEqual(listChains);
    expect(status[dom.name]!.backups.restorePoints).toBe(list.domains[0]!.points.length);
  });

  it('after a failed backup, prune removes nothing (and --force overrides)', async () => {
    // virtnbdbackup refuses to run while a checkpoint it did not make exists: a real, repeatable failure.
    await virsh(['checkpoint-create-as', '--domain', dom.uuid, '--name', 'foreign-checkpoint']);
    const failed = await runVmkeep(['backup', '--domains', dom.name, '--output', out, '--json'], { env: env('2026-10-13T03:00:00Z') });
    expect(failed.code).toBe(2);
    expect(parseJsonOutput<{ results: Array<{ result: string }> }>(failed).results[0]!.result).toBe('failed');
    await virsh(['checkpoint-delete', '--domain', dom.uuid, '--checkpointname', 'foreign-checkpoint', '--metadata']);

    await runVmkeep(['unprotect', 'vmsnap-backup-monthly-2026-08', '--domain', dom.name, '--output', out]);
    const run = await runVmkeep(['prune', '--output', out, '--keep-last', '1', '--json'], { env: env('2026-10-13T04:00:00Z') });
    expect(run.code).toBe(0);
    const doc = parseJsonOutput<PrunePlanDoc>(run);
    expect(doc.removed, `${failed.stdout}\n${failed.stderr}\n${run.stdout}`).toEqual([]);
    expect(doc.plan.warnings.join(' ')).toMatch(/latest backup failed/);
    expect(chainsOf(out, dom.name)).toHaveLength(2);

    const forced = await runVmkeep(['prune', '--output', out, '--keep-last', '1', '--force', '--json'], { env: env('2026-10-13T04:00:00Z') });
    expect(parseJsonOutput<PrunePlanDoc>(forced).removed).toEqual([`${dom.name}/vmsnap-backup-monthly-2026-08`]);
  });
});
