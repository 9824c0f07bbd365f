/**
 * The first vmkeep backup into a VMSnap tree continues the month's VMSnap chain with an
 * incremental instead of starting a second full beside it, when the chain's last checkpoint is
 * libvirt's (same name and creationTime, from virtnbdbackup's `checkpoints/<name>.xml`) and its
 * files pass the structure check. The chain is made by virtnbdbackup run bare, as VMSnap runs it
 * (`--noprogress -d DOM -l auto -o OUTPUT/DOM/<period folder>`). Every point, VMSnap's and
 * vmkeep's, then restores byte-identically through virtnbdrestore. When the checkpoint does not
 * match (another run took its name), a new chain starts beside it, with the reason.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { runVmkeep } from '../helpers/cli.js';
import { createTestDomain, referenceCopy, virsh, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { expectPointRestores } from '../helpers/restore-point.js';
import { createExecaRunner } from '../../src/runner/runner.js';
import { periodFolderName } from '../../src/repository/period-folders.js';

const runner = createExecaRunner();
const lockDir = useLockDirAndCleanup();
let dom: TestDomain;
let tmp: string;

/** virtnbdbackup as VMSnap 2 runs it: level auto, into OUTPUT/<domain>/<period folder>. */
function vmsnapBackup(output: string, folder: string) {
  return runner.run('virtnbdbackup', ['--noprogress', '-d', dom.name, '-l', 'auto', '-o', path.join(output, dom.name, folder)], {
    env: { TMPDIR: tmp },
    cwd: tmp,
    timeoutMs: 300_000,
  });
}

async function checkpoints(): Promise<string[]> {
  return (await virsh(['checkpoint-list', '--domain', dom.uuid, '--name', '--topological']))
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

beforeAll(async () => {
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
  tmp = path.join(dom.dir, 'tmp');
  fs.mkdirSync(tmp, { recursive: true, mode: 0o1777 });
});

describe('the first vmkeep backup into a VMSnap tree', () => {
  it('continues the VMSnap chain with an incremental in its folder, and every point restores byte-identically', async () => {
    const out = path.join(dom.dir, 'out');
    const folder = periodFolderName(new Date(), 'month');
    const chainDir = path.join(out, dom.name, folder);
    const refs: string[] = [];
    for (const [i, pattern] of [0xa1, 0xa2].entries()) {
      await writeGuestData(dom, 'vda', { pattern, offset: i * 8 * MiB, length: 4 * MiB });
      refs.push(path.join(dom.dir, `ref${i}.qcow2`));
      await referenceCopy(dom, 'vda', refs[i]!);
      await vmsnapBackup(out, folder);
    }
    expect(fs.existsSync(path.join(chainDir, 'vmkeep-manifest.json'))).toBe(false);
    expect(await checkpoints()).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);

    await writeGuestData(dom, 'vda', { pattern: 0xa3, offset: 20 * MiB, length: 3 * MiB });
    refs.push(path.join(dom.dir, 'ref2.qcow2'));
    await referenceCopy(dom, 'vda', refs[2]!);
    const run = await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir });
    const doc = expectDocument(run);
    expect(doc.results[0]).toMatchObject({ result: 'done', level: 'inc', chain: folder, checkpoint: 'virtnbdbackup.2' });
    // One line says what happened and why.
    const said = run.stderr.split('\n').filter((l) => l.includes('continuing VMSnap chain'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(
      new RegExp(
        `continuing VMSnap chain ${folder} with an incremental instead of a second full: its last checkpoint virtnbdbackup\\.1 is libvirt's \\(same name and creationTime \\S+\\) and its files pass the structure check`,
      ),
    );
    // No second chain, no checkpoint deleted.
    expect(fs.readdirSync(path.join(out, dom.name))).toEqual([folder]);
    expect(await checkpoints()).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2']);
    const manifest = JSON.parse(fs.readFileSync(path.join(chainDir, 'vmkeep-manifest.json'), 'utf8')) as {
      points: Array<{ checkpoint: string }>;
      events: Array<{ kind: string; message: string }>;
    };
    expect(manifest.points.map((p) => p.checkpoint)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2']);
    expect(manifest.events[0]).toMatchObject({ kind: 'verified', message: expect.stringMatching(/adopted this VMSnap chain to continue it/) });

    for (const [i, ref] of refs.entries()) await expectPointRestores(chainDir, `virtnbdbackup.${i}`, ref, { scratchDir: dom.dir });
    // The checksums recorded at adoption and at the incremental hold.
    const verified = await runVmkeep(['verify', '--output', out, '--domains', dom.name]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });

  it('starts a new chain beside a VMSnap chain whose last checkpoint libvirt made for another run, and says why', async () => {
    // A VMSnap chain in this output, then a full into another folder: libvirt's virtnbdbackup.0 is now that run's.
    const out = path.join(dom.dir, 'out-mismatch');
    const folder = periodFolderName(new Date(), 'month');
    const chainDir = path.join(out, dom.name, folder);
    await vmsnapBackup(out, folder);
    const created = () =>
      virsh(['checkpoint-dumpxml', '--domain', dom.uuid, '--checkpointname', 'virtnbdbackup.0']).then((x) => /<creationTime>(\d+)</.exec(x)?.[1]);
    const first = await created();
    // creationTime is in seconds: the other run's checkpoint must be made in a later second.
    await new Promise((r) => setTimeout(r, 1_100));
    await vmsnapBackup(path.join(dom.dir, 'out-other'), folder);
    expect(await created()).not.toBe(first);
    const before = fs.readdirSync(chainDir).sort();

    const run = await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir });
    const doc = expectDocument(run);
    expect(doc.results[0]).toMatchObject({ result: 'done', level: 'full', chain: `${folder}.2` });
    expect(doc.results[0]!.reasons!.join('; ')).toMatch(
      new RegExp(
        `chain ${folder} is a VMSnap folder without a vmkeep manifest: starting a vmkeep chain beside it \\(not continued: checkpoint virtnbdbackup\\.0 in libvirt is not the chain's \\(made \\S+, the chain's \\S+\\): another run took the name\\)`,
      ),
    );
    // The VMSnap chain is left as it was: no manifest, no file changed.
    expect(fs.readdirSync(chainDir).sort()).toEqual(before);
    expect(fs.existsSync(path.join(chainDir, 'vmkeep-manifest.json'))).toBe(false);
  });
});
