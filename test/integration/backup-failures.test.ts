/**
 * `vmkeep backup` when things go wrong: unknown domains, a bad output path, a domain destroyed
 * or its QEMU killed in the middle of a run (with --prune, which must then remove nothing), and
 * two runs on the same output folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLock, domainLockFile } from '../../src/util/lock.js';
import {
  MiB,
  backupCli,
  chainFolders,
  checkpointNames,
  expectDocument,
  useLockDirAndCleanup,
  qemuBitmapNames,
  readManifestJson,
  snapshotTree,
} from '../helpers/backup-run.js';
import {
  createTestDomain,
  destroyDomain,
  domainState,
  referenceCopy,
  startDomain,
  virsh,
  withPacedDiskReads,
  writeGuestData,
  type TestDomain,
} from '../helpers/libvirt.js';
import { expectPointRestores } from '../helpers/restore-point.js';
import { startVmkeep, waitForLockHolder, waitForPartial } from '../helpers/vmkeep-process.js';

const lockDir = useLockDirAndCleanup();

function expectRestores(dom: TestDomain, chainDir: string, checkpoint: string, reference: string): Promise<void> {
  return expectPointRestores(chainDir, checkpoint, reference, { scratchDir: dom.dir });
}

describe('vmkeep backup: bad requests', () => {
  it('--domains good1,missing,good2: both good domains are backed up, exit 1', async () => {
    const good1 = await createTestDomain({ start: true });
    const good2 = await createTestDomain({ start: true });
    const out = path.join(good1.dir, 'out');
    const missing = `vmkeep-test-missing-${Date.now()}`;
    const run = await backupCli(['--domains', `${good1.name},${missing},${good2.name}`, '--output', out, '--json'], { lockDir });
    const doc = expectDocument(run, 1);
    const byName = new Map(doc.results.map((r) => [r.domain, r]));
    expect(byName.get(good1.name)).toMatchObject({ result: 'done', level: 'full' });
    expect(byName.get(good2.name)).toMatchObject({ result: 'done', level: 'full' });
    expect(byName.get(missing)).toMatchObject({ result: 'failed', reason: 'unknown domain' });
    expect(chainFolders(out, good1.name)).toHaveLength(1);
    expect(chainFolders(out, good2.name)).toHaveLength(1);
    expect(fs.existsSync(path.join(out, missing))).toBe(false);
  });

  it('an output path that is a regular file: exit 2, nothing created', async () => {
    const dom = await createTestDomain();
    const file = path.join(dom.dir, 'not-a-folder');
    fs.writeFileSync(file, 'keep me\n');
    const locks = path.join(dom.dir, 'locks');
    const before = fs.readdirSync(dom.dir).sort();
    const run = await backupCli(['--domains', dom.name, '--output', file], { lockDir: locks });
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/exists and is not a directory/);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me\n');
    expect(fs.readdirSync(dom.dir).sort()).toEqual(before);
    expect(await checkpointNames(dom)).toEqual([]);
    expect(await domainState(dom)).toBe('shut off');
  });
});

describe('vmkeep backup: checkpoints vmkeep did not make', () => {
  it('refuses to back up beside them, says what to do, touches nothing, and records the failure', async () => {
    const dom = await createTestDomain({ start: true });
    const out = path.join(dom.dir, 'out');
    const args = ['--domains', dom.name, '--output', out, '--json'];
    const first = expectDocument(await backupCli(args, { lockDir }));
    const chainDir = path.join(out, dom.name, first.results[0]!.chain!);
    await virsh(['checkpoint-create-as', dom.uuid, '--name', 'someone-elses']);
    const tree = snapshotTree(chainDir).filter((f) => !f.startsWith('vmkeep-manifest.json'));

    const doc = expectDocument(await backupCli(args, { lockDir }), 2);
    expect(doc.results).toMatchObject([
      { result: 'failed', reason: expect.stringMatching(/checkpoints vmkeep did not make \(someone-elses\).*then run again/) },
    ]);
    expect(await checkpointNames(dom)).toEqual(['virtnbdbackup.0', 'someone-elses']);
    expect(snapshotTree(chainDir).filter((f) => !f.startsWith('vmkeep-manifest.json'))).toEqual(tree);
    // On record in the newest chain, so prune holds back ("latest backup failed").
    expect(readManifestJson(chainDir).events.at(-1)).toMatchObject({
      kind: 'failed',
      message: expect.stringMatching(/^backup: libvirt has checkpoints vmkeep did not make/),
    });
  });
});

describe('vmkeep backup: the domain dies mid-run', () => {
  it('virsh destroy mid-incremental, then QEMU killed: the next runs work, and --prune after a failure removes nothing', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 256 }], start: true });
    const out = path.join(dom.dir, 'out');
    const args = ['--domains', dom.name, '--output', out, '--json'];
    const jan = '2026-01-15T12:00:00Z';
    const mar = '2026-03-20T12:00:00Z';
    const janChain = 'vmsnap-backup-monthly-2026-01';
    const marChain = 'vmsnap-backup-monthly-2026-03';

    await writeGuestData(dom, 'vda', { pattern: 0x81, offset: 0, length: 4 * MiB });
    expectDocument(await backupCli(args, { lockDir, now: jan }));
    await writeGuestData(dom, 'vda', { pattern: 0x82, offset: 8 * MiB, length: 4 * MiB });
    expectDocument(await backupCli(args, { lockDir, now: mar }));

    // The domain goes away while the incremental copies: the run fails, and --prune must not
    // touch the January chain (VMSnap's rule would remove it after a successful March backup).
    // QEMU reads the disk at 8 MiB/s meanwhile, so the destroy lands in the copy (about 28 s of
    // it): with KVM, virtnbdbackup copies the 224 MiB in about a second, and a loaded test
    // process could destroy the domain after the run had succeeded.
    await writeGuestData(dom, 'vda', { pattern: 0x83, offset: 16 * MiB, length: 224 * MiB });
    const failed = await withPacedDiskReads(dom, 8 * MiB, async () => {
      const run = startVmkeep(['backup', ...args, '--prune'], { env: { VMKEEP_LOCK_DIR: lockDir, VMKEEP_NOW: mar } });
      await waitForPartial(out, 1 * MiB, run);
      await destroyDomain(dom);
      return run.finished;
    });
    expect(failed.code, failed.stderr).toBe(2);
    const failedDoc = JSON.parse(failed.stdout) as { results: Array<{ result: string; prune?: unknown }> };
    expect(failedDoc.results).toMatchObject([{ result: 'failed' }]);
    expect(failedDoc.results[0]!.prune).toBeUndefined();
    expect(chainFolders(out, dom.name)).toEqual([janChain, marChain]);
    expect(readManifestJson(path.join(out, dom.name, marChain)).events.at(-1)).toMatchObject({ kind: 'failed' });

    // Next run: the domain is shut off; it is started paused, repaired, backed up, shut off.
    const refDestroyed = path.join(dom.dir, 'ref-destroyed.qcow2');
    await referenceCopy(dom, 'vda', refDestroyed);
    const afterDestroy = expectDocument(await backupCli(args, { lockDir, now: mar }));
    expect(afterDestroy.results).toMatchObject([{ result: 'done', level: 'inc', chain: marChain, checkpoint: 'virtnbdbackup.1', dataBytes: 224 * MiB }]);
    expect(await domainState(dom)).toBe('shut off');
    await expectRestores(dom, path.join(out, dom.name, marChain), 'virtnbdbackup.1', refDestroyed);

    // QEMU killed: its bitmaps were never saved; the next run starts a new chain (and may prune now).
    await startDomain(dom);
    await writeGuestData(dom, 'vda', { pattern: 0x84, offset: 250 * MiB, length: 2 * MiB });
    const pid = Number(fs.readFileSync(`/run/libvirt/qemu/${dom.name}.pid`, 'utf8').trim());
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && (await domainState(dom)) !== 'shut off'; i += 1) await new Promise((r) => setTimeout(r, 100));
    expect(await virsh(['domstate', dom.uuid, '--reason'])).toMatch(/crashed/);
    const refCrashed = path.join(dom.dir, 'ref-crashed.qcow2');
    await referenceCopy(dom, 'vda', refCrashed);
    const afterCrash = expectDocument(await backupCli([...args, '--prune'], { lockDir, now: mar }));
    expect(afterCrash.results).toMatchObject([{ result: 'done', level: 'full', chain: `${marChain}.2`, checkpoint: 'virtnbdbackup.0' }]);
    expect(afterCrash.results[0]!.reasons!.join(' ')).toMatch(/inconsistent/);
    expect(afterCrash.results[0]!.prune?.removed).toEqual([`${dom.name}/${janChain}`]);
    expect(chainFolders(out, dom.name)).toEqual([marChain, `${marChain}.2`]);
    expect(await domainState(dom)).toBe('shut off');
    expect(await checkpointNames(dom)).toEqual(['virtnbdbackup.0']);
    await expectRestores(dom, path.join(out, dom.name, `${marChain}.2`), 'virtnbdbackup.0', refCrashed);

    // And the new chain goes on.
    await startDomain(dom);
    expect(await qemuBitmapNames(dom)).toEqual(['virtnbdbackup.0']);
    await writeGuestData(dom, 'vda', { pattern: 0x85, offset: 100 * MiB, length: 1 * MiB });
    const refLast = path.join(dom.dir, 'ref-last.qcow2');
    await referenceCopy(dom, 'vda', refLast);
    const last = expectDocument(await backupCli(args, { lockDir, now: mar }));
    expect(last.results).toMatchObject([{ result: 'done', level: 'inc', chain: `${marChain}.2`, checkpoint: 'virtnbdbackup.1', dataBytes: 1 * MiB }]);
    await expectRestores(dom, path.join(out, dom.name, `${marChain}.2`), 'virtnbdbackup.1', refLast);
  });
});

describe('vmkeep backup: two runs on one output folder', () => {
  it("the second exits 75 naming the first one's pid; with --lock-wait it waits and then runs", async () => {
    const dom = await createTestDomain({ start: true });
    const out = path.join(dom.dir, 'out');
    const args = ['--domains', dom.name, '--output', out, '--json'];
    await writeGuestData(dom, 'vda', { pattern: 0x91, offset: 0, length: 2 * MiB });
    // The test holds the domain lock, so the first run holds the output lock while it waits for it.
    fs.mkdirSync(lockDir, { recursive: true });
    const held = await acquireLock(domainLockFile(lockDir, dom.name), { waitMs: 0, what: 'test' });
    let released = false;
    try {
      const first = startVmkeep(['backup', ...args, '--lock-wait', '120'], { env: { VMKEEP_LOCK_DIR: lockDir } });
      expect(await waitForLockHolder(path.join(out, '.vmkeep.lock'))).toBe(first.pid);

      const second = await backupCli(args, { lockDir });
      expect(second.code, second.stderr).toBe(75);
      const err = JSON.parse(second.stderr.trim().split('\n').at(-1)!) as { error: { code: string; message: string } };
      expect(err.error.code).toBe('locked');
      expect(err.error.message).toContain(`pid ${first.pid}`);
      expect(err.error.message).toMatch(/--lock-wait/);

      // A dry run takes no lock, but will not plan over a run at work either.
      const dry = await backupCli([...args, '--dry-run'], { lockDir });
      expect(dry.code, dry.stderr).toBe(75);
      expect(dry.stderr).toContain(`pid ${first.pid}`);

      const third = startVmkeep(['backup', ...args, '--lock-wait', '120'], { env: { VMKEEP_LOCK_DIR: lockDir } });
      await new Promise((r) => setTimeout(r, 1500));
      held.release();
      released = true;
      const firstDone = await first.finished;
      const thirdDone = await third.finished;
      expect(firstDone.code, firstDone.stderr).toBe(0);
      expect(thirdDone.code, thirdDone.stderr).toBe(0);
      const levels = [JSON.parse(firstDone.stdout), JSON.parse(thirdDone.stdout)].map((d: { results: Array<{ level: string }> }) => d.results[0]!.level);
      expect(levels).toEqual(['full', 'inc']);
    } finally {
      if (!released) held.release();
    }
  });
});
