/**
 * What `vmkeep backup` tells people and programs: the summary table, the --json document (stdout
 * holds nothing else), progress (plain lines without a terminal, one bar per domain on one), and
 * --dry-run, which prints the plan and changes nothing: not the folder, not libvirt, not QEMU.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { VMKEEP_BIN, withTestEngine } from '../helpers/cli.js';
import { MiB, backupCli, checkpointNames, expectDocument, useLockDirAndCleanup, qemuBitmapNames, snapshotTree } from '../helpers/backup-run.js';
import { createTestDomain, destroyDomain, domainState, writeGuestData } from '../helpers/libvirt.js';

const lockDir = useLockDirAndCleanup();

/** Run vmkeep under a pseudo-terminal (python's pty module; argv, no shell) and return what it showed. */
function runOnTerminal(args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; screen: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'python3',
      ['-c', 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)', process.execPath, VMKEEP_BIN, ...withTestEngine(args, undefined, undefined)],
      {
        env: { ...process.env, ...env, COLUMNS: '120', TERM: 'xterm' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let screen = '';
    child.stdout.on('data', (c: Buffer) => (screen += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (screen += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, screen }));
  });
}

describe('vmkeep backup: output', () => {
  it('prints a summary table; --json prints only the document on stdout, progress lines go to stderr', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 128 }], start: true });
    const out = path.join(dom.dir, 'out');
    await writeGuestData(dom, 'vda', { pattern: 0xa1, offset: 0, length: 96 * MiB });

    const json = await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir });
    const doc = expectDocument(json);
    expect(doc).toMatchObject({ dryRun: false, output: out, groupBy: 'month' });
    expect(doc.results).toEqual([
      expect.objectContaining({
        domain: dom.name,
        result: 'done',
        level: 'full',
        checkpoint: 'virtnbdbackup.0',
        dataBytes: 96 * MiB,
        durationMs: expect.any(Number),
        throughputBytesPerSecond: expect.any(Number),
        reasons: ['no chain for this period yet'],
        repairs: [],
      }),
    ]);
    // Without a terminal, progress is plain lines on stderr, ending at 100%.
    expect(json.stderr).toMatch(new RegExp(`${dom.name}: 96 MiB of 96 MiB \\(100%\\)`));
    expect(json.stderr).not.toMatch(/\u001b\[/);

    await writeGuestData(dom, 'vda', { pattern: 0xa2, offset: 100 * MiB, length: 2 * MiB });
    const text = await backupCli(['--domains', dom.name, '--output', out], { lockDir });
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^domain\s+result\s+level\s+data\s+time\s+speed\s+chain \/ reason$/);
    expect(lines[1]).toMatch(new RegExp(`^${dom.name}\\s+done\\s+inc\\s+2 MiB\\s+\\d+\\.\\d s\\s+\\S+ \\S+/s\\s+vmsnap-backup-monthly-\\d{4}-\\d{2}$`));
    expect(lines).toHaveLength(2);

    // --if-older-than: backed up moments ago, so skipped (and that is not a failure).
    const skip = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json', '--if-older-than', '1d'], { lockDir }));
    expect(skip.results).toMatchObject([{ domain: dom.name, result: 'skipped', reason: expect.stringMatching(/younger than 1d/) }]);
  });

  it('--dry-run prints the plan and changes nothing: folder, libvirt checkpoints, QEMU bitmaps, domain state', async () => {
    const running = await createTestDomain({ start: true });
    const off = await createTestDomain({ start: true });
    const out = path.join(running.dir, 'out');
    const both = `${running.name},${off.name}`;
    await writeGuestData(running, 'vda', { pattern: 0xb1, offset: 0, length: 2 * MiB });
    await writeGuestData(off, 'vda', { pattern: 0xb2, offset: 0, length: 2 * MiB });
    expectDocument(await backupCli(['--domains', both, '--output', out, '--json'], { lockDir, now: '2026-01-15T12:00:00Z' }));
    expectDocument(await backupCli(['--domains', both, '--output', out, '--json'], { lockDir, now: '2026-01-16T12:00:00Z' }));
    await destroyDomain(off);

    const tree = snapshotTree(out);
    const cps = [await checkpointNames(running), await checkpointNames(off)];
    const bitmaps = await qemuBitmapNames(running);
    expect(cps).toEqual([
      ['virtnbdbackup.0', 'virtnbdbackup.1'],
      ['virtnbdbackup.0', 'virtnbdbackup.1'],
    ]);

    // A new month: the plan is a new full chain for both, after removing the old checkpoints.
    const feb = '2026-02-15T12:00:00Z';
    const textRun = await backupCli(['--domains', both, '--output', out, '--dry-run'], { lockDir, now: feb });
    expect(textRun.code, textRun.stderr).toBe(0);
    expect(textRun.stdout).toMatch(/^domain\s+result\s+level\s+data\s+time\s+speed\s+plan$/m);
    expect(textRun.stdout).toMatch(
      new RegExp(`${running.name}\\s+planned\\s+full.*vmsnap-backup-monthly-2026-02: engine virtnbdbackup: [^;]+; no chain for this period yet`),
    );
    expect(textRun.stdout).toMatch(new RegExp(`${running.name}: would repair: delete checkpoint virtnbdbackup\\.1`));
    const jsonRun = await backupCli(['--domains', both, '--output', out, '--dry-run', '--json'], { lockDir, now: feb });
    const doc = expectDocument(jsonRun);
    expect(doc.dryRun).toBe(true);
    expect(doc.results).toMatchObject([
      { domain: running.name, result: 'planned', level: 'full', chain: 'vmsnap-backup-monthly-2026-02' },
      { domain: off.name, result: 'planned', level: 'full', reason: expect.stringMatching(/shut off: it would be started paused/) },
    ]);
    expect(doc.results[0]!.repairs).toHaveLength(2);

    expect(snapshotTree(out)).toEqual(tree);
    expect([await checkpointNames(running), await checkpointNames(off)]).toEqual(cps);
    expect(await qemuBitmapNames(running)).toEqual(bitmaps);
    expect(await domainState(off)).toBe('shut off');
  });

  it('on a terminal: one progress bar per domain', async () => {
    const a = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 96 }], start: true });
    const b = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 96 }], start: true });
    const out = path.join(a.dir, 'out');
    await writeGuestData(a, 'vda', { pattern: 0xc1, offset: 0, length: 64 * MiB });
    await writeGuestData(b, 'vda', { pattern: 0xc2, offset: 0, length: 64 * MiB });
    const { code, screen } = await runOnTerminal(['backup', '--domains', `${a.name},${b.name}`, '--output', out, '--jobs', '2'], { VMKEEP_LOCK_DIR: lockDir });
    expect(code, screen).toBe(0);
    for (const name of [a.name, b.name]) {
      expect(screen).toMatch(new RegExp(`${name} \\[[^\\]]+\\] 100% 64 MiB/64 MiB`));
    }
    // No plain progress lines on a terminal.
    expect(screen).not.toMatch(/ of 64 MiB \(/);
  });
});
