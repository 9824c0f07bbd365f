/**
 * What `vmkeep backup` tells people and programs: the summary table, the --json document (stdout
 * holds nothing else), progress (plain lines without a terminal, one bar per domain on one), and
 * --dry-run, which prints the plan and changes nothing: not the folder, not libvirt, not QEMU.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
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

    const started = performance.now();
    const json = await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir });
    const wallMs = performance.now() - started;
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
    // Where the domain's time went: the named steps, each at least 0 ms, together no more than the run.
    const phases = doc.results[0]!.phases!;
    expect(phases.map((p) => p.name)).toEqual(expect.arrayContaining(['lock', 'read', 'plan', 'freeze', 'engine', 'checksums', 'fsync', 'manifest']));
    for (const p of phases) expect(Number.isInteger(p.ms) && p.ms >= 0, `${p.name}: ${p.ms}`).toBe(true);
    expect(phases.reduce((n, p) => n + p.ms, 0)).toBeLessThanOrEqual(wallMs);
    expect(phases.find((p) => p.name === 'engine')!.ms).toBeGreaterThan(0);
    // The point's record keeps them (the report charts them per run).
    const manifest = JSON.parse(fs.readFileSync(path.join(out, dom.name, doc.results[0]!.chain!, 'vmkeep-manifest.json'), 'utf8')) as {
      points: Array<{ phases?: Array<{ name: string; ms: number }> }>;
    };
    expect(manifest.points[0]!.phases!.map((p) => p.name)).toEqual(expect.arrayContaining(['engine', 'checksums', 'fsync']));
    // Without a terminal, progress is plain lines on stderr, ending at 100%.
    expect(json.stderr).toMatch(new RegExp(`${dom.name}: 96 MiB of 96 MiB \\(100%\\)`));
    expect(json.stderr).not.toMatch(/\u001b\[/);

    await writeGuestData(dom, 'vda', { pattern: 0xa2, offset: 100 * MiB, length: 2 * MiB });
    // --verbose adds one line per domain of where its time went; a report that cannot be written
    // (its folder does not exist) is one warning line, and the backup still succeeds.
    const noFolder = path.join(dom.dir, 'no-such-folder', 'report.html');
    const text = await backupCli(['--domains', dom.name, '--output', out, '--verbose', '--report-html', noFolder], { lockDir });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toMatch(new RegExp(`${dom.name}: time went to .*engine job \\d`));
    // In vmkeep's words, naming the file once: no flag the user never gave.
    expect(text.stderr).toContain(
      `warning: could not write the HTML report ${noFolder}: folder ${path.dirname(noFolder)} does not exist; the run itself is not affected\n`,
    );
    expect(fs.existsSync(noFolder)).toBe(false);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^domain\s+result\s+level\s+data\s+time\s+speed\s+chain \/ reason$/);
    expect(lines[1]).toMatch(new RegExp(`^${dom.name}\\s+done\\s+inc\\s+2 MiB\\s+\\d+\\.\\d s\\s+\\S+ \\S+/s\\s+vmsnap-backup-monthly-\\d{4}-\\d{2}$`));
    expect(lines).toHaveLength(2);

    // --if-older-than: backed up moments ago, so skipped (and that is not a failure). --report-html
    // writes the folder's report after the run, with the domain and the phase chart of its two runs.
    const reportFile = path.join(dom.dir, 'report.html');
    const skip = expectDocument(
      await backupCli(['--domains', dom.name, '--output', out, '--json', '--if-older-than', '1d', '--report-html', reportFile], { lockDir }),
    );
    expect(skip.results).toMatchObject([{ domain: dom.name, result: 'skipped', reason: expect.stringMatching(/younger than 1d/) }]);
    const report = fs.readFileSync(reportFile, 'utf8');
    expect(report).toContain(`<a href="#`);
    expect(report).toContain(`>${dom.name}</a>`);
    expect(report).toMatch(new RegExp(`aria-label="${dom.name}: where the time of its last 2 runs went, by phase`));
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
