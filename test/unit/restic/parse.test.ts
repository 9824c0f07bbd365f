import { describe, expect, it } from 'vitest';
import { parseBackupSummary, parseDamagedPacks, parseFindPack, parseRepositoryLock, parseSnapshots } from '../../../src/restic/parse.js';
import { pointTags, readPointTags, redactRepository } from '../../../src/restic/tags.js';
import { VmkeepError } from '../../../src/errors.js';
import { fixture } from '../../helpers/fixtures.js';

describe('restic 0.14 parsers on recorded output', () => {
  it('snapshots --json: ids, paths, host, tags, parent', () => {
    const s = parseSnapshots(fixture('restic/snapshots.json'));
    expect(s).toHaveLength(2);
    expect(s[0]).toMatchObject({ hostname: 'hv1', tags: ['vmkeep', 'domain=dom', 'checkpoint=virtnbdbackup.0'], short_id: '39213350' });
    expect(s[0]!.paths).toEqual(['/tmp/WORK/src/chain/dom.cpt', '/tmp/WORK/src/chain/vda.full.data']);
    expect(s[1]!.parent).toBe(s[0]!.id);
    expect(parseSnapshots(fixture('restic/snapshots-empty.json'))).toEqual([]);
    expect(() => parseSnapshots('Fatal: wrong password')).toThrow(VmkeepError);
  });

  it('backup --json: the summary line, after status lines', () => {
    expect(parseBackupSummary(fixture('restic/backup-first.jsonl'))).toEqual({
      snapshotId: '39213350',
      filesNew: 2,
      filesChanged: 0,
      filesUnmodified: 0,
      dataAdded: 3002231,
      totalBytesProcessed: 3000019,
      durationSeconds: 0.298113166,
    });
    // With the previous point as parent the full is not read again.
    expect(parseBackupSummary(fixture('restic/backup-with-parent.jsonl'))).toMatchObject({
      filesNew: 1,
      filesChanged: 1,
      filesUnmodified: 1,
      dataAdded: 502619,
    });
    expect(() => parseBackupSummary('{"message_type":"status"}\n')).toThrow('no summary line');
  });

  it('check --read-data on a corrupted pack names that pack; find --pack names the snapshots using it', () => {
    const damaged = parseDamagedPacks(`${fixture('restic/check-damaged.stdout')}\n${fixture('restic/check-damaged.stderr')}`);
    expect(damaged).toEqual(['9fd480779cc16aa8e0d4915418bb95b28eb9df37e913628f873e17df645e424b']);
    expect(parseDamagedPacks(`${fixture('restic/check-good.stdout')}${fixture('restic/check-good.stderr')}`)).toEqual([]);
    const snaps = parseSnapshots(fixture('restic/snapshots.json')).map((s) => s.id);
    expect(parseFindPack(fixture('restic/find-pack.json')).sort()).toEqual([...snaps].sort());
  });
});

describe('point tags', () => {
  it('round-trip, with commas and slashes in names kept out of restic tag lists', () => {
    const p = { host: 'hv1', domain: 'web,db 1', chain: 'vmsnap-backup-monthly-2026-11', checkpoint: 'virtnbdbackup.3' };
    const tags = pointTags(p);
    expect(tags.every((t) => !t.includes(','))).toBe(true);
    expect(readPointTags(tags)).toEqual(p);
    expect(readPointTags(['domain=x'])).toBeUndefined();
    expect(readPointTags(['vmkeep', 'domain=x'])).toBeUndefined();
  });

  it('repository credentials are removed before recording', () => {
    expect(redactRepository('rest:https://user:secret@h:8000/repo')).toBe('rest:https://h:8000/repo');
    expect(redactRepository('/srv/repo')).toBe('/srv/repo');
  });
});

describe('parseRepositoryLock', () => {
  it("reads who holds the lock from restic 0.14's refusal, and nothing from other output", () => {
    expect(parseRepositoryLock(fixture('restic/check-locked.stderr'))).toEqual({ pid: 309, host: 'vm', exclusive: false, createdAt: '2026-12-07 02:17:39' });
    expect(parseRepositoryLock(fixture('restic/check-damaged.stderr'))).toBeUndefined();
  });
});
