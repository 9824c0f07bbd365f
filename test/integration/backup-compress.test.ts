/**
 * --compress end to end: lz4-compressed streams are verified (structure and LZ4 checksums, deep
 * restore) and restore byte-identically through `vmkeep restore`. Compression a config file turns
 * on counts like the flag: the space estimate (which a compressed stream has none of) follows it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, imagesIdentical, referenceCopy, writeGuestData } from '../helpers/libvirt.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

const lockDir = mkdtempSync('/tmp/vmkeep-compress-locks-');
let disk: Tmpfs | undefined;
afterAll(async () => {
  await disk?.unmount();
  await cleanupAll();
  rmSync(lockDir, { recursive: true, force: true });
});

describe('backup --compress', () => {
  it('writes a compressed chain that verifies (--deep) and restores each point byte for byte', async () => {
    const dom = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] });
    const out = join(dom.dir, 'out');
    const env = { VMKEEP_LOCK_DIR: lockDir };
    const refs: string[] = [];
    for (const [i, pattern] of [0x3c, 0xc3].entries()) {
      await writeGuestData(dom, 'vda', { pattern, offset: i * (4 << 20), length: 3 << 20 });
      const ref = join(dom.dir, `ref${i}.qcow2`);
      await referenceCopy(dom, 'vda', ref);
      refs.push(ref);
      const run = await runVmkeep(['backup', '--domains', dom.name, '--output', out, '--compress', '--json'], { env });
      expect(run.code, run.stderr).toBe(0);
      expect(parseJsonOutput<{ results: Array<{ level: string }> }>(run).results[0]!.level).toBe(i === 0 ? 'full' : 'inc');
    }

    const verify = await runVmkeep(['verify', '--output', out, '--deep', '--json'], { env });
    expect(verify.code, `${verify.stdout}\n${verify.stderr}`).toBe(0);

    const list = parseJsonOutput<{ domains: Array<{ points: Array<{ id: string }> }> }>(await runVmkeep(['list', '--output', out, '--json']));
    const ids = list.domains[0]!.points.map((p) => p.id);
    expect(ids).toHaveLength(2);
    for (const [i, id] of ids.entries()) {
      const target = join(dom.dir, `restore${i}`);
      const run = await runVmkeep(['restore', '--domain', dom.name, '--output', out, '--at', id, '--to', target], { env });
      expect(run.code, run.stderr).toBe(0);
      expect(await imagesIdentical(join(target, 'vda.qcow2'), refs[i]!)).toBe(true);
    }
  });
});

describe('compress from a config file', () => {
  it('is what the space estimate follows: no uncompressed estimate refuses a compressed full that fits', async () => {
    // 40 MiB written of one byte pattern: allocated ~40 MiB, a few KiB as an lz4 stream. The
    // output has 24 MiB: "clearly short" for an uncompressed estimate, plenty for the stream.
    const dom = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] });
    await writeGuestData(dom, 'vda', { pattern: 0x5a, offset: 0, length: 40 << 20 });
    disk = await mountTmpfs(24);
    const out = join(disk.dir, 'out');
    const config = join(dom.dir, 'config.yaml');
    // A domain section, not defaults: the run-wide settings (a domain no section names) stay uncompressed.
    writeFileSync(config, ['domains:', `  ${JSON.stringify(dom.name)}:`, '    compress: true', ''].join('\n'));
    const env = { VMKEEP_LOCK_DIR: lockDir };
    // No --engine on the line: the config's compress must lead auto to virtnbdbackup, and the layers name no flags.
    const run = await runVmkeep(['backup', '--config', config, '--domains', dom.name, '--output', out, '--json'], { env, engine: 'auto' });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const result = parseJsonOutput<{ results: Array<{ result: string; level: string; layers: string[] }> }>(run).results[0]!;
    expect(result).toMatchObject({ result: 'done', level: 'full', layers: [`domain ${dom.name}`] });
    const verify = await runVmkeep(['verify', '--output', out, '--json'], { env });
    expect(verify.code, `${verify.stdout}\n${verify.stderr}`).toBe(0);
  });
});
