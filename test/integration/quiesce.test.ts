/**
 * `backup --quiesce` against the booting test guest while it writes its journal: both engines
 * take a full and two incrementals recorded quiesced, every point restores, mounts and holds the
 * data files the guest wrote before it (sha256 as the guest computed it) and a whole journal; a
 * kill -9 of vmkeep while the guest is frozen is undone by the next backup;
 * `--quiesce=require` without an answering agent fails with no point recorded; a guest someone
 * else froze is a WARNING in status and check, and its backup says the guest's writes are blocked.
 * One guest for the whole file (each boot costs a core for a while under TCG); the case that
 * stops its agent runs last.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupCli, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import {
  agentCommand,
  bootTestGuest,
  checkJournal,
  guestJournalLines,
  guestPing,
  readJournalFromImage,
  type TestGuest,
  waitForJournalGrowth,
  writeGuestDataFile,
} from '../helpers/guest.js';
import { cleanupAll, virsh } from '../helpers/libvirt.js';
import { startVmkeep } from '../helpers/vmkeep-process.js';

let lockDir: string;
let guest: TestGuest;

interface ListDoc {
  domains: Array<{ points: Array<{ id: string; quiesced: boolean | null; quiesceReason: string | null }> }>;
}

beforeAll(async () => {
  lockDir = makeLockDir();
  guest = await bootTestGuest({ label: 'quiesce' });
}, 300_000);

afterAll(async () => {
  // Never leave a frozen guest behind, whatever failed.
  await virsh(['domfsthaw', guest.uuid]).catch(() => undefined);
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

async function listPoints(out: string): Promise<ListDoc['domains'][number]['points']> {
  const run = await runVmkeep(['list', '--domains', guest.name, '--output', out, '--json'], { env: { VMKEEP_LOCK_DIR: lockDir } });
  if (run.code !== 0 && /no backups|no restore point/i.test(run.stderr)) return [];
  expect(run.code, run.stderr).toBe(0);
  return parseJsonOutput<ListDoc>(run).domains[0]?.points ?? [];
}

/** An empty file named like the image the next push incremental writes, in the newest chain folder. */
function leaveStrayNextImage(out: string): string {
  const domainDir = path.join(out, guest.name);
  const chains = fs
    .readdirSync(domainDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => path.join(domainDir, e.name));
  const newest = chains.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0]!;
  const last = fs
    .readdirSync(newest)
    .map((f) => /^vda\.vmkeep\.([0-9a-f]{8})\.(\d+)\.qcow2$/.exec(f))
    .filter((m) => m !== null)
    .sort((a, b) => Number(b[2]) - Number(a[2]))[0]!;
  const stray = path.join(newest, `vda.vmkeep.${last[1]!}.${Number(last[2]) + 1}.qcow2`);
  fs.writeFileSync(stray, '');
  return stray;
}

async function freezeStatus(): Promise<string> {
  return agentCommand<string>(guest, 'guest-fsfreeze-status');
}

/**
 * Full + 2 incrementals with --quiesce while the journal runs; every point restored, its journal
 * checked, and the data files the guest wrote before it (and never changed after) compared by sha256.
 */
async function quiescedChain(engine: 'push' | 'virtnbdbackup'): Promise<void> {
  const out = path.join(guest.dir, `backups-${engine}`);
  // One new file before each point: point i must hold files 0..i as the guest wrote them, and not the later ones.
  const dataFiles: Array<{ name: string; sha256: string }> = [];
  for (let i = 0; i < 3; i += 1) {
    const name = `data-${engine}-${i}.bin`;
    dataFiles.push({ name, sha256: await writeGuestDataFile(guest, `/data/${name}`) });
    await waitForJournalGrowth(guest, await guestJournalLines(guest), 60_000);
    const doc = expectDocument(await backupCli(['--domains', guest.name, '--output', out, '--engine', engine, '--quiesce', '--json'], { lockDir }));
    expect(doc.results[0], JSON.stringify(doc.results[0])).toMatchObject({ result: 'done', level: i === 0 ? 'full' : 'inc', quiesced: true });
    expect(doc.results[0]!.quiesceReason).toBeUndefined();
    expect(await freezeStatus()).toBe('thawed');
  }
  const points = await listPoints(out);
  expect(points.map((p) => p.quiesced)).toEqual([true, true, true]);
  // The chain's data files still have the sha256 recorded when they were written.
  const verified = await runVmkeep(['verify', '--domains', guest.name, '--output', out, '--json'], { env: { VMKEEP_LOCK_DIR: lockDir }, timeoutMs: 600_000 });
  expect(verified.code, verified.stdout).toBe(0);
  const chains = parseJsonOutput<{ chains: Array<{ result: string }> }>(verified).chains;
  expect(chains.length).toBeGreaterThan(0);
  expect(chains.map((c) => c.result)).toEqual(chains.map(() => 'ok'));
  let previous = 0;
  for (const [i, p] of points.entries()) {
    const to = path.join(guest.dir, `restore-${engine}-${i}`);
    const run = await runVmkeep(['restore', '--domain', guest.name, '--output', out, '--at', p.id, '--to', to, '--json'], {
      env: { VMKEEP_LOCK_DIR: lockDir },
      timeoutMs: 600_000,
    });
    expect(run.code, run.stderr).toBe(0);
    const image = parseJsonOutput<{ images: Array<{ path: string }> }>(run).images[0]!.path;
    const journal = await readJournalFromImage(image, { files: dataFiles.map((f) => f.name) });
    expect(journal.digests, `${engine} point ${p.id}: data files`).toEqual(
      Object.fromEntries(dataFiles.map((f, n) => [f.name, n <= i ? f.sha256 : undefined])),
    );
    const check = checkJournal(journal.text);
    expect(check.errors, `${engine} point ${p.id}`).toEqual([]);
    expect(check.tornLastLine, `${engine} point ${p.id}`).toBe(false);
    expect(journal.fsckClean, journal.fsckOutput).toBe(true);
    // Each later point holds more of the journal: the points are really different moments.
    expect(check.lines).toBeGreaterThan(previous);
    previous = check.lines;
    fs.rmSync(to, { recursive: true, force: true });
  }
}

describe('backup --quiesce with a running guest', () => {
  it('virtnbdbackup: full + 2 incrementals recorded quiesced; every point restores with a whole journal and matching data files', async () => {
    await quiescedChain('virtnbdbackup');
  });

  it('push: full + 2 incrementals recorded quiesced (freeze, backup-begin, thaw); every point restores with a whole journal and matching data files', async () => {
    await quiescedChain('push');
  });

  it('kill -9 of vmkeep while the guest is frozen: the next backup thaws it and says so', async () => {
    const out = path.join(guest.dir, 'backups-kill');
    let caught = false;
    for (let attempt = 0; attempt < 5 && !caught; attempt += 1) {
      const run = startVmkeep(['backup', '--domains', guest.name, '--output', out, '--engine', 'push', '--quiesce', '--json'], {
        env: { VMKEEP_LOCK_DIR: lockDir },
      });
      // The freeze record appears just before the freeze: stop vmkeep there, let its freeze land, then kill it.
      const deadline = Date.now() + 120_000;
      let exited = false;
      void run.finished.then(() => (exited = true));
      while (!exited && Date.now() < deadline) {
        if (fs.readdirSync(lockDir).some((f) => f.endsWith('.frozen'))) {
          run.signal('SIGSTOP');
          let frozen = false;
          for (let i = 0; i < 20 && !frozen; i += 1) {
            frozen = (await freezeStatus().catch(() => 'unknown')) === 'frozen';
            if (!frozen) await new Promise((r) => setTimeout(r, 100));
          }
          if (frozen) {
            run.killGroup();
            caught = true;
            break;
          }
          run.signal('SIGCONT');
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await run.finished;
    }
    expect(caught, 'vmkeep was never seen holding the guest frozen').toBe(true);
    expect(await freezeStatus()).toBe('frozen');

    const next = expectDocument(await backupCli(['--domains', guest.name, '--output', out, '--engine', 'push', '--quiesce', '--json'], { lockDir }));
    expect(next.results[0]).toMatchObject({ result: 'done', quiesced: true });
    expect(next.results[0]!.notes?.join('\n')).toMatch(
      /thawed the guest filesystems of .*: an interrupted vmkeep run \(pid \d+, frozen at .*\) had left them frozen/,
    );
    expect(await freezeStatus()).toBe('thawed');
    expect(fs.readdirSync(lockDir).filter((f) => f.endsWith('.frozen'))).toEqual([]);
  });

  it('a guest someone else froze: status and check warn, the backup says its writes are blocked and leaves the freeze alone', async () => {
    const out = path.join(guest.dir, 'backups-kill');
    const env = { VMKEEP_LOCK_DIR: lockDir };
    // Thawed, the domain is healthy: the warnings below come from the freeze alone.
    const calm = await runVmkeep(['check', '--domains', guest.name, '--output', out, '--warning', '1d', '--critical', '2d'], { env });
    expect(calm.stdout.split('\n')[0]).toMatch(/^VMKEEP OK/);
    await virsh(['domfsfreeze', guest.uuid]);
    try {
      const status = await runVmkeep(['status', '--domains', guest.name, '--json'], { env });
      expect(status.code).toBe(1);
      const doc = parseJsonOutput<Record<string, { guestFrozen: boolean | null; warnings: string[] }>>(status);
      expect(doc[guest.name]).toMatchObject({ guestFrozen: true, warnings: [expect.stringMatching(/are frozen: its writes are blocked/)] });
      const text = await runVmkeep(['status', '--domains', guest.name], { env });
      expect(text.stdout).toMatch(/WARNING: the guest filesystems of .* are frozen: its writes are blocked/);
      const check = await runVmkeep(['check', '--domains', guest.name, '--output', out, '--warning', '1d', '--critical', '2d'], { env });
      expect(check.code).toBe(1);
      expect(check.stdout).toMatch(/^VMKEEP WARNING/);
      expect(check.stdout).toMatch(/guest filesystems frozen: its writes are blocked/);

      const run = expectDocument(await backupCli(['--domains', guest.name, '--output', out, '--engine', 'push', '--quiesce', '--json'], { lockDir }));
      expect(run.results[0]).toMatchObject({ result: 'done', quiesced: true });
      expect(run.results[0]!.notes?.join('\n')).toMatch(/already frozen, not by vmkeep: the guest's writes are blocked/);
      expect(run.results[0]!.notes?.join('\n')).not.toMatch(/crash-consistent/);
      expect(await freezeStatus()).toBe('frozen');
    } finally {
      await virsh(['domfsthaw', guest.uuid]);
    }
    expect(await freezeStatus()).toBe('thawed');
  });

  it('--quiesce=require with the agent stopped fails the domain and records no point; plain --quiesce records why not', async () => {
    // qemu-ga runs once in the guest: killed, it stays away. Its answer to guest-exec is the last one.
    await agentCommand(guest, 'guest-exec', { path: '/bin/sh', arg: ['-c', 'sleep 1; killall qemu-ga'] });
    const deadline = Date.now() + 60_000;
    while (await guestPing(guest, 2)) {
      if (Date.now() > deadline) throw new Error('qemu-ga still answers');
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const engine of ['push', 'virtnbdbackup'] as const) {
      const out = path.join(guest.dir, `backups-${engine}`);
      const before = await listPoints(out);
      // A leftover the planner would remove (the image the next incremental would write): the
      // refusal comes before any repair, so it is still there afterwards.
      const stray = engine === 'push' ? leaveStrayNextImage(out) : undefined;
      const run = await backupCli(['--domains', guest.name, '--output', out, '--engine', engine, '--quiesce=require', '--json'], { lockDir });
      // One domain asked for, and it failed: exit 2 (a failure, not a partial run).
      expect(run.code, run.stderr).toBe(2);
      const doc = parseJsonOutput<{ results: Array<{ result: string; reason?: string }> }>(run);
      expect(doc.results[0]).toMatchObject({ result: 'failed' });
      expect(doc.results[0]!.reason).toMatch(/was not backed up: --quiesce=require, and the guest agent does not answer; no restore point was recorded/);
      expect((await listPoints(out)).map((p) => p.id)).toEqual(before.map((p) => p.id));
      if (stray) expect(fs.existsSync(stray), `${stray} was removed by a run that then refused`).toBe(true);
    }
    const out = path.join(guest.dir, 'backups-push');
    const plain = expectDocument(await backupCli(['--domains', guest.name, '--output', out, '--engine', 'push', '--quiesce', '--json'], { lockDir }));
    expect(plain.results[0]).toMatchObject({ result: 'done', quiesced: false, quiesceReason: 'the guest agent does not answer' });
    expect(plain.results[0]!.notes).toContain('not quiesced: the guest agent does not answer; the point is crash-consistent');
    const points = await listPoints(out);
    expect(points.at(-1)).toMatchObject({ quiesced: false, quiesceReason: 'the guest agent does not answer' });
  });
});
