/**
 * `vmkeep verify --adopt` on a VMSnap tree (made by virtnbdbackup itself, no vmkeep manifest):
 * every point is restored and checked first, then a manifest with sha256 checksums is written,
 * saying they certify the present state. Afterwards a changed byte in an incremental is caught.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MiB } from '../helpers/backup-run.js';
import { runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, referenceCopy, writeGuestData } from '../helpers/libvirt.js';
import { expectPointRestores } from '../helpers/restore-point.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
afterAll(async () => {
  await cleanupAll();
});

describe('vmkeep verify --adopt', () => {
  it('adopts a VMSnap chain only after every point restored, and its checksums then catch a changed byte', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
    const out = path.join(dom.dir, 'out');
    const chain = path.join(out, dom.name, 'vmsnap-backup-monthly-2026-11');
    const tmp = path.join(dom.dir, 'tmp');
    fs.mkdirSync(tmp, { recursive: true, mode: 0o1777 });
    const vmsnap = (level: string) =>
      runner.run('virtnbdbackup', ['--uri', 'qemu:///system', '--domain', dom.name, '--level', level, '--output', chain, '--noprogress'], {
        env: { TMPDIR: tmp },
        cwd: tmp,
        timeoutMs: 120_000,
      });
    await writeGuestData(dom, 'vda', { pattern: 0xa1, offset: 0, length: 4 * MiB });
    const ref0 = path.join(dom.dir, 'ref0.qcow2');
    await referenceCopy(dom, 'vda', ref0);
    await vmsnap('full');
    await writeGuestData(dom, 'vda', { pattern: 0xa2, offset: 8 * MiB, length: 2 * MiB });
    const ref1 = path.join(dom.dir, 'ref1.qcow2');
    await referenceCopy(dom, 'vda', ref1);
    await vmsnap('inc');
    expect(fs.existsSync(path.join(chain, 'vmkeep-manifest.json'))).toBe(false);

    const adopted = await runVmkeep(['verify', '--output', out, '--adopt', '--scratch-dir', dom.dir, '--json']);
    expect(adopted.code, adopted.stdout + adopted.stderr).toBe(0);
    const doc = JSON.parse(adopted.stdout) as { chains: Array<{ adopted: boolean; notes: string[]; deep: { points: Array<{ result: string }> } }> };
    expect(doc.chains).toMatchObject([{ adopted: true }]);
    expect(doc.chains[0]!.deep.points.map((p) => p.result)).toEqual(['ok', 'ok']);
    expect(doc.chains[0]!.notes.join(' ')).toMatch(/they certify the files as they are now, not as they were at backup time/);
    // The chain has checksums now: nothing may say it has none.
    expect(doc.chains[0]!.notes.join(' ')).not.toMatch(/no checksums are recorded/);
    const manifest = JSON.parse(fs.readFileSync(path.join(chain, 'vmkeep-manifest.json'), 'utf8')) as {
      points: Array<{ checkpoint: string; files: Array<{ path: string; sha256: string }> }>;
      events: Array<{ kind: string; message: string }>;
    };
    expect(manifest.points.map((p) => p.checkpoint)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
    expect(manifest.points[1]!.files.some((f) => f.path === 'vda.inc.virtnbdbackup.1.data' && /^[0-9a-f]{64}$/.test(f.sha256))).toBe(true);
    expect(manifest.events[0]).toMatchObject({ kind: 'verified', message: expect.stringMatching(/not as they were at backup time/) });
    await expectPointRestores(chain, 'virtnbdbackup.0', ref0, { scratchDir: dom.dir });
    await expectPointRestores(chain, 'virtnbdbackup.1', ref1, { scratchDir: dom.dir });

    // A changed data byte no longer passes: the stream's structure is intact, the checksum is not.
    const data = path.join(chain, 'vda.inc.virtnbdbackup.1.data');
    const fd = fs.openSync(data, 'r+');
    const at = Math.floor(fs.statSync(data).size / 2);
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    fs.writeSync(fd, byte, 0, 1, at);
    fs.closeSync(fd);
    const after = await runVmkeep(['verify', '--output', out]);
    expect(after.code).toBe(2);
    expect(after.stdout).toMatch(/vda\.inc\.virtnbdbackup\.1\.data has sha256 \S+, the manifest recorded \S+ \(it changed after the backup\)/);
  });
});
