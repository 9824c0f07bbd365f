/**
 * `vmkeep backup` against the real libvirtd and virtnbdbackup: chains of restore points on a
 * running and a shut-off domain, period rollover, odd names. Every restore point is restored
 * with virtnbdrestore (test/helpers/restore-point.ts) and compared byte for byte with a
 * reference copy of the disk taken at that point.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MiB,
  backupCli,
  chainFolders,
  checkpointNames,
  expectDocument,
  useLockDirAndCleanup,
  qemuBitmapNames,
  readManifestJson,
} from '../helpers/backup-run.js';
import { createTestDomain, destroyDomain, domainState, referenceCopy, startDomain, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { expectPointRestores } from '../helpers/restore-point.js';

const lockDir = useLockDirAndCleanup();

/** Restore `checkpoint` of `chain` and expect it to equal `reference`. */
function expectRestores(dom: TestDomain, output: string, chain: string, checkpoint: string, reference: string, disk = 'vda'): Promise<void> {
  return expectPointRestores(path.join(output, dom.name, chain), checkpoint, reference, { scratchDir: dom.dir, disk });
}

describe('vmkeep backup: chains', () => {
  it('running domain: full, incremental, incremental; each point restores byte-identically', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 128 }], start: true });
    const out = path.join(dom.dir, 'out');
    const refs: string[] = [];
    const args = ['--domains', dom.name, '--output', out, '--json'];

    await writeGuestData(dom, 'vda', { pattern: 0x11, offset: 0, length: 16 * MiB });
    refs.push(path.join(dom.dir, 'ref0.qcow2'));
    await referenceCopy(dom, 'vda', refs[0]!);
    const first = expectDocument(await backupCli(args, { lockDir }));
    expect(first.results).toMatchObject([{ domain: dom.name, result: 'done', level: 'full', checkpoint: 'virtnbdbackup.0' }]);
    const chain = first.results[0]!.chain!;

    // Overwrite part of what the full saw, and write somewhere new.
    await writeGuestData(dom, 'vda', { pattern: 0x22, offset: 8 * MiB, length: 4 * MiB });
    await writeGuestData(dom, 'vda', { pattern: 0x33, offset: 100 * MiB, length: 2 * MiB });
    refs.push(path.join(dom.dir, 'ref1.qcow2'));
    await referenceCopy(dom, 'vda', refs[1]!);
    const second = expectDocument(await backupCli(args, { lockDir }));
    expect(second.results).toMatchObject([{ result: 'done', level: 'inc', chain, checkpoint: 'virtnbdbackup.1' }]);
    // Only the changed 6 MiB travel.
    expect(second.results[0]!.dataBytes).toBe(6 * MiB);

    await writeGuestData(dom, 'vda', { pattern: 0x44, offset: 0, length: 1 * MiB });
    refs.push(path.join(dom.dir, 'ref2.qcow2'));
    await referenceCopy(dom, 'vda', refs[2]!);
    const third = expectDocument(await backupCli(args, { lockDir }));
    expect(third.results).toMatchObject([{ result: 'done', level: 'inc', chain, checkpoint: 'virtnbdbackup.2' }]);

    const manifest = readManifestJson(path.join(out, dom.name, chain));
    expect(manifest.state).toBe('complete');
    expect(manifest.running).toBeUndefined();
    expect(manifest.points.map((p) => [p.checkpoint, p.level])).toEqual([
      ['virtnbdbackup.0', 'full'],
      ['virtnbdbackup.1', 'inc'],
      ['virtnbdbackup.2', 'inc'],
    ]);
    expect(await checkpointNames(dom)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2']);

    for (const [i, ref] of refs.entries()) await expectRestores(dom, out, chain, `virtnbdbackup.${i}`, ref);
  });

  it('shut-off domain with two disks: started paused for a full and shut off again; after a start, an incremental', async () => {
    const dom = await createTestDomain({
      disks: [
        { target: 'vda', sizeMiB: 64 },
        { target: 'vdb', sizeMiB: 32 },
      ],
      start: true,
    });
    const out = path.join(dom.dir, 'out');
    const args = ['--domains', dom.name, '--output', out, '--json'];
    await writeGuestData(dom, 'vda', { pattern: 0x51, offset: 2 * MiB, length: 8 * MiB });
    await writeGuestData(dom, 'vdb', { pattern: 0x55, offset: 0, length: 1 * MiB });
    await destroyDomain(dom);
    expect(await domainState(dom)).toBe('shut off');
    const refs0 = { vda: path.join(dom.dir, 'ref0-vda.qcow2'), vdb: path.join(dom.dir, 'ref0-vdb.qcow2') };
    await referenceCopy(dom, 'vda', refs0.vda);
    await referenceCopy(dom, 'vdb', refs0.vdb);

    const first = expectDocument(await backupCli(args, { lockDir }));
    expect(first.results).toMatchObject([{ result: 'done', level: 'full', checkpoint: 'virtnbdbackup.0', dataBytes: 9 * MiB }]);
    expect(await domainState(dom)).toBe('shut off');
    expect(await checkpointNames(dom)).toEqual(['virtnbdbackup.0']);

    await startDomain(dom);
    await writeGuestData(dom, 'vda', { pattern: 0x52, offset: 40 * MiB, length: 3 * MiB });
    await writeGuestData(dom, 'vdb', { pattern: 0x56, offset: 16 * MiB, length: 1 * MiB });
    const refs1 = { vda: path.join(dom.dir, 'ref1-vda.qcow2'), vdb: path.join(dom.dir, 'ref1-vdb.qcow2') };
    await referenceCopy(dom, 'vda', refs1.vda);
    await referenceCopy(dom, 'vdb', refs1.vdb);
    const second = expectDocument(await backupCli(args, { lockDir }));
    expect(second.results).toMatchObject([{ result: 'done', level: 'inc', checkpoint: 'virtnbdbackup.1', dataBytes: 4 * MiB }]);
    // It was running when the run began: it keeps running.
    expect(await domainState(dom)).toBe('running');

    const chain = first.results[0]!.chain!;
    for (const disk of ['vda', 'vdb'] as const) {
      await expectRestores(dom, out, chain, 'virtnbdbackup.0', refs0[disk], disk);
      await expectRestores(dom, out, chain, 'virtnbdbackup.1', refs1[disk], disk);
    }
  });

  it('rollover: a new month starts a new full chain; the old checkpoints and their QEMU bitmaps go', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
    const out = path.join(dom.dir, 'out');
    const args = ['--domains', dom.name, '--output', out, '--json'];
    const january = '2026-01-15T12:00:00Z';
    const february = '2026-02-15T12:00:00Z';

    await writeGuestData(dom, 'vda', { pattern: 0x61, offset: 0, length: 4 * MiB });
    expectDocument(await backupCli(args, { lockDir, now: january }));
    await writeGuestData(dom, 'vda', { pattern: 0x62, offset: 10 * MiB, length: 2 * MiB });
    const refJan = path.join(dom.dir, 'ref-jan.qcow2');
    await referenceCopy(dom, 'vda', refJan);
    const jan = expectDocument(await backupCli(args, { lockDir, now: january }));
    expect(jan.results).toMatchObject([{ level: 'inc', chain: 'vmsnap-backup-monthly-2026-01', checkpoint: 'virtnbdbackup.1' }]);
    expect(await qemuBitmapNames(dom)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);

    await writeGuestData(dom, 'vda', { pattern: 0x63, offset: 20 * MiB, length: 2 * MiB });
    const febRun = await backupCli(args, { lockDir, now: february });
    expect(`${febRun.stdout}${febRun.stderr}`).not.toMatch(/Bitmap already exists/i);
    const feb = expectDocument(febRun);
    expect(feb.results).toMatchObject([{ result: 'done', level: 'full', chain: 'vmsnap-backup-monthly-2026-02', checkpoint: 'virtnbdbackup.0' }]);
    // The run says why, and what it removed.
    expect(feb.results[0]!.reasons!.join(' ')).toMatch(/no chain for this period/);
    expect(feb.results[0]!.repairs!.join('\n')).toMatch(/checkpoint virtnbdbackup\.1/);
    expect(await checkpointNames(dom)).toEqual(['virtnbdbackup.0']);
    // The old chain's bitmaps left QEMU with their checkpoints; only the new chain's is there.
    expect(await qemuBitmapNames(dom)).toEqual(['virtnbdbackup.0']);

    await writeGuestData(dom, 'vda', { pattern: 0x64, offset: 30 * MiB, length: 1 * MiB });
    const refFeb = path.join(dom.dir, 'ref-feb.qcow2');
    await referenceCopy(dom, 'vda', refFeb);
    const feb2 = expectDocument(await backupCli(args, { lockDir, now: february }));
    expect(feb2.results).toMatchObject([
      { result: 'done', level: 'inc', chain: 'vmsnap-backup-monthly-2026-02', checkpoint: 'virtnbdbackup.1', dataBytes: 1 * MiB },
    ]);
    expect(await qemuBitmapNames(dom)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
    expect(chainFolders(out, dom.name)).toEqual(['vmsnap-backup-monthly-2026-01', 'vmsnap-backup-monthly-2026-02']);

    // The January chain still restores after its checkpoints left libvirt.
    await expectRestores(dom, out, 'vmsnap-backup-monthly-2026-01', 'virtnbdbackup.1', refJan);
    await expectRestores(dom, out, 'vmsnap-backup-monthly-2026-02', 'virtnbdbackup.1', refFeb);
  });

  it('two output folders: a chain never continues from a checkpoint of the same name the other folder made; every latest point restores', async () => {
    // virtnbdbackup names every chain's checkpoints virtnbdbackup.N: after two runs into B, libvirt
    // again has a virtnbdbackup.1, but not A's. Continuing A from it would silently miss data.
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
    const [a, b] = [path.join(dom.dir, 'nas'), path.join(dom.dir, 'usb')];
    const run = async (out: string, pattern: number, offset: number) => {
      await writeGuestData(dom, 'vda', { pattern, offset: offset * MiB, length: 1 * MiB });
      const ref = path.join(dom.dir, `ref-${pattern}.qcow2`);
      await referenceCopy(dom, 'vda', ref);
      const r = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir })).results[0]!;
      expect(r.result).toBe('done');
      return { ...r, ref };
    };
    await run(a, 0x01, 0);
    expect((await run(a, 0x02, 1)).level).toBe('inc');
    // virtnbdbackup's full into B must delete A's checkpoints (shared names): it says so, and what a second copy needs.
    const firstB = await run(b, 0x03, 2);
    expect(firstB.repairs!.join('\n')).toMatch(
      /checkpoint virtnbdbackup\.1 belongs to no chain in this output folder .* that chain's next backup is a full; a second copy that continues needs --engine push or vmkeep replicate/,
    );
    expect((await run(b, 0x04, 3)).checkpoint).toBe('virtnbdbackup.1');
    const again = await run(a, 0x05, 4);
    expect(again.level).toBe('full');
    expect(again.reasons!.join('\n')).toMatch(
      /checkpoint virtnbdbackup\.1 in libvirt is not the one chain .* recorded .*another chain of this domain \(another output folder or --groupBy\) took the name/,
    );
    // The virtnbdbackup.N it deletes now are B's, though A once used the same names.
    expect(again.repairs!.join('\n')).toMatch(/checkpoint virtnbdbackup\.1 belongs to no chain in this output folder/);
    await expectRestores(dom, a, again.chain!, again.checkpoint!, again.ref);
    // And back: B's chain notices A's new checkpoint the same way.
    const back = await run(b, 0x06, 5);
    expect(back.level).toBe('full');
    await expectRestores(dom, b, back.chain!, back.checkpoint!, back.ref);
  });

  it('a domain name with shell metacharacters and a disk path with a space back up and restore', async () => {
    const tag = `vmkeep-pwned-${Math.random().toString(16).slice(2, 8)}`;
    // Run through a shell, `$(cd;touch TAG)` would leave TAG in root's home folder.
    const name = `vmkeep-test-$(cd;touch ${tag}) 'q' "d";&|<x>`;
    const dom = await createTestDomain({ name, disks: [{ target: 'vda', sizeMiB: 64, fileName: 'disk one.qcow2' }], start: true });
    expect(dom.disks[0]!.path).toContain(' ');
    const out = path.join(dom.dir, 'out put');
    const args = ['--domains', name, '--output', out, '--json'];
    await writeGuestData(dom, 'vda', { pattern: 0x71, offset: 1 * MiB, length: 4 * MiB });
    const ref0 = path.join(dom.dir, 'ref0.qcow2');
    await referenceCopy(dom, 'vda', ref0);
    const first = expectDocument(await backupCli(args, { lockDir }));
    expect(first.results).toMatchObject([{ domain: name, result: 'done', level: 'full' }]);
    await writeGuestData(dom, 'vda', { pattern: 0x72, offset: 20 * MiB, length: 1 * MiB });
    const ref1 = path.join(dom.dir, 'ref1.qcow2');
    await referenceCopy(dom, 'vda', ref1);
    const second = expectDocument(await backupCli(args, { lockDir }));
    expect(second.results).toMatchObject([{ domain: name, result: 'done', level: 'inc', dataBytes: 1 * MiB }]);
    expect(fs.existsSync(path.join(out, name, first.results[0]!.chain!, `${name}.cpt`))).toBe(true);
    // Nothing ran the name through a shell.
    expect(fs.existsSync(path.join(os.homedir(), tag))).toBe(false);

    const chain = first.results[0]!.chain!;
    await expectRestores(dom, out, chain, 'virtnbdbackup.0', ref0);
    await expectRestores(dom, out, chain, 'virtnbdbackup.1', ref1);
  });
});
