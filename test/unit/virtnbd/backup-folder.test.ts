/**
 * The folder reader on real virtnbdbackup 1.9.15 output folders (fixtures/virtnbdbackup) and
 * on listings derived from them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compareCheckpointNames,
  describeBackupFolder,
  parseCheckpointList,
  parseDataFileName,
  planChainFiles,
  readBackupFolder,
} from '../../../src/virtnbd/backup-folder.js';

const FIX = 'fixtures/virtnbdbackup';
const CPTS = ['virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2', 'virtnbdbackup.3'];

describe('names', () => {
  it('parses data file names of every level, partial or not', () => {
    expect(parseDataFileName('vda.full.data')).toEqual({ disk: 'vda', level: 'full', checkpoint: null, timestamp: null, partial: false });
    expect(parseDataFileName('sdb.copy.data')).toEqual({ disk: 'sdb', level: 'copy', checkpoint: null, timestamp: null, partial: false });
    expect(parseDataFileName('vda.inc.virtnbdbackup.12.data.partial')).toEqual({
      disk: 'vda',
      level: 'inc',
      checkpoint: 'virtnbdbackup.12',
      timestamp: null,
      partial: true,
    });
    expect(parseDataFileName('vdb.diff.1795312198.data')).toEqual({ disk: 'vdb', level: 'diff', checkpoint: null, timestamp: 1795312198, partial: false });
    for (const other of ['vda.virtnbdbackup.0.qcow.json', 'vmconfig.virtnbdbackup.0.xml', 'vda.full.data.chksum', 'vda.data', 'x.cpt']) {
      expect(parseDataFileName(other), other).toBeNull();
    }
  });

  it('orders checkpoint names numerically', () => {
    expect(['virtnbdbackup.10', 'virtnbdbackup.2', 'virtnbdbackup.0'].sort(compareCheckpointNames)).toEqual([
      'virtnbdbackup.0',
      'virtnbdbackup.2',
      'virtnbdbackup.10',
    ]);
  });

  it('parses .cpt lists and says why a bad one is bad', () => {
    expect(parseCheckpointList('["virtnbdbackup.0", "virtnbdbackup.1"]')).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
    expect(parseCheckpointList('["virtnbdbackup.0", 1]')).toBe('not a JSON list of names');
    expect(parseCheckpointList('["virtnbdbackup.0"')).toMatch(/^not valid JSON/);
  });
});

describe('readBackupFolder on real folders', () => {
  it('chain-plain: two disks, four checkpoints, nothing wrong', async () => {
    const folder = await readBackupFolder(`${FIX}/chain-plain`);
    expect(folder.problems).toEqual([]);
    expect(folder.domain).toBe('vmkeep-scratch-virtnbd-1');
    expect(folder.checkpoints).toEqual(CPTS);
    expect(folder.checkpointXmls).toEqual(CPTS);
    expect(folder.disks).toEqual(['vda', 'vdb']);
    expect(folder.partials).toEqual([]);
    expect(folder.dataFiles.map((f) => [f.name, f.level, f.checkpoint])).toEqual([
      ['vda.full.data', 'full', null],
      ['vda.inc.virtnbdbackup.1.data', 'inc', 'virtnbdbackup.1'],
      ['vda.inc.virtnbdbackup.2.data', 'inc', 'virtnbdbackup.2'],
      ['vda.inc.virtnbdbackup.3.data', 'inc', 'virtnbdbackup.3'],
      ['vdb.full.data', 'full', null],
      ['vdb.inc.virtnbdbackup.1.data', 'inc', 'virtnbdbackup.1'],
      ['vdb.inc.virtnbdbackup.2.data', 'inc', 'virtnbdbackup.2'],
      ['vdb.inc.virtnbdbackup.3.data', 'inc', 'virtnbdbackup.3'],
    ]);
    // Headers were read: the chain links up.
    expect(folder.dataFiles.map((f) => f.meta?.parentCheckpoint)).toEqual(['', ...CPTS.slice(0, 3), '', ...CPTS.slice(0, 3)]);
    expect(folder.dataFiles.find((f) => f.name === 'vdb.inc.virtnbdbackup.1.data')!.meta!.dataSize).toBe(0);
    expect(folder.vmConfigs.map((v) => v.ident)).toEqual(CPTS);
    expect(folder.qcowInfos.filter((q) => q.disk === 'vdb').map((q) => q.ident)).toEqual(CPTS);
    expect(folder.logs.map((l) => l.level)).toEqual(['full', 'inc', 'inc', 'inc']);
    expect(folder.logs.every((l) => /^\d{14}$/.test(l.stamp))).toBe(true);
    expect(folder.otherFiles).toEqual([]);
  });

  it('chain-compressed reads the same way', async () => {
    const folder = await readBackupFolder(`${FIX}/chain-compressed`);
    expect(folder.problems).toEqual([]);
    expect(folder.checkpoints).toEqual(CPTS.slice(0, 3));
    expect(folder.dataFiles.every((f) => f.meta?.compressed === true && f.meta.compressionLevel === 2)).toBe(true);
  });

  it('interrupted-inc (SIGINT): a .partial and a checkpoint without vda data', async () => {
    const folder = await readBackupFolder(`${FIX}/interrupted-inc`);
    expect(folder.checkpoints).toEqual([...CPTS, 'virtnbdbackup.4']);
    expect(folder.checkpointXmls).toEqual([...CPTS, 'virtnbdbackup.4']);
    expect(folder.partials.map((p) => p.name)).toEqual(['vda.inc.virtnbdbackup.4.data.partial']);
    expect(folder.partials[0]!.meta).toMatchObject({ checkpointName: 'virtnbdbackup.4', dataSize: 40 * 1024 * 1024 });
    // No vmconfig/qcow.json for the interrupted run: those are written after the data.
    expect(folder.vmConfigs.map((v) => v.ident)).toEqual(CPTS);
    expect(folder.problems).toContainEqual(expect.stringMatching(/^leftover vda\.inc\.virtnbdbackup\.4\.data\.partial \(421 bytes\)/));
    expect(folder.problems).toContain('disk vda: checkpoint virtnbdbackup.4 has only vda.inc.virtnbdbackup.4.data.partial');
    // vdb's (empty) inc finished before the signal landed, or did not start: either way no
    // complaint about vdb beyond what the files show.
    const vdb4 = folder.dataFiles.find((f) => f.name === 'vdb.inc.virtnbdbackup.4.data');
    if (vdb4) expect(vdb4.meta!.dataSize).toBe(0);
  });

  it('killed-inc-compressed (SIGKILL): an empty .partial, nothing at all for vdb', async () => {
    const folder = await readBackupFolder(`${FIX}/killed-inc-compressed`);
    expect(folder.checkpoints).toEqual(CPTS);
    // vdb's worker had not opened its file yet when the kill landed (or had: then an empty
    // vdb .partial would be here too; the capture is a race by nature).
    const vda = folder.partials.filter((p) => p.disk === 'vda');
    expect(vda.map((p) => [p.name, p.size, p.meta])).toEqual([['vda.inc.virtnbdbackup.3.data.partial', 0, null]]);
    expect(folder.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^leftover vda\.inc\.virtnbdbackup\.3\.data\.partial \(0 bytes\)/),
        'disk vda: checkpoint virtnbdbackup.3 has only vda.inc.virtnbdbackup.3.data.partial',
        'vda.inc.virtnbdbackup.3.data.partial: empty file: no meta header',
      ]),
    );
  });

  it('headers: false lists without opening data files', async () => {
    const folder = await readBackupFolder(`${FIX}/chain-plain`, { headers: false });
    expect(folder.problems).toEqual([]);
    expect(folder.dataFiles.every((f) => f.meta === null)).toBe(true);
  });
});

describe('damaged folders (copies)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vmkeep-virtnbd-folder-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('an inc deleted from the middle, a checkpoint XML missing, a stray file', async () => {
    const copy = join(dir, 'holes');
    await cp(`${FIX}/chain-plain`, copy, { recursive: true, preserveTimestamps: true });
    await unlink(join(copy, 'vda.inc.virtnbdbackup.2.data'));
    await unlink(join(copy, 'checkpoints', 'virtnbdbackup.3.xml'));
    await writeFile(join(copy, 'notes.txt'), 'hello\n');
    const folder = await readBackupFolder(copy);
    expect(folder.otherFiles).toEqual(['notes.txt']);
    expect(folder.problems).toEqual([
      'checkpoint virtnbdbackup.3 is in vmkeep-scratch-virtnbd-1.cpt but checkpoints/virtnbdbackup.3.xml is missing',
      'disk vda: checkpoint virtnbdbackup.2 is in vmkeep-scratch-virtnbd-1.cpt but there is no vda.inc.virtnbdbackup.2.data',
      'vda.inc.virtnbdbackup.3.data: parent checkpoint is virtnbdbackup.2, the file before it is at virtnbdbackup.1',
    ]);
  });

  it('a .cpt that is not JSON', async () => {
    const copy = join(dir, 'badcpt');
    await cp(`${FIX}/chain-plain`, copy, { recursive: true });
    await writeFile(join(copy, 'vmkeep-scratch-virtnbd-1.cpt'), '["virtnbdbackup.0", "virtn');
    const folder = await readBackupFolder(copy);
    expect(folder.checkpoints).toBeNull();
    expect(folder.problems[0]).toMatch(/^vmkeep-scratch-virtnbd-1\.cpt: not valid JSON/);
  });
});

describe('planChainFiles', () => {
  it('orders by the .cpt chain, not by mtime', async () => {
    const folder = await readBackupFolder(`${FIX}/chain-plain`);
    expect(planChainFiles(folder, 'vda')).toEqual({
      files: ['vda.full.data', 'vda.inc.virtnbdbackup.1.data', 'vda.inc.virtnbdbackup.2.data', 'vda.inc.virtnbdbackup.3.data'],
      problems: [],
    });
    expect(planChainFiles(folder, 'vda', 'virtnbdbackup.1').files).toEqual(['vda.full.data', 'vda.inc.virtnbdbackup.1.data']);
    expect(planChainFiles(folder, 'vdb', 'virtnbdbackup.0').files).toEqual(['vdb.full.data']);
    // The empty inc still belongs in the list: its checkpoint is a restore point like any other.
    expect(planChainFiles(folder, 'vdb', 'virtnbdbackup.2').files).toEqual(['vdb.full.data', 'vdb.inc.virtnbdbackup.1.data', 'vdb.inc.virtnbdbackup.2.data']);
    expect(planChainFiles(folder, 'vda', 'virtnbdbackup.9').problems).toEqual(['disk vda: no data file for checkpoint virtnbdbackup.9']);
    expect(planChainFiles(folder, 'vdc').problems).toEqual(['disk vdc has no full or copy data file']);
  });

  it('is unaffected by mtimes that lie (the listing is all that changes)', () => {
    const names = ['vda.full.data', 'vda.inc.virtnbdbackup.1.data', 'vda.inc.virtnbdbackup.2.data'];
    const folder = describeBackupFolder({
      dir: '/x',
      // Newest first, as after a copy without preserved times.
      entries: names.map((name, i) => ({ name, size: 1, mtimeMs: 1000 - i })).concat([{ name: 'dom.cpt', size: 1, mtimeMs: 0 }]),
      checkpointFiles: ['virtnbdbackup.0.xml', 'virtnbdbackup.1.xml', 'virtnbdbackup.2.xml'],
      cptTexts: { 'dom.cpt': JSON.stringify(CPTS.slice(0, 3)) },
    });
    expect(folder.problems).toEqual([]);
    expect(planChainFiles(folder, 'vda').files).toEqual(names);
  });
});
