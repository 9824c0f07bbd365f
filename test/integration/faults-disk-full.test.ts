/**
 * Fault suite (slow): the output folder fills up. The backup goes to a small tmpfs:
 * - a full that passes the space estimate but runs out of space while writing: exit 2, a
 *   message naming the folder and the space, the failure in the manifest, no checkpoint, bitmap,
 *   `.partial` or other file of the run left; after more space the next run says "the previous
 *   run failed: no space left", succeeds, and its point restores byte for byte;
 * - an incremental that clearly cannot fit (the dirty bitmap counts more than is free): refused
 *   before anything is written, the chain untouched; the next run with space continues the chain.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MiB,
  backupCli,
  chainFolders,
  checkpointNames,
  expectDocument,
  jobActive,
  makeLockDir,
  qemuBitmapNames,
  readManifestJson,
  snapshotTree,
} from '../helpers/backup-run.js';
import { runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, domainState, referenceCopy, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { expectPointRestores } from '../helpers/restore-point.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { partialFiles } from '../helpers/vmkeep-process.js';

let lockDir: string;
let dom: TestDomain;
let disk: Tmpfs;
let out: string;
let args: string[];

beforeAll(async () => {
  lockDir = makeLockDir();
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 256 }], start: true });
  disk = await mountTmpfs(48);
  out = path.join(disk.dir, 'out');
  args = ['--domains', dom.name, '--output', out, '--json'];
});
afterAll(async () => {
  await disk?.unmount();
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

describe('slow faults: the output folder is full', () => {
  let chainDir: string;

  it("a full runs out of space mid-run: recorded in vmkeep's words, nothing of the run left; the next run says so and succeeds", async () => {
    // 50 MiB of data: the estimate (~50 MiB allocated) is not "clearly" above the 48 MiB free,
    // so the run starts and the disk fills while virtnbdbackup writes.
    await writeGuestData(dom, 'vda', { pattern: 0x31, offset: 0, length: 50 * MiB });
    const ref0 = path.join(dom.dir, 'ref0.qcow2');
    await referenceCopy(dom, 'vda', ref0);

    const failed = await backupCli(args, { lockDir });
    const doc = expectDocument(failed, 2);
    const result = doc.results[0]!;
    expect(result.result).toBe('failed');
    expect(result.reason).toMatch(
      new RegExp(
        `^no space left in ${out}/${dom.name}/vmsnap-backup-\\S+: the full backup of ${dom.name} could not be written \\(it needs about [\\d.]+ MiB, [\\d.]+ MiB was free\\)`,
      ),
    );
    // The tool's own words only as detail (--json) and never in the log lines without --verbose.
    expect(result.detail).toMatch(/No space left on device|Errno 28/);
    expect(failed.stderr).not.toMatch(/Errno|Traceback|OSError/);

    const chains = chainFolders(out, dom.name);
    expect(chains).toHaveLength(1);
    chainDir = path.join(out, dom.name, chains[0]!);
    const m = readManifestJson(chainDir);
    expect(m.running).toBeUndefined();
    expect(m.state).toBe('broken');
    expect(m.events.at(-1)).toMatchObject({ kind: 'failed', message: expect.stringMatching(/^full backup: no space left in /) });
    // Nothing of the run is left: no partial or data file, no log, no checkpoint, no bitmap, no job.
    expect(snapshotTree(chainDir).map((l) => l.split(' ')[0])).toEqual(['vmkeep-manifest.json']);
    expect(partialFiles(out)).toEqual([]);
    expect(await checkpointNames(dom)).toEqual([]);
    expect(await qemuBitmapNames(dom)).toEqual([]);
    expect(await jobActive(dom)).toBe(false);
    expect(await domainState(dom)).toBe('running');

    await disk.resize(256);
    const next = expectDocument(await backupCli(args, { lockDir }));
    expect(next.results).toMatchObject([{ result: 'done', level: 'full', chain: chains[0], checkpoint: 'virtnbdbackup.0' }]);
    expect(next.results[0]!.reasons!.join('; ')).toMatch(/the previous run failed: no space left in /);
    await expectPointRestores(chainDir, 'virtnbdbackup.0', ref0, { scratchDir: dom.dir });
  });

  it('an incremental that clearly cannot fit is refused before anything is written; with space the chain goes on', async () => {
    await writeGuestData(dom, 'vda', { pattern: 0x32, offset: 64 * MiB, length: 100 * MiB });
    const ref1 = path.join(dom.dir, 'ref1.qcow2');
    await referenceCopy(dom, 'vda', ref1);
    await disk.resize(100);
    const before = snapshotTree(chainDir).filter((l) => !l.startsWith('vmkeep-manifest.json'));

    const refused = expectDocument(await backupCli(args, { lockDir }), 2);
    expect(refused.results[0]!.reason).toMatch(
      new RegExp(
        `^not enough space in ${out}/${dom.name} for the inc backup of ${dom.name}: it needs about 100 MiB \\(the bytes changed since virtnbdbackup.0\\), [\\d.]+ MiB is free; nothing was written`,
      ),
    );
    expect(snapshotTree(chainDir).filter((l) => !l.startsWith('vmkeep-manifest.json'))).toEqual(before);
    expect(await checkpointNames(dom)).toEqual(['virtnbdbackup.0']);
    expect(readManifestJson(chainDir)).toMatchObject({ state: 'complete', points: [{ checkpoint: 'virtnbdbackup.0' }] });
    expect(readManifestJson(chainDir).events.at(-1)).toMatchObject({ kind: 'failed', message: expect.stringMatching(/^backup: not enough space/) });

    await disk.resize(256);
    const next = expectDocument(await backupCli(args, { lockDir }));
    expect(next.results).toMatchObject([{ result: 'done', level: 'inc', checkpoint: 'virtnbdbackup.1', dataBytes: 100 * MiB }]);
    expect(next.results[0]!.reasons!.join('; ')).toMatch(/the previous run failed: backup: not enough space/);
    await expectPointRestores(chainDir, 'virtnbdbackup.0', ref0Path(), { scratchDir: dom.dir });
    await expectPointRestores(chainDir, 'virtnbdbackup.1', ref1, { scratchDir: dom.dir });
    const verify = await runVmkeep(['verify', '--output', out]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});

function ref0Path(): string {
  return path.join(dom.dir, 'ref0.qcow2');
}
