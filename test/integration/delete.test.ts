/**
 * `vmkeep delete` through the built CLI against the real libvirtd and QEMU, once per engine
 * (virtnbdbackup streams, push qcow2 chains): a running domain, a full and three incrementals
 * with data written between them (reference copies at each point). Bad input (a protected point,
 * an unknown point, nothing named) is one line, exit 64, nothing changed; --dry-run changes
 * nothing. An inner point merged into its child, the newest point removed with its libvirt
 * checkpoint and then an incremental that must still carry the changes the removed point held,
 * and finally the whole chain: every remaining point restores byte-identically at each step.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { MiB, checkpointNames, readManifestJson, snapshotTree, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { runVmkeep } from '../helpers/cli.js';
import { SETUP_BACKUPS_TIMEOUT_MS, describeEngines, nthCheckpoint, pointFile, type Engine } from '../helpers/engines.js';
import { addPoint, chainDirOf, chainEnv, createPointChain, expectPoints, type PointChain } from '../helpers/point-chain.js';

const lockDir = useLockDirAndCleanup();

describeEngines('vmkeep delete on a %s chain', (engine: Engine) => {
  let c: PointChain;
  let chainDir: string;
  const del = (args: string[]) => runVmkeep(['delete', '--domain', c.dom.name, '--output', c.out, ...args], { env: chainEnv(c), timeoutMs: 600_000 });
  const at = (i: number) => `${c.chain}/${c.cps[i]}`;
  const file = (i: number) => path.join(chainDir, pointFile(engine, 'vda', c.cps[i]!));
  // push points are plain qcow2 images: QEMU reads them too, cheaply; virtnbdrestore is left to the prune tests.
  const check = (remaining: number[]) => expectPoints(c, remaining, { independent: engine === 'push' });

  beforeAll(async () => {
    c = await createPointChain(engine, lockDir);
    await addPoint(c, 0, { pattern: 0x11, offset: 0, length: 4 * MiB });
    await addPoint(c, 1, { pattern: 0x22, offset: 2 * MiB, length: 2 * MiB });
    await addPoint(c, 2, { pattern: 0x33, offset: 3 * MiB, length: 2 * MiB });
    await addPoint(c, 3, { pattern: 0x44, offset: 16 * MiB, length: 1 * MiB });
    chainDir = chainDirOf(c);
  }, SETUP_BACKUPS_TIMEOUT_MS);

  it('bad input: a protected point, an unknown point, nothing named: one line, exit 64, nothing changed', async () => {
    const p = await runVmkeep(['protect', at(2), '--domain', c.dom.name, '--output', c.out], { env: chainEnv(c) });
    expect(p.code, p.stderr).toBe(0);
    const before = snapshotTree(chainDir);
    const unknown = nthCheckpoint(c.cps[0]!, 99);
    const cases: Array<[string[], RegExp]> = [
      [['--at', at(2)], new RegExp(`${at(2).replace(/\./g, '\\.')} is protected: it is not deleted \\(vmkeep unprotect`)],
      [['--at', `${c.chain}/${unknown}`], new RegExp(`no point ${unknown.replace(/\./g, '\\.')} in `)],
      [['--at', `no-such-chain/${c.cps[1]}`], /no chain "no-such-chain"/],
      [[], /name what to delete: --at FOLDER\/CHECKPOINT/],
    ];
    for (const [args, message] of cases) {
      const r = await del(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(64);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    expect(snapshotTree(chainDir)).toEqual(before);
    const u = await runVmkeep(['unprotect', at(2), '--domain', c.dom.name, '--output', c.out], { env: chainEnv(c) });
    expect(u.code, u.stderr).toBe(0);
  });

  it('--dry-run prints what would happen and changes nothing', async () => {
    const before = snapshotTree(chainDir);
    const r = await del(['--at', at(1), '--at', at(3), '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${c.dom.name}: merge ${c.chain}: ${c.cps[1]} into ${c.cps[2]} (which then rests on ${c.cps[0]})`);
    expect(r.stdout).toContain(`${c.dom.name}: remove ${at(3)}, the newest point, and its libvirt checkpoint`);
    expect(snapshotTree(chainDir)).toEqual(before);
  });

  it('an inner point is merged into its child: the later points stay restorable', async () => {
    const r = await del(['--at', at(1)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(fs.existsSync(file(1))).toBe(false);
    expect(fs.existsSync(path.join(chainDir, `vmconfig.${c.cps[1]}.xml`))).toBe(false);
    expect(await checkpointNames(c.dom)).toEqual([c.cps[0], c.cps[2], c.cps[3]]);
    await check([0, 2, 3]);
  });

  it('the newest point goes with its libvirt checkpoint; the next incremental still carries its changes', async () => {
    const r = await del(['--at', at(3)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await checkpointNames(c.dom)).toEqual([c.cps[0], c.cps[2]]);
    expect(fs.existsSync(file(3))).toBe(false);
    await check([0, 2]);
    // Point 3's write (16 MiB) is only in the parent's bitmap now; the next incremental must hold it.
    await addPoint(c, 4, { pattern: 0x55, offset: 32 * MiB, length: 1 * MiB });
    expect(readManifestJson(chainDir).points.at(-1)).toMatchObject({ checkpoint: c.cps[4], level: 'inc', parent: c.cps[2] });
    expect(await checkpointNames(c.dom)).toEqual([c.cps[0], c.cps[2], c.cps[4]]);
    await check([0, 2, 4]);
    const v = await runVmkeep(['verify', '--output', c.out, '--domains', c.dom.name, '--json'], { env: chainEnv(c), timeoutMs: 600_000 });
    expect(v.code, v.stdout).toBe(0);
  });

  it('--chain removes the whole chain', async () => {
    const r = await del(['--chain', c.chain]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(fs.existsSync(chainDir)).toBe(false);
    expect(fs.readdirSync(path.join(c.out, c.dom.name)).filter((f) => f.startsWith('.vmkeep-removing'))).toEqual([]);
  });
});
