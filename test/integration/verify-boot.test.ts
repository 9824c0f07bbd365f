/**
 * `vmkeep verify --boot` against the real libvirtd and the booting test guest, while it runs its
 * journal: the newest point of each engine boots in an isolated verify domain and passes the
 * agent, console and exec checks (the exec reads the journal in the booted copy); nothing is
 * left afterwards, the chain files are unchanged and the source guest kept running. A point
 * whose boot sector was zeroed fails with exit 1 and the console's tail, and check goes CRITICAL; a kill -9 while a
 * verify domain boots leaves it behind, status shows it, and the next command on the host (a
 * plain verify) removes it and says so, while the domain of a run still alive is left alone; bad
 * input is one line and exit 64 with nothing defined; a config's verify.boot checks run when no
 * flag names any. One guest for the file; four boots in all.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupCli, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep, type CliRun } from '../helpers/cli.js';
import { bootTestGuest, guestJournalLines, guestPing, type TestGuest, waitForJournalGrowth } from '../helpers/guest.js';
import { cleanupAll, domainState, virsh, writeGuestData } from '../helpers/libvirt.js';
import { startVmkeep } from '../helpers/vmkeep-process.js';

let lockDir: string;
let guest: TestGuest;

interface BootDoc {
  points: Array<{
    domain: string;
    point: string;
    engine: string;
    disks: string;
    result: string;
    reason?: string;
    firstAnswerMs?: number;
    checks: Array<{ check: string; ok: boolean; stdout?: string; reason?: string }>;
    consoleTail: string[];
    evidence?: string;
  }>;
  leftoversRemoved: string[];
}

const JOURNAL_CHECK = `exec:/bin/sh -c 'tail -n 1 /data/journal.log'`;
const CONFIG_JOURNAL_CHECK = `exec:/bin/sh -c 'echo journal lines: $(wc -l < /data/journal.log)'`;

beforeAll(async () => {
  lockDir = makeLockDir();
  guest = await bootTestGuest({ label: 'bootverify', vnc: true });
}, 300_000);

afterAll(async () => {
  // Verify domains of this file's guest, should a failed assertion have left one.
  for (const name of (await virsh(['list', '--all', '--name']).catch(() => '')).split('\n').map((l) => l.trim())) {
    if (!name.startsWith(`vmkeep-verify-${guest.name}`)) continue;
    await virsh(['destroy', name]).catch(() => undefined);
    await virsh(['undefine', name, '--nvram']).catch(() => undefined);
  }
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

function vmkeep(args: string[], timeoutMs = 600_000): Promise<CliRun> {
  return runVmkeep(args, { env: { VMKEEP_LOCK_DIR: lockDir }, timeoutMs });
}

async function backup(out: string, engine: 'push' | 'virtnbdbackup'): Promise<void> {
  const doc = expectDocument(await backupCli(['--domains', guest.name, '--output', out, '--engine', engine, '--json'], { lockDir }));
  expect(doc.results[0], JSON.stringify(doc.results[0])).toMatchObject({ result: 'done' });
}

/** sha256 of every file of the chains but the manifest (which records the boot proof) and the evidence. */
function chainDigests(out: string): Record<string, string> {
  const result: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.name.startsWith('.') || e.name === 'vmkeep-manifest.json') continue;
      if (e.isDirectory()) walk(p);
      else result[path.relative(out, p)] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(path.join(out, guest.name));
  return result;
}

async function verifyDomains(): Promise<string[]> {
  return (await virsh(['list', '--all', '--name']))
    .split('\n')
    .map((l) => l.trim())
    .filter((n) => n.startsWith(`vmkeep-verify-${guest.name}`));
}

/** Files and folders vmkeep's boot verify keeps its scratch in (none may be left). */
function scratchLeft(out: string): string[] {
  const dir = path.join(out, '.vmkeep-boot-verify');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

async function expectProvedAndClean(out: string, engine: 'push' | 'virtnbdbackup'): Promise<void> {
  const before = chainDigests(out);
  expect(Object.keys(before).length).toBeGreaterThan(1);
  const journalBefore = await guestJournalLines(guest);
  const run = await vmkeep([
    'verify',
    '--boot',
    '--domains',
    guest.name,
    '--output',
    out,
    '--check',
    'agent',
    '--check',
    'console:VMKEEP-TEST-GUEST-READY',
    '--check',
    JOURNAL_CHECK,
    '--boot-timeout',
    '240',
    '--screenshot',
    '--json',
  ]);
  expect(run.code, run.stderr + run.stdout).toBe(0);
  const doc = parseJsonOutput<BootDoc>(run);
  expect(doc.points).toHaveLength(1);
  const p = doc.points[0]!;
  expect(p).toMatchObject({ domain: guest.name, engine, result: 'ok', disks: engine === 'push' ? 'overlay' : 'scratch-restore' });
  expect(p.checks.map((c) => [c.check, c.ok])).toEqual([
    ['agent', true],
    ['console:VMKEEP-TEST-GUEST-READY', true],
    [JOURNAL_CHECK, true],
  ]);
  // The booted copy's journal: a real line "SEQ BOOT UPTIME EPOCH PAYLOAD MD5" read inside the guest.
  expect(p.checks[2]!.stdout).toMatch(/^\d+ \S+ \S+ \d+ .* [0-9a-f]{32}\n?$/);
  expect(p.firstAnswerMs).toBeGreaterThan(0);
  // Evidence beside the verify record, and the record in the manifest.
  expect(fs.readFileSync(path.join(p.evidence!, 'exec-3.stdout'), 'utf8')).toBe(p.checks[2]!.stdout);
  expect(fs.readFileSync(path.join(p.evidence!, 'console-tail.txt'), 'utf8')).toContain('VMKEEP-TEST-GUEST-READY');
  expect(fs.readFileSync(path.join(p.evidence!, 'screenshot.png')).subarray(1, 4).toString()).toBe('PNG');
  expect(JSON.parse(fs.readFileSync(path.join(p.evidence!, 'result.json'), 'utf8'))).toMatchObject({ result: 'ok' });
  const manifest = JSON.parse(fs.readFileSync(path.join(path.dirname(path.dirname(p.evidence!)), 'vmkeep-manifest.json'), 'utf8')) as {
    bootVerify?: Record<string, { result: string }>;
  };
  expect(Object.values(manifest.bootVerify ?? {}).map((r) => r.result)).toEqual(['ok']);
  // Nothing left, nothing changed, the source ran on.
  expect(await verifyDomains()).toEqual([]);
  expect(scratchLeft(out)).toEqual([]);
  expect(chainDigests(out)).toEqual(before);
  expect(await domainState(guest)).toBe('running');
  expect(await guestPing(guest)).toBe(true);
  await waitForJournalGrowth(guest, journalBefore, 60_000);
}

describe('verify --boot with the booting guest', () => {
  it('push: the newest point boots on an overlay and passes agent, console and exec; nothing is left, the chain is unchanged', async () => {
    const out = path.join(guest.dir, 'backups-push');
    await backup(out, 'push');
    await waitForJournalGrowth(guest, await guestJournalLines(guest));
    await backup(out, 'push');
    await expectProvedAndClean(out, 'push');
  });

  it('virtnbdbackup: the newest point boots from a scratch restore and passes the same checks; the scratch copy is gone', async () => {
    const out = path.join(guest.dir, 'backups-vnb');
    await backup(out, 'virtnbdbackup');
    await expectProvedAndClean(out, 'virtnbdbackup');
  });

  it('bad input: one line, exit 64, nothing defined', async () => {
    const out = path.join(guest.dir, 'backups-push');
    const cases: Array<[string[], RegExp]> = [
      [['--at', 'no-such-chain/vmkeep.9'], /no-such-chain\/vmkeep\.9/],
      [['--check', 'ping'], /unknown kind "ping"/],
      [['--check', `exec:/bin/sh -c 'echo`], /quote is not closed/],
      [['--jobs', '0'], /--jobs must be a whole number from 1 to 64/],
      [['--boot-timeout', '0'], /--boot-timeout needs seconds from 1/],
    ];
    for (const [extra, message] of cases) {
      const run = await vmkeep(['verify', '--boot', '--domains', guest.name, '--output', out, ...extra]);
      expect(run.code, `${extra.join(' ')}: ${run.stderr}`).toBe(64);
      expect(run.stderr.trim().split('\n'), extra.join(' ')).toHaveLength(1);
      expect(run.stderr).toMatch(message);
      expect(await verifyDomains()).toEqual([]);
      expect(scratchLeft(out)).toEqual([]);
    }
  });

  it('a point whose boot sector was zeroed does not boot: exit 1, why, and the console tail', async () => {
    const out = path.join(guest.dir, 'backups-push');
    // The running guest keeps its kernel in memory; the next point holds a disk that cannot boot.
    await writeGuestData(guest, 'vda', { pattern: 0, offset: 0, length: 512 });
    await backup(out, 'push');
    // 10 s, not more: the case runs while the rest of the suite waits (integration-alone).
    const run = await vmkeep(['verify', '--boot', '--domains', guest.name, '--output', out, '--boot-timeout', '10']);
    expect(run.code, run.stderr + run.stdout).toBe(1);
    expect(run.stdout).toMatch(
      new RegExp(`^${guest.name}: point \\S+ did not boot: no answer from the guest agent in 10 s; (last console lines:|the console printed nothing)`, 'm'),
    );
    expect(await verifyDomains()).toEqual([]);
    expect(scratchLeft(out)).toEqual([]);
    // check says so with no boot age limit given: that point does not boot (as a failed verify).
    const checked = await vmkeep(['check', '--domains', guest.name, '--output', out, '--warning', '30d', '--critical', '60d']);
    expect(checked.code, checked.stdout + checked.stderr).toBe(2);
    expect(checked.stdout).toMatch(/^VMKEEP CRITICAL - /);
    expect(checked.stdout).toContain('did not boot at');
  });

  it('kill -9 while a verify domain boots: status shows what it left, a plain verify removes it and says so, a live run is left alone', async () => {
    const out = path.join(guest.dir, 'backups-vnb');
    const env = { VMKEEP_LOCK_DIR: lockDir };
    const run = startVmkeep(['verify', '--boot', '--domains', guest.name, '--output', out, '--boot-timeout', '240'], { env });
    const deadline = Date.now() + 300_000;
    let seen: string[] = [];
    while (Date.now() < deadline && seen.length === 0) {
      seen = (await virsh(['list', '--name']))
        .split('\n')
        .map((l) => l.trim())
        .filter((n) => n.startsWith(`vmkeep-verify-${guest.name}`));
      if (seen.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(seen, 'no verify domain was seen running').toHaveLength(1);
    // Held still, the run is alive: another command leaves its domain alone and says nothing of it.
    run.signal('SIGSTOP');
    const whileAlive = await vmkeep(['status', '--domains', guest.name, '--json']);
    expect(parseJsonOutput<Record<string, { warnings: string[] }>>(whileAlive)[guest.name]!.warnings).toEqual([]);
    // Nor is a verify domain ever taken for a guest: named outright, status selects nothing.
    const named = await vmkeep(['status', '--domains', seen[0]!, '--json']);
    expect(Object.keys(parseJsonOutput<Record<string, unknown>>(named)), named.stderr).not.toContain(seen[0]);
    const verifyWhileAlive = await vmkeep(['verify', '--domains', guest.name, '--output', out, '--json']);
    expect(verifyWhileAlive.stderr).not.toMatch(/removed verify domain/);
    expect(await verifyDomains()).toEqual(seen);
    run.killGroup();
    await run.finished;
    expect(await verifyDomains()).toEqual(seen);
    expect(scratchLeft(out)).toHaveLength(1);

    // Until a run removes it, status shows it with the domain whose point it boots, and changes nothing.
    const status = await vmkeep(['status', '--domains', guest.name, '--json']);
    expect(status.code, status.stderr).toBe(1);
    expect(parseJsonOutput<Record<string, { warnings: string[] }>>(status)[guest.name]!.warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^verify domain ${seen[0]} \\(booting point \\S+ of ${guest.name}\\) was left by an interrupted verify --boot \\(pid ${run.pid}, no longer running\\)`,
        ),
      ),
    ]);
    expect((await vmkeep(['status', '--domains', guest.name])).stdout).toMatch(
      new RegExp(`WARNING: verify domain ${seen[0]} .* was left by an interrupted verify --boot`),
    );
    expect(await verifyDomains()).toEqual(seen);

    // The next command that touches the host and the folder, a plain checksum verify, removes it: one line says so.
    const next = await vmkeep(['verify', '--domains', guest.name, '--output', out, '--json']);
    expect(next.code, next.stderr + next.stdout).toBe(0);
    const said = next.stderr.split('\n').filter((l) => /verify --boot/.test(l));
    expect(said).toEqual([
      expect.stringMatching(
        new RegExp(`removed verify domain ${seen[0]} and its scratch folder \\S+, left by an interrupted verify --boot \\(pid ${run.pid}\\)$`),
      ),
    ]);
    expect(parseJsonOutput<{ leftoversRemoved?: string[] }>(next).leftoversRemoved).toHaveLength(1);
    expect(await verifyDomains()).toEqual([]);
    expect(scratchLeft(out)).toEqual([]);
    const calm = await vmkeep(['status', '--domains', guest.name, '--json']);
    expect(parseJsonOutput<Record<string, { warnings: string[] }>>(calm)[guest.name]!.warnings).toEqual([]);

    // The next boot proof takes its checks and timeout from the config's verify.boot for this domain, as a nightly timer would.
    const config = path.join(guest.dir, 'config.yaml');
    fs.writeFileSync(
      config,
      [
        'domains:',
        `  ${JSON.stringify(guest.name)}:`,
        '    verify:',
        '      boot:',
        `        checks: [agent, ${JSON.stringify(CONFIG_JOURNAL_CHECK)}]`,
        '        timeout: 240',
        '',
      ].join('\n'),
    );
    const proof = await vmkeep(['verify', '--boot', '--config', config, '--domains', guest.name, '--output', out, '--json']);
    expect(proof.code, proof.stderr + proof.stdout).toBe(0);
    const proved = parseJsonOutput<BootDoc>(proof).points[0]!;
    expect(proved.checks.map((c) => [c.check, c.ok])).toEqual([
      ['agent', true],
      [CONFIG_JOURNAL_CHECK, true],
    ]);
    // The config's exec ran in the booted copy: it counted the journal's lines there.
    expect(proved.checks[1]!.stdout).toMatch(/^journal lines: [1-9]\d*\n$/);
    expect(parseJsonOutput<BootDoc>(proof).leftoversRemoved).toEqual([]);
    expect(await verifyDomains()).toEqual([]);
    expect(scratchLeft(out)).toEqual([]);
  });
});
