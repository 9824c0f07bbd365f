import { describe, expect, it } from 'vitest';
import { brokenPoints, type VerifyProblem } from '../../../src/verify/broken-points.js';
import { ChainBuilder } from '../points/builders.js';

// Four points on two disks: virtnbdbackup.0 (full) → .1 → .2 → .3.
const chain = new ChainBuilder('db', 'c', ['vda', 'vdb']).point(0).point(1).point(2).point(3).build();
const bad = (file: string, kind: VerifyProblem['kind'] = 'checksum'): VerifyProblem => ({ kind, file, message: `${file} is bad` });
const broken = (...problems: VerifyProblem[]) => brokenPoints(chain, problems);

describe('brokenPoints', () => {
  it('a bad data file of point k breaks k and every later point', () => {
    expect(broken(bad('vdb.inc.virtnbdbackup.2.data'))).toEqual(['virtnbdbackup.2', 'virtnbdbackup.3']);
    expect(broken(bad('vda.inc.virtnbdbackup.3.data', 'size'))).toEqual(['virtnbdbackup.3']);
  });

  it('a bad full breaks the whole chain, whatever the kind of damage', () => {
    for (const kind of ['missing', 'size', 'checksum', 'stream', 'unreadable'] as const) {
      expect(broken(bad('vda.full.data', kind))).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2', 'virtnbdbackup.3']);
    }
  });

  it('a bad domain XML or qcow2 options file of point k breaks only k (later points have their own)', () => {
    expect(broken(bad('vmconfig.virtnbdbackup.1.xml'))).toEqual(['virtnbdbackup.1']);
    expect(broken(bad('vdb.virtnbdbackup.2.qcow.json'))).toEqual(['virtnbdbackup.2']);
  });

  it('records restore does not read (checkpoint XML, .cpt, leftovers) break nothing', () => {
    expect(broken(bad('checkpoints/virtnbdbackup.1.xml'))).toEqual([]);
    expect(
      broken({ kind: 'chain-record', file: 'db.cpt', message: 'x' }, { kind: 'leftover', file: 'vda.inc.virtnbdbackup.4.data.partial', message: 'y' }),
    ).toEqual([]);
  });

  it('a wrong link at point k breaks k..end; a failed deep check breaks its point', () => {
    expect(broken({ kind: 'link', checkpoint: 'virtnbdbackup.2', message: 'parent mismatch' })).toEqual(['virtnbdbackup.2', 'virtnbdbackup.3']);
    expect(broken({ kind: 'deep', checkpoint: 'virtnbdbackup.1', message: 'qemu-img check' })).toEqual(['virtnbdbackup.1']);
  });

  it('a point whose data file is not even recorded is broken, and so is everything after it', () => {
    const holed = new ChainBuilder('db', 'c', ['vda', 'vdb'])
      .point(0)
      .point(1, { without: ['vdb.inc.virtnbdbackup.1.data'] })
      .point(2)
      .build();
    expect(brokenPoints(holed, [])).toEqual(['virtnbdbackup.1', 'virtnbdbackup.2']);
  });
});
