/**
 * What the repository says about a chain must match what is on disk and in libvirt, on real
 * backups of real domains:
 * - a chain whose full (or, for push, a middle image) is gone is damaged: backup starts a new
 *   full naming the missing file, status and list say so, check is CRITICAL without a verify;
 * - points made while the host clock ran ahead (VMKEEP_NOW a month on, then the real clock): the
 *   last recorded point stays "newest" for prune, restore, --if-older-than and check;
 * - a renamed domain's old folder is named by status and list, and prune says what it does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, chainFolders, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import type { DomainResult } from '../../src/backup/run-backup.js';
import { createTestDomain, destroyDomain, imagesIdentical, referenceCopy, virsh, writeGuestData, type TestDomain } from '../helpers/libvirt.js';

const lockDir = useLockDirAndCleanup();
const env = (now?: string) => ({ VMKEEP_LOCK_DIR: lockDir, ...(now ? { VMKEEP_NOW: now } : {}) });

interface StatusChain {
  folder: string;
  state: string;
  points: number;
  note?: string;
}
interface StatusDoc {
  backups?: {
    chains: StatusChain[];
    lastBackup?: { chain: string; checkpoint: string; ageSeconds: number };
    futureDated?: Array<{ chain: string; checkpoint: string; time: string }>;
    formerNames?: string[];
  };
  defined?: boolean;
}
interface ListDoc {
  domains: Array<{ domain: string; defined?: boolean; points: Array<{ id: string; chain: string; state: string; damage?: string }> }>;
}
interface CheckDoc {
  state: number;
  line: string;
}

async function status(dom: string, out: string, now?: string): Promise<StatusDoc> {
  const run = await runVmkeep(['status', '--domains', dom, '--output', out, '--json'], { env: env(now) });
  return parseJsonOutput<Record<string, StatusDoc>>(run)[dom]!;
}

async function check(dom: string, out: string): Promise<CheckDoc & { code: number }> {
  const run = await runVmkeep(['check', '--domains', dom, '--output', out, '--warning', '2d', '--critical', '4d', '--json'], { env: env() });
  return { ...parseJsonOutput<CheckDoc>(run), code: run.code };
}

describe('a chain with a recorded file gone', () => {
  let dom: TestDomain;
  let out: string;
  beforeAll(async () => {
    dom = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] });
    out = path.join(dom.dir, 'backups');
  });

  it('virtnbdbackup chain without vda.full.data: backup starts a new full naming the file; status, list and check say damaged', async () => {
    for (const [i, pattern] of [0x21, 0x22].entries()) {
      await writeGuestData(dom, 'vda', { pattern, offset: i * 4 * MiB, length: 4 * MiB });
      expect(expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir })).results[0]).toMatchObject({
        result: 'done',
        level: i === 0 ? 'full' : 'inc',
      });
    }
    const [chain] = chainFolders(out, dom.name) as [string];
    const moved = path.join(dom.dir, 'vda.full.data.moved');
    fs.renameSync(path.join(out, dom.name, chain, 'vda.full.data'), moved);

    const run = await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir });
    const r = expectDocument(run).results[0]!;
    expect(r).toMatchObject({ result: 'done', level: 'full' });
    expect(r.chain).not.toBe(chain);
    expect(r.reasons!.join(' ')).toMatch(/vda\.full\.data is missing/);

    const s = await status(dom.name, out);
    const damaged = s.backups!.chains.find((c) => c.folder === chain)!;
    expect(damaged.state).toBe('broken');
    expect(damaged.note).toMatch(/damaged: vda\.full\.data is missing/);
    expect(s.backups!.chains.find((c) => c.folder === r.chain)!.state).toBe('complete');

    const list = parseJsonOutput<ListDoc>(await runVmkeep(['list', '--output', out, '--domains', dom.name, '--json']));
    const old = list.domains[0]!.points.filter((p) => p.chain === chain);
    expect(old).toHaveLength(2);
    for (const p of old) {
      expect(p.state).toBe('broken');
      expect(p.damage).toMatch(/vda\.full\.data is missing/);
    }
    const listText = (await runVmkeep(['list', '--output', out, '--domains', dom.name])).stdout;
    expect(listText).toMatch(/damaged: vda\.full\.data is missing/);

    const c = await check(dom.name, out);
    expect(c.code).toBe(2);
    expect(c.line).toMatch(/^VMKEEP CRITICAL/);
    expect(c.line).toMatch(/vda\.full\.data is missing/);

    // The file back: the chain is whole again (nothing was written into it meanwhile).
    fs.renameSync(moved, path.join(out, dom.name, chain, 'vda.full.data'));
    expect((await status(dom.name, out)).backups!.chains.find((x) => x.folder === chain)!.state).toBe('complete');
  });

  it('push chain without its middle image: backup starts a new full naming the file, not "Could not open backing image"', async () => {
    const pushDom = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] });
    const pushOut = path.join(pushDom.dir, 'backups');
    const ids: string[] = [];
    for (const [i, pattern] of [0x31, 0x32, 0x33].entries()) {
      await writeGuestData(pushDom, 'vda', { pattern, offset: i * 2 * MiB, length: 2 * MiB });
      const r = expectDocument(await backupCli(['--domains', pushDom.name, '--output', pushOut, '--json', '--engine', 'push'], { lockDir })).results[0]!;
      expect(r).toMatchObject({ result: 'done', level: i === 0 ? 'full' : 'inc' });
      ids.push(r.checkpoint!);
    }
    const [chain] = chainFolders(pushOut, pushDom.name) as [string];
    const middle = `vda.${ids[1]!}.qcow2`;
    fs.renameSync(path.join(pushOut, pushDom.name, chain, middle), path.join(pushDom.dir, 'middle.moved'));

    const r = expectDocument(await backupCli(['--domains', pushDom.name, '--output', pushOut, '--json', '--engine', 'push'], { lockDir })).results[0]!;
    expect(r).toMatchObject({ result: 'done', level: 'full' });
    expect(r.chain).not.toBe(chain);
    expect(r.reasons!.join(' ')).toContain(`${middle} is missing`);

    const s = await status(pushDom.name, pushOut);
    expect(s.backups!.chains.find((c) => c.folder === chain)!.note).toContain(`${middle} is missing`);
    const list = parseJsonOutput<ListDoc>(await runVmkeep(['list', '--output', pushOut, '--domains', pushDom.name, '--json']));
    const points = list.domains[0]!.points.filter((p) => p.chain === chain);
    // The point before the missing image still restores: only it and what stands on it are damaged.
    expect(points.map((p) => p.damage === undefined)).toEqual([true, false, false]);
    const c = await check(pushDom.name, pushOut);
    expect(c.code).toBe(2);
    expect(c.line).toContain(`${middle} is missing`);
  });
});

describe('points made while the host clock ran ahead', () => {
  let dom: TestDomain;
  let out: string;
  let newestRef: string;
  let realChain: string;
  let ifOlderPlan: DomainResult;
  let realRun: DomainResult;
  // A month and a bit ahead: another period, as a clock that ran ahead then was put right.
  const ahead = new Date(Date.now() + 35 * 86400_000);
  const aheadIso = (plusHours: number) => new Date(ahead.getTime() + plusHours * 3600_000).toISOString();

  beforeAll(async () => {
    dom = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] });
    out = path.join(dom.dir, 'backups');
    for (const [i, pattern] of [0x41, 0x42].entries()) {
      await writeGuestData(dom, 'vda', { pattern, offset: i * 4 * MiB, length: 4 * MiB });
      expect(expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir, now: aheadIso(i) })).results[0]).toMatchObject({
        result: 'done',
      });
    }
    // The clock is right again: what would a cron run with --if-older-than do?
    ifOlderPlan = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json', '--if-older-than', '1d', '--dry-run'], { lockDir }))
      .results[0]!;
    await writeGuestData(dom, 'vda', { pattern: 0x43, offset: 1 * MiB, length: 6 * MiB });
    newestRef = path.join(dom.dir, 'newest.qcow2');
    await referenceCopy(dom, 'vda', newestRef);
    realRun = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir })).results[0]!;
    expect(realRun.result).toBe('done');
    realChain = realRun.chain!;
  });

  it('--if-older-than does not skip for weeks because of a point dated in the future', () => {
    expect(ifOlderPlan.result).toBe('planned');
    expect(ifOlderPlan.reasons!.join(' ')).toMatch(/dated in the future/);
  });

  it('the backup after the clock was put back says that the last point is dated in the future', () => {
    const said = [...(realRun.reasons ?? []), ...(realRun.notes ?? [])].join(' ');
    expect(said).toMatch(/dated in the future/);
    expect(said).toMatch(/clock/);
  });

  it('status names the last recorded point as the last backup and flags the future-dated ones; check warns', async () => {
    const s = await status(dom.name, out);
    expect(s.backups!.lastBackup!.chain).toBe(realChain);
    expect(s.backups!.lastBackup!.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(s.backups!.futureDated!.length).toBe(2);
    const c = await check(dom.name, out);
    expect(c.code).toBe(1);
    expect(c.line).toMatch(/^VMKEEP WARNING/);
    expect(c.line).toMatch(/dated in the future/);
    expect(c.line).not.toMatch(/-\d+s ago/);
  });

  it('restore without --at restores the last recorded point, byte for byte', async () => {
    const to = path.join(dom.dir, 'restored');
    const run = await runVmkeep(['restore', '--domain', dom.name, '--output', out, '--to', to, '--json'], { env: env(), timeoutMs: 600_000 });
    expect(run.code, run.stderr).toBe(0);
    const doc = parseJsonOutput<{ point: { id: string }; images: Array<{ path: string }> }>(run);
    expect(doc.point.id.startsWith(`${realChain}/`)).toBe(true);
    expect(await imagesIdentical(doc.images[0]!.path, newestRef)).toBe(true);
  });

  it('prune --keep-last 1 keeps the last recorded point and removes the future-dated chain', async () => {
    const run = await runVmkeep(['prune', '--output', out, '--domains', dom.name, '--keep-last', '1', '--json'], { env: env() });
    expect(run.code, run.stderr).toBe(0);
    expect(chainFolders(out, dom.name)).toEqual([realChain]);
  });
});

describe('a renamed domain', () => {
  it('status and list name the old folder as backups of a domain libvirt no longer defines; prune says what it does', async () => {
    const dom = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] });
    const out = path.join(dom.dir, 'backups');
    await writeGuestData(dom, 'vda', { pattern: 0x51, offset: 0, length: 2 * MiB });
    expect(expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir })).results[0]).toMatchObject({ result: 'done' });
    await destroyDomain(dom);
    const renamed = `${dom.name}-renamed`;
    await virsh(['domrename', dom.name, renamed]);

    const s = await status(renamed, out);
    expect(s.backups!.formerNames).toEqual([dom.name]);
    const text = (await runVmkeep(['status', '--domains', renamed, '--output', out], { env: env() })).stdout;
    expect(text).toContain(`${path.join(out, dom.name)}`);
    expect(text).toMatch(/renamed/);

    const all = parseJsonOutput<Record<string, StatusDoc>>(await runVmkeep(['status', '--output', out, '--json'], { env: env(), timeoutMs: 300_000 }));
    expect(all[dom.name]).toMatchObject({ defined: false });
    expect(all[dom.name]!.backups!.chains).toHaveLength(1);

    const list = parseJsonOutput<ListDoc>(await runVmkeep(['list', '--output', out, '--json']));
    expect(list.domains).toHaveLength(1);
    expect(list.domains[0]).toMatchObject({ domain: dom.name, defined: false });
    expect((await runVmkeep(['list', '--output', out])).stdout).toMatch(/no longer defined in libvirt/);

    const prune = await runVmkeep(['prune', '--output', out, '--keep-last', '1', '--dry-run', '--json'], { env: env() });
    expect(prune.code, prune.stderr).toBe(0);
    const plan = parseJsonOutput<{ plan: { warnings: string[] } }>(prune).plan;
    expect(plan.warnings.join(' ')).toMatch(new RegExp(`${dom.name}.*no longer defined in libvirt`));
  });
});
