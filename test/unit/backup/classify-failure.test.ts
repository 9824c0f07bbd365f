/**
 * The failure classifier on what the real tools said (fixtures/faults, captured by
 * fixtures/faults/capture.sh), and the one-line messages it gives.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classifyFailure, classifyFailureText, explainFailure, markExplained, type FailureKind } from '../../../src/backup/classify-failure.js';
import { ToolError, VmkeepError } from '../../../src/errors.js';

const fx = (name: string) => readFileSync(new URL(`../../../fixtures/faults/${name}`, import.meta.url), 'utf8');
const exitOf = (name: string) => Number(fx(`${name}.exit`).trim());
const ARGV = ['--uri', 'qemu:///system', '--domain', 'vm1', '--level', 'full', '--output', '/backups/vm1/vmsnap-backup-monthly-2026-03'];

function toolError(name: string, tool = 'virtnbdbackup'): ToolError {
  return new ToolError({ tool, argv: ARGV, exitCode: exitOf(name), stderr: fx(`${name}.stderr`) });
}

describe('classifyFailure on recorded tool output', () => {
  const cases: Array<[string, FailureKind, string?]> = [
    ['virtnbdbackup-full-no-space', 'no-space'],
    ['virtnbdbackup-full-read-only', 'permission'],
    ['virtnbdbackup-unknown-domain', 'domain-gone'],
    ['virtnbdbackup-unknown-option', 'engine-too-old'],
    ['virtnbdbackup-full-qemu-killed', 'domain-gone'],
    ['virsh-domstate-unknown-domain', 'domain-gone', 'virsh'],
  ];
  for (const [name, kind, tool] of cases) {
    it(`${name} → ${kind}`, () => {
      expect(classifyFailure(toolError(name, tool))).toBe(kind);
    });
  }

  it('a missing tool, a timeout and a libvirt state lock', () => {
    expect(classifyFailure(new ToolError({ tool: 'virtnbdbackup', argv: [], missing: true }))).toBe('engine-missing');
    expect(classifyFailure(new ToolError({ tool: 'virsh', argv: [], timedOut: true }))).toBe('timeout');
    expect(classifyFailureText('error: Timed out during operation: cannot acquire state change lock (held by monitor=remoteDispatchDomainBackupBegin)')).toBe(
      'lock',
    );
  });

  it('a file system error from vmkeep itself (ENOSPC in the cause chain)', () => {
    const fsError = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    expect(classifyFailure(new Error('writing the manifest failed', { cause: fsError }))).toBe('no-space');
    expect(classifyFailure(new Error('something else'))).toBe('other');
  });
});

describe("explainFailure: one line in vmkeep's words, the tool's text as detail", () => {
  const facts = { domain: 'vm1', level: 'full' as const, folder: '/backups/vm1/vmsnap-backup-monthly-2026-03' };

  it('no space: names the folder, the need and the free space', () => {
    const e = explainFailure(toolError('virtnbdbackup-full-no-space'), { ...facts, neededBytes: 50 * 2 ** 20, freeBytes: 48 * 2 ** 20 });
    expect(e.message).toBe(
      'no space left in /backups/vm1/vmsnap-backup-monthly-2026-03: the full backup of vm1 could not be written (it needs about 50 MiB, 48 MiB was free); free space there or back up into another --output',
    );
    expect(e.code).toBe('failure');
    expect(e.detail).toContain('[Errno 28] No space left on device');
    expect(e.message).not.toMatch(/Errno|virtnbdbackup --uri/);
  });

  it('QEMU killed: names the domain and its state now', () => {
    const e = explainFailure(toolError('virtnbdbackup-full-qemu-killed'), { ...facts, stateBefore: 'running', stateNow: 'shut off' });
    expect(e.message).toMatch(
      /^domain vm1 stopped during the full backup of vm1 \(its QEMU process exited or it was shut down\); it is now shut off\. Recorded points are intact/,
    );
    expect(e.detail).toContain('Error during backup');
  });

  it('a domain that stopped is told as such even when the tool only says "Error during backup"', () => {
    const plain = new ToolError({
      tool: 'virtnbdbackup',
      argv: ARGV,
      exitCode: 1,
      stderr: 'ERROR root virtnbdbackup - main [MainThread]: Error during backup',
    });
    expect(explainFailure(plain, { ...facts, stateBefore: 'running', stateNow: 'missing' }).message).toMatch(/it is no longer defined in libvirt/);
    expect(explainFailure(plain, { ...facts, stateBefore: 'running', stateNow: 'running' }).message).toMatch(/^the full backup of vm1 failed: virtnbdbackup /);
  });

  it('read-only output, an unknown option, a missing engine', () => {
    expect(explainFailure(toolError('virtnbdbackup-full-read-only'), facts).message).toMatch(
      /^the full backup of vm1 failed: cannot write \/backups\/vm1\/vmsnap-backup-monthly-2026-03/,
    );
    expect(explainFailure(toolError('virtnbdbackup-unknown-option'), facts).message).toMatch(/does not accept the options vmkeep passes/);
    const missing = explainFailure(new ToolError({ tool: 'virtnbdbackup', argv: [], missing: true }), facts);
    expect(missing.code).toBe('tool-missing');
    expect(missing.message).toMatch(/install the virtnbdbackup package/);
  });

  it("leaves vmkeep's own errors (interrupted, locked, usage) as they are", () => {
    const own = new VmkeepError('locked', 'domain vm1 is locked by another vmkeep run (pid 4)');
    expect(explainFailure(own, facts)).toBe(own);
  });

  it('an engine\'s own diagnosis stays, even when its cause says "Permission denied"', () => {
    const cause = new ToolError({
      tool: 'virsh',
      argv: ['backup-begin'],
      exitCode: 1,
      stderr: "error: internal error: unable to execute QEMU command 'blockdev-add': Could not open '/b/vm1/x.qcow2': Permission denied",
    });
    const generic = explainFailure(new VmkeepError('failure', 'QEMU (user libvirt-qemu) cannot traverse /b', { cause }), facts);
    expect(generic.message).toMatch(/run vmkeep as root/);
    const own = markExplained(new VmkeepError('failure', 'QEMU (user libvirt-qemu) cannot traverse /b', { cause }));
    expect(explainFailure(own, facts)).toBe(own);
  });
});
