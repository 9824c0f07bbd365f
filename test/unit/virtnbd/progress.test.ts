/**
 * stderr parsing on the real stderr of virtnbdbackup/virtnbdrestore 1.9.15 runs
 * (fixtures/virtnbdbackup/runs/*.stderr, split the way the Runner splits them).
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { isFailureLine, parseLogLine, parseStderrLine, parseStderrText, stripAnsi, type VirtnbdEvent } from '../../../src/virtnbd/progress.js';

const RUNS = 'fixtures/virtnbdbackup/runs';

async function events(run: string): Promise<VirtnbdEvent[]> {
  // Split the way the Runner does, then let the parser split what the Runner cannot.
  const text = await readFile(`${RUNS}/${run}.stderr`, 'utf8');
  return text
    .split(/\r\n|\r|\n/)
    .filter((l) => l.length > 0)
    .flatMap(parseStderrText);
}

const only = <K extends VirtnbdEvent['kind']>(list: VirtnbdEvent[], kind: K) => list.filter((e): e is Extract<VirtnbdEvent, { kind: K }> => e.kind === kind);

describe('virtnbdbackup stderr', () => {
  it('full of two disks: version, checkpoint, per-disk sizes and target files, finished', async () => {
    const list = await events('01-plain-full');
    expect(only(list, 'version').map((e) => e.version)).toEqual(['1.9.15']);
    expect(only(list, 'checkpoint').map((e) => e.checkpoint)).toEqual(['virtnbdbackup.0']);
    expect(
      only(list, 'disk-size')
        .map((e) => [e.disk, e.bytes])
        .sort(),
    ).toEqual([
      ['vda', 67108864],
      ['vdb', 16777216],
    ]);
    expect(
      only(list, 'data-size')
        .map((e) => [e.disk, e.bytes])
        .sort(),
    ).toEqual([
      ['vda', 327680],
      ['vdb', 65536],
    ]);
    expect(
      only(list, 'target-file')
        .map((e) => e.path.replace(/.*\//, ''))
        .sort(),
    ).toEqual(['vda.full.data.partial', 'vdb.full.data.partial']);
    expect(only(list, 'finished')).toHaveLength(1);
    expect(list.filter((e) => e.kind !== 'progress' && e.kind !== 'other' && isFailureLine(e.line))).toEqual([]);
  });

  it('tqdm redraws (with cursor-up escapes between bars) become progress events', async () => {
    const progress = only(await events('30-compressed-full'), 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((p) => p.action === 'saving' && ['vda', 'vdb'].includes(p.disk))).toBe(true);
    expect(progress.some((p) => p.disk === 'vda' && p.percent === 100)).toBe(true);
  });

  it('inc: parent checkpoint; --printonly: the estimate', async () => {
    const inc = await events('02-plain-inc1');
    expect(only(inc, 'parent-checkpoint').map((e) => e.checkpoint)).toEqual(['virtnbdbackup.0']);
    expect(only(inc, 'checkpoint').map((e) => e.checkpoint)).toEqual(['virtnbdbackup.1']);
    const estimate = only(await events('04-probe-printonly'), 'estimated-size');
    expect(estimate.map((e) => e.bytes)).toEqual([131072]);
  });

  it('--noprogress logs a per-disk "finished" line instead of bars', async () => {
    const list = await events('03-plain-inc2-empty');
    expect(only(list, 'progress')).toEqual([]);
    expect(
      only(list, 'disk-finished')
        .map((e) => e.disk)
        .sort(),
    ).toEqual(['vda', 'vdb']);
  });

  it('SIGINT: the signal lines are ERRORs', async () => {
    const list = await events('20-interrupted-inc');
    expect(only(list, 'signal').map((e) => e.signal)).toEqual([2]);
    expect(only(list, 'finished')).toEqual([]);
  });
});

describe('virtnbdrestore stderr', () => {
  it('lists each file applied or skipped, and the bytes processed', async () => {
    const list = await events('33-restore-compressed');
    expect(only(list, 'restore-file').map((e) => e.path.replace(/.*\//, ''))).toEqual(['vda.full.data', 'vda.inc.virtnbdbackup.2.data', 'vdb.full.data']);
    expect(only(list, 'restore-file-empty').map((e) => e.path.replace(/.*\//, ''))).toEqual([
      'vda.inc.virtnbdbackup.1.data',
      'vdb.inc.virtnbdbackup.1.data',
      'vdb.inc.virtnbdbackup.2.data',
    ]);
    expect(only(list, 'restore-file-end').map((e) => e.bytes)).toEqual([42401792, 131072, 196608]);
    expect(only(list, 'progress').every((p) => p.action === 'restoring')).toBe(true);
  });

  it('a broken file: exit 0, but an ERROR line says so', async () => {
    expect((await readFile(`${RUNS}/16-restore-truncated.rc`, 'utf8')).trim()).toBe('0');
    const failures = (await events('16-restore-truncated')).filter((e): e is Extract<VirtnbdEvent, { line: unknown }> => 'line' in e && isFailureLine(e.line));
    expect(failures.map((e) => e.line.message)).toEqual([expect.stringMatching(/^Cant read stream at pos: \[\d+\]: \[Invalid block format/)]);
  });

  it('--until reached', async () => {
    const list = await events('12-restore-until-1');
    expect(only(list, 'until-reached').map((e) => e.checkpoint)).toEqual(['virtnbdbackup.1']);
  });
});

describe('line parsing', () => {
  it('parses a 2.x-style coloured line with two spaces after the colon', () => {
    const line =
      '\u001b[32m[2024-09-29 18:06:24]\u001b[0m\u001b[34m \u001b[32mINFO\u001b[0m root disk - backup [vda]: \u001b[32m 42401792 bytes [40.4MiB] of data extents to backup';
    expect(parseLogLine(line)).toMatchObject({ level: 'INFO', thread: 'vda', message: '42401792 bytes [40.4MiB] of data extents to backup' });
    expect(parseStderrLine(line)).toMatchObject({ kind: 'data-size', disk: 'vda', bytes: 42401792 });
  });

  it('splits a log line glued to a progress bar', () => {
    const glued =
      'restoring disk [vda]:   0%|          | 0.00/65.5k [00:00<?, ?B/s][2026-11-22 01:52:08] ERROR root virtnbdrestore - restoreData [MainThread]: Cant read stream at pos: [378]: [x]';
    expect(parseStderrText(glued).map((e) => e.kind)).toEqual(['progress', 'log']);
  });

  it('strips cursor movement', () => {
    expect(stripAnsi('saving disk vdb:   0%|  | 0.00/197k\u001b[A')).toBe('saving disk vdb:   0%|  | 0.00/197k');
  });
});
