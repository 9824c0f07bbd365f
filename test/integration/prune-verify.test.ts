/**
 * The review's repro on real libvirt: three chains of one month in one output folder (a scrub of
 * the domain's checkpoints between them forces a new chain), one flipped byte in the newest
 * chain's full, `vmkeep verify` fails that chain. Then status and check must report the failure
 * although the other chains passed in the same run, and `prune --keep-last 1` must keep the
 * sound `.2` (the anchor) and hold the failed `.3`, and `.2`'s points must still restore.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainFolders, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, imagesIdentical, referenceCopy, writeGuestData, type TestDomain } from '../helpers/libvirt.js';

const MiB = 1024 * 1024;
const BASE = 'vmsnap-backup-monthly-2026-11';
const SOUND = `${BASE}.2`;
const FAILED = `${BASE}.3`;
const VERIFY_AT = '2026-11-14T03:00:00Z';
const HELD = `failed its last verify on ${new Date(VERIFY_AT).toISOString()}: kept for inspection; remove it by hand after checking`;

interface PrunePlanDoc {
  removed?: string[];
  plan: { warnings: string[]; domains: Array<{ keep: Array<{ id: string; reasons: string[] }>; remove: Array<{ id: string; reasons: string[] }> }> };
}

let dom: TestDomain;
let out: string;
const lockDir = makeLockDir();
const env = (now: string) => ({ VMKEEP_NOW: now, VMKEEP_LOCK_DIR: lockDir });
/** Reference copies of the disk at each point of the sound chain, by checkpoint. */
const refs = new Map<string, string>();

async function backupAt(now: string, pattern: number, offsetMiB: number): Promise<{ chain: string; checkpoint: string }> {
  await writeGuestData(dom, 'vda', { pattern, offset: offsetMiB * MiB, length: MiB });
  const doc = expectDocument(await runVmkeep(['backup', '--domains', dom.name, '--output', out, '--json'], { env: env(now) }));
  return { chain: doc.results[0]!.chain!, checkpoint: doc.results[0]!.checkpoint! };
}

/** Remove every vmkeep checkpoint and bitmap of the domain: the next backup has to start a new chain. */
async function scrubAll(): Promise<void> {
  const run = await runVmkeep(['scrub', '--domains', dom.name, '--scrubType', '*', '--json'], { env: { VMKEEP_LOCK_DIR: lockDir } });
  expect(run.code, run.stderr).toBe(0);
}

beforeAll(async () => {
  dom = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] });
  out = path.join(dom.dir, 'out');
  expect(await backupAt('2026-11-10T03:00:00Z', 0x31, 0)).toEqual({ chain: BASE, checkpoint: 'virtnbdbackup.0' });
  await scrubAll();
  for (const [i, now] of ['2026-11-11T03:00:00Z', '2026-11-12T03:00:00Z'].entries()) {
    await writeGuestData(dom, 'vda', { pattern: 0x41 + i, offset: (4 + i) * MiB, length: MiB });
    const ref = path.join(dom.dir, `ref-sound-${i}.qcow2`);
    await referenceCopy(dom, 'vda', ref);
    const doc = expectDocument(await runVmkeep(['backup', '--domains', dom.name, '--output', out, '--json'], { env: env(now) }));
    expect(doc.results[0]).toMatchObject({ chain: SOUND, checkpoint: `virtnbdbackup.${i}` });
    refs.set(`virtnbdbackup.${i}`, ref);
  }
  await scrubAll();
  expect(await backupAt('2026-11-13T03:00:00Z', 0x51, 8)).toEqual({ chain: FAILED, checkpoint: 'virtnbdbackup.0' });
  expect(chainFolders(out, dom.name)).toEqual([BASE, SOUND, FAILED]);

  // One flipped byte inside the newest chain's full.
  const file = path.join(out, dom.name, FAILED, 'vda.full.data');
  const buf = fs.readFileSync(file);
  const at = Math.floor(buf.length / 2);
  buf[at] = buf[at]! ^ 0x01;
  fs.writeFileSync(file, buf);
}, 300_000);

afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

describe('a chain verify failed, beside sound ones, on a real repository', () => {
  it('verify fails .3 only and records it in its manifest', async () => {
    const run = await runVmkeep(['verify', '--output', out, '--json'], { env: env(VERIFY_AT) });
    expect(run.code).not.toBe(0);
    const doc = parseJsonOutput<{ chains: Array<{ chain: string; result: string; brokenPoints: string[] }> }>(run);
    expect(doc.chains.map((c) => [c.chain, c.result])).toEqual([
      [BASE, 'ok'],
      [SOUND, 'ok'],
      [FAILED, 'failed'],
    ]);
    expect(doc.chains[2]!.brokenPoints).toEqual([`${FAILED}/virtnbdbackup.0`]);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, dom.name, FAILED, 'vmkeep-manifest.json'), 'utf8')) as {
      lastVerify: { result: string; time: string };
    };
    expect(manifest.lastVerify).toMatchObject({ result: 'failed', time: new Date(VERIFY_AT).toISOString() });

    // The report after the run: written after a failed verify too, and it shows that verify; the
    // exit code stays the one the verify earned, also when the report cannot be written.
    const report = path.join(dom.dir, 'report.html');
    const withReport = await runVmkeep(['verify', '--output', out, '--report-html', report], { env: env(VERIFY_AT) });
    expect(withReport.code, withReport.stderr).toBe(run.code);
    expect(withReport.stderr).toContain(`report written to ${report}`);
    const html = fs.readFileSync(report, 'utf8');
    expect(html).toContain(`>${dom.name}</a>`);
    expect(html).toContain(`last verify failed (${FAILED})`);
    const missing = path.join(dom.dir, 'no-such-folder', 'report.html');
    const lost = await runVmkeep(['verify', '--output', out, '--report-html', missing], { env: env(VERIFY_AT) });
    expect(lost.code, lost.stderr).toBe(run.code);
    expect(lost.stderr).toContain(
      `warning: could not write the HTML report ${missing}: folder ${path.dirname(missing)} does not exist; the run itself is not affected\n`,
    );
    expect(fs.existsSync(path.dirname(missing))).toBe(false);
  });

  it('status --output reports the failed verify although the other chains passed at the same time; check is CRITICAL naming .3', async () => {
    const status = parseJsonOutput<Record<string, { backups: { lastVerify: unknown } }>>(
      await runVmkeep(['status', '--domains', dom.name, '--output', out, '--json'], { env: env(VERIFY_AT) }),
    );
    expect(status[dom.name]!.backups.lastVerify).toEqual({ time: new Date(VERIFY_AT).toISOString(), result: 'failed', chain: FAILED });
    const check = await runVmkeep(['check', '--domains', dom.name, '--output', out, '--warning', '1y', '--critical', '2y'], { env: env(VERIFY_AT) });
    expect(check.code, check.stdout + check.stderr).toBe(2);
    expect(check.stdout).toMatch(new RegExp(`^VMKEEP CRITICAL - .*last verify failed \\(${FAILED.replace(/\./g, '\\.')}\\)`));
  });

  it('prune --keep-last 1 keeps .2 as the anchor, holds .3 with its reason, removes only the first chain; .2 restores', async () => {
    const now = '2026-11-14T04:00:00Z';
    const dry = await runVmkeep(['prune', '--output', out, '--keep-last', '1', '--dry-run'], { env: env(now) });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`warning: ${dom.name}: ${FAILED} ${HELD}`);
    expect(dry.stdout).toMatch(new RegExp(`${SOUND.replace(/\./g, '\\.')} .* keep +newest complete chain that passed or was not yet failed by verify`));

    const run = await runVmkeep(['prune', '--output', out, '--keep-last', '1', '--json'], { env: env(now) });
    expect(run.code, run.stderr).toBe(0);
    const doc = parseJsonOutput<PrunePlanDoc>(run);
    const plan = doc.plan.domains[0]!;
    expect(plan.keep.find((c) => c.id === SOUND)!.reasons).toEqual([
      'newest complete chain that passed or was not yet failed by verify',
      'virtnbdbackup.1: keep-last 1/1',
    ]);
    expect(plan.keep.find((c) => c.id === FAILED)!.reasons).toEqual([HELD]);
    expect(plan.remove.map((c) => [c.id, c.reasons])).toEqual([[BASE, ['not selected by any rule']]]);
    expect(doc.removed).toEqual([`${dom.name}/${BASE}`]);
    expect(chainFolders(out, dom.name)).toEqual([SOUND, FAILED]);

    // The kept chain is the one that restores.
    for (const [checkpoint, ref] of refs) {
      const to = path.join(dom.dir, `restore-${checkpoint}`);
      const r = await runVmkeep(['restore', '--domain', dom.name, '--output', out, '--at', `${SOUND}/${checkpoint}`, '--to', to, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const images = parseJsonOutput<{ images: Array<{ path: string }> }>(r).images;
      expect(await imagesIdentical(images[0]!.path, ref), `${SOUND}/${checkpoint}`).toBe(true);
    }

    // A second prune, forced, still holds .3.
    const again = parseJsonOutput<PrunePlanDoc>(await runVmkeep(['prune', '--output', out, '--keep-last', '1', '--force', '--json'], { env: env(now) }));
    expect(again.removed).toEqual([]);
    expect(chainFolders(out, dom.name)).toEqual([SOUND, FAILED]);
  });

  it('backup --prune --keep-last 1 in the next month, past the grace days: the new chain is the anchor, .2 goes by the rules, .3 is still held', async () => {
    await writeGuestData(dom, 'vda', { pattern: 0x61, offset: 12 * MiB, length: MiB });
    const ref = path.join(dom.dir, 'ref-december.qcow2');
    await referenceCopy(dom, 'vda', ref);
    const december = 'vmsnap-backup-monthly-2026-12';
    const doc = expectDocument(
      await runVmkeep(['backup', '--domains', dom.name, '--output', out, '--prune', '--keep-last', '1', '--json'], { env: env('2026-12-20T03:00:00Z') }),
    );
    expect(doc.results[0]).toMatchObject({ result: 'done', level: 'full', chain: december });
    // The same planner as prune: the period rule and keep-last 1 would take both November chains;
    // the sound one goes (a newer chain verify did not fail exists now), the failed one is held.
    expect(doc.results[0]!.prune?.removed).toEqual([`${dom.name}/${SOUND}`]);
    expect(chainFolders(out, dom.name)).toEqual([FAILED, december]);
    const to = path.join(dom.dir, 'restore-december');
    const r = await runVmkeep(['restore', '--domain', dom.name, '--output', out, '--at', `${december}/virtnbdbackup.0`, '--to', to, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(await imagesIdentical(parseJsonOutput<{ images: Array<{ path: string }> }>(r).images[0]!.path, ref)).toBe(true);
  });
});
