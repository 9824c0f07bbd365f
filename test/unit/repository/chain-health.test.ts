import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findFormerNames, findGoneDomains } from '../../../src/repository/domain-folders.js';
import { checkRecordedFiles } from '../../../src/repository/recorded-files.js';
import { compareRecorded, findLastRecorded, isDatedInFuture, nextSequence } from '../../../src/repository/recording-order.js';

const SHA = 'a'.repeat(64);
const file = (path: string, size: number) => ({ path, kind: 'data' as const, disk: 'vda', size, sha256: SHA });
const point = (checkpoint: string, files: ReturnType<typeof file>[]) => ({
  checkpoint,
  time: '2026-11-01T00:00:00.000Z',
  level: 'inc' as const,
  protected: false,
  dataBytes: 0,
  durationMs: 0,
  files,
});

describe('checkRecordedFiles', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names a missing or resized file, and marks the points that need it and every point after', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmkeep-recorded-'));
    writeFileSync(join(dir, 'vda.full.data'), Buffer.alloc(10));
    writeFileSync(join(dir, 'vda.inc.virtnbdbackup.2.data'), Buffer.alloc(5));
    const manifest = {
      points: [
        point('virtnbdbackup.0', [file('vda.full.data', 10)]),
        point('virtnbdbackup.1', [file('vda.inc.virtnbdbackup.1.data', 7)]),
        point('virtnbdbackup.2', [file('vda.inc.virtnbdbackup.2.data', 6)]),
      ],
    };
    const damage = await checkRecordedFiles(dir, manifest);
    expect(damage).toEqual({
      problems: ['vda.inc.virtnbdbackup.1.data is missing', 'vda.inc.virtnbdbackup.2.data is 5 bytes, 6 were recorded'],
      byPoint: { 'virtnbdbackup.1': 'vda.inc.virtnbdbackup.1.data is missing', 'virtnbdbackup.2': 'vda.inc.virtnbdbackup.1.data is missing' },
    });
  });

  it('is undefined when every recorded file is there with its size', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmkeep-recorded-'));
    mkdirSync(join(dir, 'checkpoints'));
    writeFileSync(join(dir, 'checkpoints', 'virtnbdbackup.0.xml'), 'abc');
    expect(await checkRecordedFiles(dir, { points: [point('virtnbdbackup.0', [file('checkpoints/virtnbdbackup.0.xml', 3)])] })).toBeUndefined();
  });
});

describe('recording order', () => {
  const at = (time: string, sequence?: number) => ({ time, ...(sequence !== undefined ? { sequence } : {}) });

  it('the last recorded point wins over a later date; unnumbered points come before numbered ones', () => {
    const future = at('2027-01-10T00:00:00Z', 2);
    const today = at('2026-12-07T00:00:00Z', 3);
    const old = at('2027-02-01T00:00:00Z');
    expect(findLastRecorded([future, today, old])).toBe(today);
    expect(compareRecorded(old, future)).toBeLessThan(0);
    expect(findLastRecorded([at('2026-01-01T00:00:00Z'), at('2026-02-01T00:00:00Z')])!.time).toBe('2026-02-01T00:00:00Z');
    expect(nextSequence([future, today, old])).toBe(4);
    expect(nextSequence([])).toBe(1);
  });

  it('a date more than a few minutes ahead of now is in the future', () => {
    const now = new Date('2026-12-07T00:00:00Z');
    expect(isDatedInFuture('2026-12-07T00:01:00Z', now)).toBe(false);
    expect(isDatedInFuture('2026-12-07T01:00:00Z', now)).toBe(true);
  });
});

describe('domain folders and libvirt', () => {
  const folders = [
    { domain: 'web-old', uuids: ['11111111-1111-4111-8111-111111111111'] },
    { domain: 'web', uuids: ['11111111-1111-4111-8111-111111111111'] },
    { domain: 'gone', uuids: ['22222222-2222-4222-8222-222222222222'] },
  ];
  it('a folder of a domain libvirt does not define is gone; a defined domain with its UUID is the new name', () => {
    const defined = new Map([['web', '11111111-1111-4111-8111-111111111111']]);
    expect(findGoneDomains(folders, defined)).toEqual([
      { domain: 'web-old', renamedTo: 'web' },
      { domain: 'gone', renamedTo: undefined },
    ]);
    expect(findFormerNames(folders, 'web', '11111111-1111-4111-8111-111111111111')).toEqual(['web-old']);
    expect(findFormerNames(folders, 'web', undefined)).toEqual([]);
  });
});
