/**
 * What a run leaves in places it does not own, and what an admin sees while it waits:
 * - a run whose requested domains do not exist creates no output folder and no `.vmkeep.lock`;
 * - a domain folder vmkeep finds (a VMSnap tree's, 0755) keeps its mode; folders it creates are 0700;
 * - in-place restore of a guest that ignores ACPI (the test domain has no OS) reports the wait
 *   every 10 s, and `--shutdown-timeout 0` destroys it at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MiB, backupCli, chainFolders, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { runVmkeep } from '../helpers/cli.js';
import { createTestDomain, domainState, writeGuestData } from '../helpers/libvirt.js';

const lockDir = useLockDirAndCleanup();

describe('vmkeep backup: nothing written where nothing was selected', () => {
  it('unknown domains only: exit 2, no output folder, no lock file', async () => {
    const dom = await createTestDomain();
    const out = path.join(dom.dir, 'out');
    const run = await backupCli(['--domains', 'vmkeep-test-no-such-domain-1,vmkeep-test-no-such-domain-2', '--output', out, '--json'], { lockDir });
    const doc = expectDocument(run, 2);
    expect(doc.results.map((r) => r.reason)).toEqual(['unknown domain', 'unknown domain']);
    expect(fs.existsSync(out)).toBe(false);

    // An existing output folder gets no lock file either.
    fs.mkdirSync(out);
    expectDocument(await backupCli(['--domains', 'vmkeep-test-no-such-domain-*', '--output', out, '--json'], { lockDir }), 2);
    expect(fs.readdirSync(out)).toEqual([]);
  });
});

describe('vmkeep backup: folders it did not create keep their mode', () => {
  it('a VMSnap domain folder stays 0755; the chain folder vmkeep makes is 0700', async () => {
    const dom = await createTestDomain({ start: true });
    const out = path.join(dom.dir, 'out');
    const domainFolder = path.join(out, dom.name);
    fs.mkdirSync(domainFolder, { recursive: true });
    fs.chmodSync(out, 0o755);
    fs.chmodSync(domainFolder, 0o755);
    await writeGuestData(dom, 'vda', { pattern: 0x51, offset: 0, length: 1 * MiB });
    const doc = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir }));
    expect(doc.results).toMatchObject([{ result: 'done', level: 'full' }]);
    expect(fs.statSync(out).mode & 0o777).toBe(0o755);
    expect(fs.statSync(domainFolder).mode & 0o777).toBe(0o755);
    const chain = path.join(domainFolder, chainFolders(out, dom.name)[0]!);
    expect(fs.statSync(chain).mode & 0o777).toBe(0o700);
  });
});

describe('vmkeep restore --in-place: the shutdown wait', () => {
  it('reports the wait every 10 s for a guest that ignores ACPI, and --shutdown-timeout 0 destroys at once', async () => {
    const dom = await createTestDomain({ start: true });
    const out = path.join(dom.dir, 'out');
    await writeGuestData(dom, 'vda', { pattern: 0x52, offset: 0, length: 1 * MiB });
    expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir }));
    const restore = (timeout: string) =>
      runVmkeep(['restore', '--domain', dom.name, '--output', out, '--in-place', '--at', 'latest', '--force', '--discard-old', '--shutdown-timeout', timeout], {
        env: { VMKEEP_LOCK_DIR: lockDir },
      });

    const t0 = Date.now();
    const slow = await restore('12');
    expect(slow.code, slow.stderr).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(12_000);
    expect(slow.stderr).toMatch(
      new RegExp(
        `${dom.name}: still waiting for the guest to shut down \\(1\\d s of 12 s; a guest without ACPI or a guest agent ignores the request and is destroyed at 12 s\\)`,
      ),
    );
    expect(slow.stderr).toMatch(/did not shut down within 12 s/);
    expect(await domainState(dom)).toBe('running');

    const fast = await restore('0');
    expect(fast.code, fast.stderr).toBe(0);
    expect(fast.stderr).toMatch(/--shutdown-timeout 0: destroying it at once/);
    // No wait: a wait says "still waiting" every 10 s (above), and the shutdown request is never
    // sent. Not timed: on a loaded machine the restore alone can take 10 s.
    expect(fast.stderr).not.toMatch(/still waiting|shutting down \(up to|did not shut down/);
    expect(await domainState(dom)).toBe('running');
  });
});
