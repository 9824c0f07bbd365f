/**
 * `vmkeep restore` of push chains (written by `vmkeep backup --engine push`) through the built
 * CLI against the real libvirtd: --to at every point, from a repository copied with `cp -a`,
 * refusing a tampered file, and in place with --force --checkpoint-current. Restored images are
 * compared with reference copies taken at backup time (`qemu-img compare`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, domainState, imagesIdentical, referenceCopy, virsh, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
let lockDir: string;
let dom: TestDomain;
let out: string;
const refs: string[] = [];
const ids: string[] = [];

interface RestoreDoc {
  point: { id: string };
  images: Array<{ target: string; path: string; sequence: string[] }>;
  xml: string | null;
}

function restore(args: string[]) {
  return runVmkeep(['restore', '--domain', dom.name, '--json', ...args], { env: { VMKEEP_LOCK_DIR: lockDir }, timeoutMs: 600_000 });
}

beforeAll(async () => {
  lockDir = makeLockDir();
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 128 }], start: true });
  out = path.join(dom.dir, 'backups');
  const writes = [
    { pattern: 0x11, offset: 0, length: 8 * MiB },
    { pattern: 0x22, offset: 4 * MiB, length: 2 * MiB },
    { pattern: 0x33, offset: 64 * MiB, length: 1 * MiB },
  ];
  for (const [i, w] of writes.entries()) {
    await writeGuestData(dom, 'vda', w);
    const ref = path.join(dom.dir, `ref${i}.qcow2`);
    await referenceCopy(dom, 'vda', ref);
    refs.push(ref);
    const doc = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json', '--engine', 'push'], { lockDir }));
    expect(doc.results[0]).toMatchObject({ result: 'done', level: i === 0 ? 'full' : 'inc' });
    ids.push(`${doc.results[0]!.chain}/${doc.results[0]!.checkpoint}`);
  }
});
afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

describe('vmkeep restore of a push chain', () => {
  it('restore --to at each point: one standalone image equal to that moment', async () => {
    for (const [i, id] of ids.entries()) {
      const to = path.join(dom.dir, `restore-${i}`);
      const run = await restore(['--output', out, '--at', id, '--to', to]);
      expect(run.code, run.stderr).toBe(0);
      const doc = parseJsonOutput<RestoreDoc>(run);
      expect(doc.point.id).toBe(id);
      expect(doc.images[0]!.sequence).toHaveLength(i + 1);
      const img = doc.images[0]!.path;
      expect(await imagesIdentical(img, refs[i]!), `${id} against ref${i}`).toBe(true);
      if (i > 0) expect(await imagesIdentical(img, refs[i - 1]!)).toBe(false);
      // Flattened: no backing file into the repository.
      const info = JSON.parse((await runner.run('qemu-img', ['info', '--output=json', img])).stdout) as { 'backing-filename'?: string };
      expect(info['backing-filename']).toBeUndefined();
      expect(fs.existsSync(doc.xml!)).toBe(true);
    }
  });

  it('--keep-chain writes an overlay on the point: nothing copied, same content', async () => {
    const to = path.join(dom.dir, 'restore-keep');
    const run = await restore(['--output', out, '--at', ids[1]!, '--to', to, '--keep-chain']);
    expect(run.code, run.stderr).toBe(0);
    const img = parseJsonOutput<RestoreDoc>(run).images[0]!.path;
    expect(await imagesIdentical(img, refs[1]!)).toBe(true);
    const [chain, cp1] = ids[1]!.split('/') as [string, string];
    const info = JSON.parse((await runner.run('qemu-img', ['info', '--output=json', img])).stdout) as { 'backing-filename'?: string };
    expect(info['backing-filename']).toBe(path.join(out, dom.name, chain, `vda.${cp1}.qcow2`));
    expect(fs.statSync(img).size).toBeLessThan(2 * MiB);
  });

  it('a repository copied with cp -a restores every point', async () => {
    const copy = path.join(dom.dir, 'copied');
    await runner.run('cp', ['-a', '--', out, copy]);
    for (const [i, id] of ids.entries()) {
      const run = await restore(['--output', copy, '--at', id, '--to', path.join(dom.dir, `restore-copy-${i}`)]);
      expect(run.code, run.stderr).toBe(0);
      expect(await imagesIdentical(parseJsonOutput<RestoreDoc>(run).images[0]!.path, refs[i]!)).toBe(true);
    }
    fs.rmSync(copy, { recursive: true, force: true });
  });

  it('refuses a point whose earlier image changed after the backup, and writes nothing', async () => {
    const copy = path.join(dom.dir, 'tampered');
    await runner.run('cp', ['-a', '--', out, copy]);
    const [chain, cp0] = ids[0]!.split('/') as [string, string];
    const file = path.join(copy, dom.name, chain, `vda.${cp0}.qcow2`);
    const fd = fs.openSync(file, 'r+');
    // Flip one byte near the end (guest data: qcow2 header and tables come first).
    const at = fs.statSync(file).size - 4096;
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    fs.writeSync(fd, Buffer.from([b[0]! ^ 0xff]), 0, 1, at);
    fs.closeSync(fd);
    const to = path.join(dom.dir, 'restore-tampered');
    const run = await restore(['--output', copy, '--at', ids[2]!, '--to', to]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`vda\\.${cp0.replace(/\./g, '\\.')}\\.qcow2 has sha256`));
    expect(fs.existsSync(to)).toBe(false);
    fs.rmSync(copy, { recursive: true, force: true });
  });

  it('in place with --force --checkpoint-current: the old data back, the state before kept as a push point', async () => {
    await writeGuestData(dom, 'vda', { pattern: 0x44, offset: 100 * MiB, length: MiB });
    const current = path.join(dom.dir, 'ref-current.qcow2');
    await referenceCopy(dom, 'vda', current);
    const run = await restore(['--output', out, '--in-place', '--at', ids[0]!, '--force', '--checkpoint-current', '--shutdown-timeout', '1']);
    expect(run.code, run.stderr).toBe(0);
    const doc = parseJsonOutput<{ beforeRestore: { id: string; checkpoint: string } | null; state: string }>(run);
    expect(doc.state).toBe('running');
    expect(await domainState(dom)).toBe('running');
    expect(await imagesIdentical(dom.disks[0]!.path, refs[0]!)).toBe(true);
    // The safety backup continued the push chain.
    expect(doc.beforeRestore!.checkpoint).toMatch(/^vmkeep\.[0-9a-f]{8}\.3$/);
    const undo = await restore(['--output', out, '--at', doc.beforeRestore!.id, '--to', path.join(dom.dir, 'restore-undo')]);
    expect(undo.code, undo.stderr).toBe(0);
    expect(await imagesIdentical(parseJsonOutput<RestoreDoc>(undo).images[0]!.path, current)).toBe(true);
    expect((await virsh(['checkpoint-list', dom.uuid, '--name'])).trim()).toBe('');
  });
});
