/** argv builders: long options only, version-dependent extras, refusals for known traps. */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { buildBackupArgv, buildRestoreArgv, parseToolVersion, type ToolVersion } from '../../../src/virtnbd/argv.js';
import { VmkeepError } from '../../../src/errors.js';

const V1 = parseToolVersion('1.9.15\n')!;
const V2: ToolVersion = { major: 2, minor: 28, patch: 0, text: '2.28' };

describe('parseToolVersion', () => {
  it('reads the real --version output', async () => {
    const out = await readFile('fixtures/virtnbdbackup/runs/version-virtnbdbackup.stdout', 'utf8');
    expect(parseToolVersion(out)).toEqual({ major: 1, minor: 9, patch: 15, text: '1.9.15' });
    expect(parseToolVersion('2.28')).toEqual({ major: 2, minor: 28, patch: 0, text: '2.28' });
    expect(parseToolVersion('usage: virtnbdbackup')).toBeNull();
  });
});

describe('buildBackupArgv', () => {
  const base = {
    domain: 'web vm',
    level: 'inc' as const,
    outputDir: '/backup/web vm/2026-11',
    socketFile: '/run/vmkeep/nbd/web.sock',
    scratchDir: '/var/lib/vmkeep/scratch',
  };

  it('uses long options that mean the same in 1.9.15 and 2.x', () => {
    expect(buildBackupArgv(base, V1)).toEqual([
      '--uri',
      'qemu:///system',
      '--domain',
      'web vm',
      '--level',
      'inc',
      '--output',
      '/backup/web vm/2026-11',
      '--socketfile',
      '/run/vmkeep/nbd/web.sock',
      '--scratchdir',
      '/var/lib/vmkeep/scratch',
    ]);
  });

  it('adds --nocolor only for 2.x (1.9.15 would reject it)', () => {
    expect(buildBackupArgv(base, V2).at(-1)).toBe('--nocolor');
    expect(buildBackupArgv(base, V1)).not.toContain('--nocolor');
  });

  it('compression, disks, workers, progress', () => {
    expect(buildBackupArgv({ ...base, compress: true, exclude: ['vdb', 'vdc'], workers: 1, noProgress: true }, V1).slice(12)).toEqual([
      '--compress',
      '--exclude',
      'vdb,vdc',
      '--worker',
      '1',
      '--noprogress',
    ]);
    expect(buildBackupArgv({ ...base, compress: 9, include: 'vda' }, V1).slice(12)).toEqual(['--compress=9', '--include', 'vda']);
  });

  it('refuses --compress=0 (unrestorable in 1.9.15) and odd disk names', () => {
    expect(() => buildBackupArgv({ ...base, compress: 0 }, V1)).toThrow(VmkeepError);
    expect(() => buildBackupArgv({ ...base, exclude: ['vda,vdb'] }, V1)).toThrow(/not a disk target name/);
  });
});

describe('buildRestoreArgv', () => {
  const base = {
    inputDir: '/backup/web/2026-11',
    outputDir: '/var/lib/libvirt/images/restore',
    socketFile: '/run/vmkeep/nbd/restore.sock',
    logFile: '/var/log/vmkeep/restore.log',
  };

  it('restores a point with an explicit sequence', () => {
    expect(buildRestoreArgv({ ...base, sequence: ['vda.full.data', 'vda.inc.virtnbdbackup.1.data'], noProgress: true }, V1)).toEqual([
      '--uri',
      'qemu:///system',
      '--input',
      '/backup/web/2026-11',
      '--output',
      '/var/lib/libvirt/images/restore',
      '--socketfile',
      '/run/vmkeep/nbd/restore.sock',
      '--logfile',
      '/var/log/vmkeep/restore.log',
      '--sequence',
      'vda.full.data,vda.inc.virtnbdbackup.1.data',
      '--noprogress',
    ]);
  });

  it('refuses sequence + until, sequences not starting at a full, names with commas', () => {
    expect(() => buildRestoreArgv({ ...base, sequence: ['vda.full.data'], until: 'virtnbdbackup.0' }, V1)).toThrow(/not both/);
    expect(() => buildRestoreArgv({ ...base, sequence: ['vda.inc.virtnbdbackup.1.data'] }, V1)).toThrow(/must start with a full/);
    expect(() => buildRestoreArgv({ ...base, sequence: ['vda.full.data', 'a,b.data'] }, V1)).toThrow(/without commas/);
  });

  it('until and disk, and --nocolor on 2.x', () => {
    expect(buildRestoreArgv({ ...base, until: 'virtnbdbackup.3', disk: 'vda' }, V2).slice(10)).toEqual([
      '--until',
      'virtnbdbackup.3',
      '--disk',
      'vda',
      '--nocolor',
    ]);
  });
});
