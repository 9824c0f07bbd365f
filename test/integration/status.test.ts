/**
 * `vmkeep status` against a real libvirtd: real domains, real checkpoints and bitmaps.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runVmkeep, VMKEEP_BIN } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, destroyDomain, shutoffBitmaps, virsh, writeGuestData } from '../helpers/libvirt.js';
import { createExecaRunner } from '../../src/runner/runner.js';

interface StatusDoc {
  [domain: string]: {
    state?: string;
    error?: string;
    overallStatus: number;
    checkpoints?: string[];
    disks?: Array<{ disk: string; path: string; virtualSize: number; actualSize: number; bitmaps: string[]; eligible: boolean; bitmapSource: string }>;
    consistency?: { consistent: boolean; problems: Array<{ kind: string; disk: string; name: string; message: string; fix: string }> };
  };
}

afterAll(async () => {
  await cleanupAll();
});

async function checkpoint(uuid: string, name: string): Promise<void> {
  await virsh(['checkpoint-create-as', '--domain', uuid, '--name', name]);
}

describe('status on real domains', () => {
  it('lists a running domain with two checkpoints: disk sizes and both bitmaps, overallStatus 0', async () => {
    const dom = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] });
    await writeGuestData(dom, 'vda', { pattern: 0x11, offset: 0, length: 1 << 20 });
    await checkpoint(dom.uuid, 'virtnbdbackup.0');
    await writeGuestData(dom, 'vda', { pattern: 0x22, offset: 4 << 20, length: 2 << 20 });
    await checkpoint(dom.uuid, 'virtnbdbackup.1');
    await writeGuestData(dom, 'vda', { pattern: 0x33, offset: 8 << 20, length: 1 << 20 });

    const run = await runVmkeep(['status', '--domains', dom.name, '--json']);
    expect(run.code).toBe(0);
    const doc = parseJsonOutput<StatusDoc>(run)[dom.name]!;
    expect(doc.state).toBe('running');
    expect(doc.overallStatus).toBe(0);
    expect(doc.checkpoints).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
    const vda = doc.disks![0]!;
    expect(vda.disk).toBe('vda');
    expect(vda.virtualSize).toBe(64 << 20);
    expect(vda.actualSize).toBeGreaterThan(0);
    expect(vda.bitmapSource).toBe('qemu');
    expect([...vda.bitmaps].sort()).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
    expect((doc.disks![0] as unknown as { changedSinceLatestCheckpoint: number }).changedSinceLatestCheckpoint).toBe(1 << 20);

    const yaml = await runVmkeep(['status', '--domains', dom.name, '--yaml', '--pretty']);
    expect(yaml.code).toBe(0);
    expect(yaml.stdout).toContain('virtualSize: 64 MiB');
  });

  it('reports a shut-off domain whose disk path contains a space, with its disk', async () => {
    const dom = await createTestDomain({ start: false, disks: [{ target: 'vda', sizeMiB: 32, fileName: 'disk with space.qcow2' }] });
    const run = await runVmkeep(['--domains', dom.name, '--status', '--json', '--machine']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    const doc = parseJsonOutput<StatusDoc>(run)[dom.name]!;
    expect(doc.state).toBe('shut off');
    expect(doc.disks).toHaveLength(1);
    expect(doc.disks![0]).toMatchObject({ disk: 'vda', path: dom.disks[0]!.path, virtualSize: 32 << 20, eligible: true, bitmapSource: 'image' });
    expect(dom.disks[0]!.path).toContain(' ');
  });

  it('says inconsistent, naming disk and bitmap, when a bitmap was removed from a shut-off disk (exit 1)', async () => {
    const dom = await createTestDomain({
      start: true,
      disks: [
        { target: 'vda', sizeMiB: 32 },
        { target: 'vdb', sizeMiB: 32 },
      ],
    });
    await checkpoint(dom.uuid, 'virtnbdbackup.0');
    await checkpoint(dom.uuid, 'virtnbdbackup.1');
    await destroyDomain(dom);
    const vdb = dom.disks[1]!.path;
    expect((await shutoffBitmaps(vdb)).map((b) => b.name).sort()).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
    await createExecaRunner().run('qemu-img', ['bitmap', '--remove', vdb, 'virtnbdbackup.0']);

    const run = await runVmkeep(['status', '--domains', dom.name, '--json']);
    expect(run.code).toBe(1);
    const doc = parseJsonOutput<StatusDoc>(run)[dom.name]!;
    expect(doc.overallStatus).toBe(1);
    expect(doc.consistency!.consistent).toBe(false);
    expect(doc.consistency!.problems).toEqual([expect.objectContaining({ kind: 'missing-bitmap', disk: 'vdb', name: 'virtnbdbackup.0' })]);
    const text = await runVmkeep(['status', '--domains', dom.name]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/INCONSISTENT/);
    expect(text.stdout).toMatch(/checkpoint virtnbdbackup\.0 expects bitmap virtnbdbackup\.0 on vdb/);
    expect(text.stdout).toMatch(/fix: vmkeep scrub --domains/);
  });

  it('runs no shell for a hostile --domains value: no canary, reported unknown, others still reported', async () => {
    const dom = await createTestDomain({ start: false });
    const canary = '/tmp/vmkeep-status-canary';
    rmSync(canary, { force: true });
    const run = await runVmkeep(['status', '--domains', `x;touch ${canary};#`, '--domains', dom.name, '--json']);
    expect(existsSync(canary)).toBe(false);
    expect(run.code).toBe(1);
    const doc = parseJsonOutput<StatusDoc>(run);
    expect(doc[`x;touch ${canary};#`]).toMatchObject({ error: 'unknown domain', overallStatus: 1 });
    expect(doc[dom.name]!.overallStatus).toBe(0);
  });

  it('prints a fix for an orphan bitmap that a real sh runs as printed: only that bitmap goes, the chain stays', async () => {
    const canary = 'vmkeep-st-fix-canary';
    rmSync(canary, { force: true });
    const dom = await createTestDomain({
      start: true,
      name: `vmkeep-test-fix;$(touch ${canary}) \`touch ${canary}\` 'q'&x`,
      disks: [{ target: 'vda', sizeMiB: 32 }],
    });
    await checkpoint(dom.uuid, 'virtnbdbackup.0');
    await destroyDomain(dom);
    await createExecaRunner().run('qemu-img', ['bitmap', '--add', dom.disks[0]!.path, 'virtnbdbackup.7']);

    const text = await runVmkeep(['status', '--domains', dom.name]);
    expect(text.code).toBe(1);
    const fix = text.stdout
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.startsWith('fix: '))
      ?.slice('fix: '.length);
    expect(fix).toBe(
      `vmkeep scrub --domains 'vmkeep-test-fix;$(touch ${canary}) \`touch ${canary}\` '\\''q'\\''&x' --scrubType bitmap --checkpointName virtnbdbackup.7`,
    );

    // Paste it into a real shell, with `vmkeep` on PATH as the built CLI.
    const bin = mkdtempSync(join(tmpdir(), 'vmkeep-test-fix-bin-'));
    try {
      writeFileSync(join(bin, 'vmkeep'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(VMKEEP_BIN)} "$@"\n`, { mode: 0o755 });
      execFileSync('/bin/sh', ['-c', fix!], { env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` }, stdio: 'pipe' });
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
    expect(existsSync(canary)).toBe(false);
    expect((await shutoffBitmaps(dom.disks[0]!.path)).map((b) => b.name)).toEqual(['virtnbdbackup.0']);
    expect((await virsh(['checkpoint-list', '--domain', dom.uuid, '--name'])).trim()).toBe('virtnbdbackup.0');
    const after = await runVmkeep(['status', '--domains', dom.name, '--json']);
    expect(after.code).toBe(0);
    expect(parseJsonOutput<StatusDoc>(after)[dom.name]!.consistency!.consistent).toBe(true);
  });

  it('refuses a missing --output folder (an unmounted backup disk is not "never backed up"), exit 64', async () => {
    const dom = await createTestDomain({ start: false });
    const missing = join(tmpdir(), `vmkeep-test-nosuch-${process.pid}`);
    const run = await runVmkeep(['status', '--domains', dom.name, '--output', missing, '--json']);
    expect(run.code).toBe(64);
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { code: 'usage', message: `--output ${missing} does not exist` } });
    expect(run.stdout).toBe('');
    expect(existsSync(missing)).toBe(false);
    // An existing, empty folder is still "no backups": exit 0.
    const empty = mkdtempSync(join(tmpdir(), 'vmkeep-test-empty-out-'));
    try {
      const ok = await runVmkeep(['status', '--domains', dom.name, '--output', empty, '--json']);
      expect(ok.code).toBe(0);
      expect(parseJsonOutput<StatusDoc>(ok)[dom.name]!.overallStatus).toBe(0);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('addresses a domain with shell metacharacters in its name', async () => {
    rmSync('/tmp/vmkeep-st-canary', { force: true });
    // libvirt refuses '/' in names, so the canary lives in the current folder of whatever shell would run it.
    const dom = await createTestDomain({ start: true, name: `vmkeep-test-st;$(touch vmkeep-st-canary) 'q' & \`id\`` });
    const run = await runVmkeep(['status', '--domains', dom.name, '--json']);
    expect(run.code).toBe(0);
    expect(parseJsonOutput<StatusDoc>(run)[dom.name]!.state).toBe('running');
    expect(existsSync('vmkeep-st-canary')).toBe(false);
  });
});
