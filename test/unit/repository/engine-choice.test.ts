import { describe, expect, it } from 'vitest';
import { chooseEngine, type EngineFacts } from '../../../src/repository/engine-choice.js';

const localNew: EngineFacts = { remote: false, compress: false, rawDisk: false };

describe('chooseEngine (--engine auto)', () => {
  it('local libvirt, a new chain, QEMU reaches the folder: push', () => {
    expect(chooseEngine(localNew)).toMatchObject({ engine: 'push', reason: expect.stringMatching(/new chain on local libvirt/) });
  });

  it('each reason for virtnbdbackup on a new chain is named', () => {
    expect(chooseEngine({ ...localNew, remote: true })).toMatchObject({ engine: 'virtnbdbackup', reason: expect.stringMatching(/remote host/) });
    expect(chooseEngine({ ...localNew, vmsnapCompatible: 'a VMSnap tree' })).toMatchObject({
      engine: 'virtnbdbackup',
      reason: expect.stringMatching(/VMSnap tree/),
    });
    expect(chooseEngine({ ...localNew, compress: true })).toMatchObject({ engine: 'virtnbdbackup', reason: expect.stringMatching(/--compress/) });
    expect(chooseEngine({ ...localNew, rawDisk: true })).toMatchObject({ engine: 'virtnbdbackup', reason: expect.stringMatching(/--raw/) });
    expect(chooseEngine({ ...localNew, pushUnsupported: 'libvirt 5.0 has no backup-begin' })).toMatchObject({
      engine: 'virtnbdbackup',
      reason: expect.stringMatching(/backup-begin/),
    });
    expect(chooseEngine({ ...localNew, qemuCannotReach: 'QEMU cannot traverse /root' })).toMatchObject({
      engine: 'virtnbdbackup',
      reason: expect.stringMatching(/traverse/),
    });
  });

  it('a chain is continued by the engine that wrote it, whatever would suit a new one', () => {
    expect(chooseEngine({ ...localNew, continues: { folder: 'f', engine: 'virtnbdbackup' } })).toMatchObject({
      engine: 'virtnbdbackup',
      reason: 'continues chain f, written by virtnbdbackup',
    });
    expect(chooseEngine({ ...localNew, compress: true, continues: { folder: 'f', engine: 'push' } }).engine).toBe('push');
  });

  it('a forced engine wins over everything', () => {
    expect(chooseEngine({ ...localNew, forced: { engine: 'virtnbdbackup', by: '--engine' }, continues: { folder: 'f', engine: 'push' } })).toEqual({
      engine: 'virtnbdbackup',
      reason: '--engine says virtnbdbackup',
    });
  });
});
