/**
 * `vmkeep backup` against the real libvirtd, with each engine (virtnbdbackup and push): chains of
 * restore points on a running and a shut-off domain with two disks, period rollover; then what
 * only virtnbdbackup does (one checkpoint name shared by every folder) and odd names. Every restore
 * point is read back without vmkeep (test/helpers/engines.ts: virtnbdrestore for virtnbdbackup's
 * streams, QEMU through the backing chain for push's images) and compared byte for byte with a
 * reference copy of the disk taken at that point.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MiB, backupCli, chainFolders, checkpointNames, expectDocument, jobActive, useLockDirAndCleanup, qemuBitmapNames } from '../helpers/backup-run.js';
import { describeEngines, engineArgs, expectFirstCheckpoint, expectPointEquals, nthCheckpoint, type Engine } from '../helpers/engines.js';
import { createTestDomain, destroyDomain, domainState, referenceCopy, startDomain, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { expectPointRestores } from '../helpers/restore-point.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
const lockDir = useLockDirAndCleanup();

/** Restore `checkpoint` of `chain` (virtnbdbackup) and expect it to equal `reference`. */
function expectRestores(dom: TestDomain, output: string, chain: string, checkpoint: string, reference: string, disk = 'vda'): Promise<void> {
  return expectPointRestores(path.join(output, dom.name, chain), checkpoint, reference, { scratchDir: dom.dir, disk });
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** The chain's manifest with the fields only these tests read. */
function manifestOf(chainDir: string): {
  engine: string;
  state: string;
  running?: unknown;
  points: Array<{ checkpoint: string; level: string; parent?: string; files: Array<{ path: string; kind: string; disk?: string; sha256: string }> }>;
} {
  return JSON.parse(fs.readFileSync(path.join(chainDir, 'vmkeep-manifest.json'), 'utf8')) as never;
}

describeEngines('vmkeep backup --engine %s: chains', (engine: Engine) => {
  const args = (dom: TestDomain, out: string) => engineArgs(engine, dom, out);
  const expectPoint = (dom: TestDomain, chainDir: string, disk: string, checkpoint: string, reference: string, previous: string | undefined) =>
    expectPointEquals(engine, { chainDir, disk, checkpoint, reference, previous, scratchDir: dom.dir });

  it('running domain: full, incremental, incremental; each point restores byte-identically', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 128 }], start: true });
    const out = path.join(dom.dir, 'out');
    const refs: string[] = [];

    await writeGuestData(dom, 'vda', { pattern: 0x11, offset: 0, length: 16 * MiB });
    refs.push(path.join(dom.dir, 'ref0.qcow2'));
    await referenceCopy(dom, 'vda', refs[0]!);
    const first = expectDocument(await backupCli(args(dom, out), { lockDir }));
    expect(first.results).toMatchObject([{ domain: dom.name, result: 'done', level: 'full', dataBytes: 16 * MiB }]);
    const cp0 = first.results[0]!.checkpoint!;
    expectFirstCheckpoint(engine, cp0);
    const chain = first.results[0]!.chain!;
    const chainDir = path.join(out, dom.name, chain);

    // Overwrite part of what the full saw, and write somewhere new.
    await writeGuestData(dom, 'vda', { pattern: 0x22, offset: 8 * MiB, length: 4 * MiB });
    await writeGuestData(dom, 'vda', { pattern: 0x33, offset: 100 * MiB, length: 2 * MiB });
    refs.push(path.join(dom.dir, 'ref1.qcow2'));
    await referenceCopy(dom, 'vda', refs[1]!);
    const second = expectDocument(await backupCli(args(dom, out), { lockDir }));
    const cp1 = nthCheckpoint(cp0, 1);
    // Only the changed 6 MiB travel.
    expect(second.results).toMatchObject([{ result: 'done', level: 'inc', chain, checkpoint: cp1, dataBytes: 6 * MiB }]);

    await writeGuestData(dom, 'vda', { pattern: 0x44, offset: 0, length: 1 * MiB });
    refs.push(path.join(dom.dir, 'ref2.qcow2'));
    await referenceCopy(dom, 'vda', refs[2]!);
    const third = expectDocument(await backupCli(args(dom, out), { lockDir }));
    const cp2 = nthCheckpoint(cp0, 2);
    expect(third.results).toMatchObject([{ result: 'done', level: 'inc', chain, checkpoint: cp2, dataBytes: 1 * MiB }]);

    const cps = [cp0, cp1, cp2];
    const manifest = manifestOf(chainDir);
    expect(manifest.engine).toBe(engine);
    expect(manifest.state).toBe('complete');
    expect(manifest.running).toBeUndefined();
    expect(manifest.points.map((p) => [p.checkpoint, p.level, p.parent])).toEqual([
      [cp0, 'full', undefined],
      [cp1, 'inc', cp0],
      [cp2, 'inc', cp1],
    ]);
    expect(await checkpointNames(dom)).toEqual(cps);
    expect(await qemuBitmapNames(dom)).toEqual([...cps].sort());
    expect(await jobActive(dom)).toBe(false);
    for (const [i, cp] of cps.entries()) await expectPoint(dom, chainDir, 'vda', cp, refs[i]!, cps[i - 1]);

    if (engine === 'push') {
      // The manifest records every file with the sha256 of what is on disk.
      for (const p of manifest.points) {
        expect(p.files.map((f) => f.path).sort()).toEqual([`vda.${p.checkpoint}.qcow2`, `vmconfig.${p.checkpoint}.xml`]);
        for (const f of p.files) expect(f.sha256).toBe(sha256(path.join(chainDir, f.path)));
        expect(p.files.find((f) => f.path.endsWith('.qcow2'))).toMatchObject({ kind: 'data', disk: 'vda' });
      }
      // Folders go back to private once the job is done (QEMU writes into them during it).
      expect(fs.statSync(chainDir).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(out, dom.name)).mode & 0o777).toBe(0o700);

      // Relative backing files: a copy elsewhere is a whole chain.
      const copy = path.join(dom.dir, 'copied');
      await runner.run('cp', ['-a', '--', out, copy]);
      fs.rmSync(out, { recursive: true, force: true });
      for (const [i, cp] of cps.entries()) await expectPoint(dom, path.join(copy, dom.name, chain), 'vda', cp, refs[i]!, cps[i - 1]);
    }
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
    await writeGuestData(dom, 'vda', { pattern: 0x51, offset: 2 * MiB, length: 8 * MiB });
    await writeGuestData(dom, 'vdb', { pattern: 0x55, offset: 0, length: 1 * MiB });
    await destroyDomain(dom);
    expect(await domainState(dom)).toBe('shut off');
    const refs0 = { vda: path.join(dom.dir, 'ref0-vda.qcow2'), vdb: path.join(dom.dir, 'ref0-vdb.qcow2') };
    await referenceCopy(dom, 'vda', refs0.vda);
    await referenceCopy(dom, 'vdb', refs0.vdb);

    const first = expectDocument(await backupCli(args(dom, out), { lockDir }));
    expect(first.results).toMatchObject([{ result: 'done', level: 'full', dataBytes: 9 * MiB }]);
    const cp0 = first.results[0]!.checkpoint!;
    expectFirstCheckpoint(engine, cp0);
    expect(await domainState(dom)).toBe('shut off');
    expect(await checkpointNames(dom)).toEqual([cp0]);

    await startDomain(dom);
    await writeGuestData(dom, 'vda', { pattern: 0x52, offset: 40 * MiB, length: 3 * MiB });
    await writeGuestData(dom, 'vdb', { pattern: 0x56, offset: 16 * MiB, length: 1 * MiB });
    const refs1 = { vda: path.join(dom.dir, 'ref1-vda.qcow2'), vdb: path.join(dom.dir, 'ref1-vdb.qcow2') };
    await referenceCopy(dom, 'vda', refs1.vda);
    await referenceCopy(dom, 'vdb', refs1.vdb);
    const second = expectDocument(await backupCli(args(dom, out), { lockDir }));
    const cp1 = nthCheckpoint(cp0, 1);
    expect(second.results).toMatchObject([{ result: 'done', level: 'inc', checkpoint: cp1, dataBytes: 4 * MiB }]);
    // It was running when the run began: it keeps running.
    expect(await domainState(dom)).toBe('running');

    const chainDir = path.join(out, dom.name, first.results[0]!.chain!);
    for (const disk of ['vda', 'vdb'] as const) {
      await expectPoint(dom, chainDir, disk, cp0, refs0[disk], undefined);
      await expectPoint(dom, chainDir, disk, cp1, refs1[disk], cp0);
    }
  });

  it('rollover: a new month starts a new full chain with new checkpoints; the old checkpoints and their QEMU bitmaps go; the old chain stays whole', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
    const out = path.join(dom.dir, 'out');
    const january = '2026-01-15T12:00:00Z';
    const february = '2026-02-15T12:00:00Z';

    await writeGuestData(dom, 'vda', { pattern: 0x61, offset: 0, length: 4 * MiB });
    const jan0 = expectDocument(await backupCli(args(dom, out), { lockDir, now: january }));
    const janCp0 = jan0.results[0]!.checkpoint!;
    expectFirstCheckpoint(engine, janCp0);
    await writeGuestData(dom, 'vda', { pattern: 0x62, offset: 10 * MiB, length: 2 * MiB });
    const refJan = path.join(dom.dir, 'ref-jan.qcow2');
    await referenceCopy(dom, 'vda', refJan);
    const jan = expectDocument(await backupCli(args(dom, out), { lockDir, now: january }));
    const janCp1 = nthCheckpoint(janCp0, 1);
    expect(jan.results).toMatchObject([{ level: 'inc', chain: 'vmsnap-backup-monthly-2026-01', checkpoint: janCp1 }]);
    expect(await qemuBitmapNames(dom)).toEqual([janCp0, janCp1].sort());

    await writeGuestData(dom, 'vda', { pattern: 0x63, offset: 20 * MiB, length: 2 * MiB });
    const febRun = await backupCli(args(dom, out), { lockDir, now: february });
    expect(`${febRun.stdout}${febRun.stderr}`).not.toMatch(/Bitmap already exists/i);
    const feb = expectDocument(febRun);
    expect(feb.results).toMatchObject([{ result: 'done', level: 'full', chain: 'vmsnap-backup-monthly-2026-02' }]);
    const febCp = feb.results[0]!.checkpoint!;
    expectFirstCheckpoint(engine, febCp);
    // The run says why, and what it removed.
    expect(feb.results[0]!.reasons!.join(' ')).toMatch(/no chain for this period/);
    expect(feb.results[0]!.repairs!.join('\n')).toContain(`checkpoint ${janCp1}`);
    if (engine === 'push') {
      // A new chain id: two push chains never share a checkpoint name.
      expect(febCp.split('.')[1]).not.toBe(janCp0.split('.')[1]);
    }
    expect(await checkpointNames(dom)).toEqual([febCp]);
    // The old chain's bitmaps left QEMU with their checkpoints; only the new chain's is there.
    expect(await qemuBitmapNames(dom)).toEqual([febCp]);

    await writeGuestData(dom, 'vda', { pattern: 0x64, offset: 30 * MiB, length: 1 * MiB });
    const refFeb = path.join(dom.dir, 'ref-feb.qcow2');
    await referenceCopy(dom, 'vda', refFeb);
    const feb2 = expectDocument(await backupCli(args(dom, out), { lockDir, now: february }));
    const febCp1 = nthCheckpoint(febCp, 1);
    expect(feb2.results).toMatchObject([{ result: 'done', level: 'inc', chain: 'vmsnap-backup-monthly-2026-02', checkpoint: febCp1, dataBytes: 1 * MiB }]);
    expect(await qemuBitmapNames(dom)).toEqual([febCp, febCp1].sort());
    expect(chainFolders(out, dom.name)).toEqual(['vmsnap-backup-monthly-2026-01', 'vmsnap-backup-monthly-2026-02']);

    // The January chain still restores after its checkpoints left libvirt.
    await expectPoint(dom, path.join(out, dom.name, 'vmsnap-backup-monthly-2026-01'), 'vda', janCp1, refJan, janCp0);
    await expectPoint(dom, path.join(out, dom.name, 'vmsnap-backup-monthly-2026-02'), 'vda', febCp1, refFeb, febCp);
  });
});

describe('vmkeep backup (virtnbdbackup): one set of checkpoint names, odd names', () => {
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
