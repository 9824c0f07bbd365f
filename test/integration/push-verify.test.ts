/**
 * `vmkeep verify` of push chains through the built CLI against real libvirt: a sound chain
 * passes (with --deep --all-points: every point flattened, qemu-img checked, and compared with a
 * second read of the chain); a flipped byte, a backing link turned into an absolute path, and an
 * image left by a killed run are each named with the points they break.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
let lockDir: string;
let dom: TestDomain;
let out: string;
let chain: string;
const cps: string[] = [];

interface VerifyDoc {
  chains: Array<{
    chain: string;
    result: string;
    problems: Array<{ kind: string; file?: string; message: string }>;
    brokenPoints: string[];
    deep: { points: Array<{ checkpoint: string; result: string }> } | null;
  }>;
}

function verify(output: string, extra: string[] = []) {
  return runVmkeep(['verify', '--output', output, '--json', ...extra], { env: { VMKEEP_LOCK_DIR: lockDir }, timeoutMs: 600_000 });
}

/** A copy of the repository to damage. */
async function copyOut(name: string): Promise<string> {
  const copy = path.join(dom.dir, name);
  await runner.run('cp', ['-a', '--', out, copy]);
  return copy;
}

beforeAll(async () => {
  lockDir = makeLockDir();
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
  out = path.join(dom.dir, 'backups');
  for (const [i, w] of [
    { pattern: 0x11, offset: 0, length: 4 * MiB },
    { pattern: 0x22, offset: 8 * MiB, length: 2 * MiB },
    { pattern: 0x33, offset: 20 * MiB, length: 1 * MiB },
  ].entries()) {
    await writeGuestData(dom, 'vda', w);
    const doc = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json', '--engine', 'push'], { lockDir }));
    expect(doc.results[0]!.level).toBe(i === 0 ? 'full' : 'inc');
    chain = doc.results[0]!.chain!;
    cps.push(doc.results[0]!.checkpoint!);
  }
});
afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

describe('vmkeep verify of a push chain', () => {
  it('a sound chain passes, also --deep --all-points', async () => {
    const plain = await verify(out);
    expect(plain.code, plain.stdout).toBe(0);
    const deep = await verify(out, ['--deep', '--all-points', '--scratch-dir', path.join(dom.dir, 'scratch')]);
    expect(deep.code, deep.stdout).toBe(0);
    const doc = parseJsonOutput<VerifyDoc>(deep);
    expect(doc.chains[0]!.deep!.points.map((p) => [p.checkpoint, p.result])).toEqual(cps.map((c) => [c, 'ok']));
  });

  it('a flipped byte in the middle point: checksum problem, that point and the next broken, the full still fine', async () => {
    const copy = await copyOut('flipped');
    const file = path.join(copy, dom.name, chain, `vda.${cps[1]}.qcow2`);
    const fd = fs.openSync(file, 'r+');
    const at = fs.statSync(file).size - 4096;
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    fs.writeSync(fd, Buffer.from([b[0]! ^ 0xff]), 0, 1, at);
    fs.closeSync(fd);
    const r = await verify(copy);
    expect(r.code).not.toBe(0);
    const c = parseJsonOutput<VerifyDoc>(r).chains[0]!;
    expect(c.result).toBe('failed');
    expect(c.problems).toContainEqual(expect.objectContaining({ kind: 'checksum', file: `vda.${cps[1]}.qcow2` }));
    expect(c.brokenPoints).toEqual([`${chain}/${cps[1]}`, `${chain}/${cps[2]}`]);
  });

  it('a backing link made absolute (the image itself unchanged in content) is a link problem', async () => {
    const copy = await copyOut('absolute');
    const dir = path.join(copy, dom.name, chain);
    await runner.run('qemu-img', ['rebase', '-u', '-F', 'qcow2', '-b', path.join(dir, `vda.${cps[0]}.qcow2`), path.join(dir, `vda.${cps[1]}.qcow2`)]);
    const c = parseJsonOutput<VerifyDoc>(await verify(copy)).chains[0]!;
    expect(c.result).toBe('failed');
    expect(c.problems).toContainEqual(
      expect.objectContaining({ kind: 'link', file: `vda.${cps[1]}.qcow2`, message: expect.stringMatching(/a path, not a name inside the chain folder/) }),
    );
    expect(c.brokenPoints).toEqual([`${chain}/${cps[1]}`, `${chain}/${cps[2]}`]);
  });

  it('an image no finished run recorded is reported, and breaks no point', async () => {
    const copy = await copyOut('stray');
    const dir = path.join(copy, dom.name, chain);
    const stray = `vda.${cps[2]!.replace(/\.2$/, '.3')}.qcow2`;
    await runner.run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', `vda.${cps[2]}.qcow2`, path.join(dir, stray)]);
    const c = parseJsonOutput<VerifyDoc>(await verify(copy)).chains[0]!;
    expect(c.problems).toEqual([expect.objectContaining({ kind: 'unrecorded', file: stray })]);
    expect(c.brokenPoints).toEqual([]);
  });
});
