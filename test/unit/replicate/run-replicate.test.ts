/** The replicate executor with a fake runner: exact restic argv, secrets only in the environment, manifests updated. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { format } from 'date-fns';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createContext } from '../../../src/app/context.js';
import { runReplicate } from '../../../src/replicate/run-replicate.js';
import { writeManifest, readManifest, type ChainManifest } from '../../../src/repository/index.js';
import type { RunOptions } from '../../../src/runner/runner.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { fixture } from '../../helpers/fixtures.js';

const CHAIN = 'vmsnap-backup-monthly-2026-11';
const T0 = '2026-11-02T03:00:00.000Z';
const T1 = '2026-11-03T03:00:00.000Z';
const PASSWORD = 'correct-horse-battery-staple';

let dir: string;
let out: string;
let chainDir: string;
let pw: string;

function fileEntry(rel: string, kind: 'data' | 'meta') {
  const buf = fs.readFileSync(path.join(chainDir, rel));
  return { path: rel, kind, size: buf.length, sha256: createHash('sha256').update(buf).digest('hex'), ...(kind === 'data' ? { disk: 'vda' } : {}) };
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkeep-replicate-unit-'));
  out = path.join(dir, 'out');
  chainDir = path.join(out, 'web', CHAIN);
  fs.mkdirSync(path.join(chainDir, 'checkpoints'), { recursive: true });
  fs.writeFileSync(path.join(chainDir, 'vda.full.data'), 'full');
  fs.writeFileSync(path.join(chainDir, 'vda.inc.virtnbdbackup.1.data'), 'inc1');
  fs.writeFileSync(path.join(chainDir, 'web.cpt'), '["virtnbdbackup.0","virtnbdbackup.1"]');
  fs.writeFileSync(path.join(chainDir, 'checkpoints', 'virtnbdbackup.0.xml'), '<x/>');
  pw = path.join(dir, 'pw');
  fs.writeFileSync(path.join(dir, 'pw'), `${PASSWORD}\n`);
  const point = (checkpoint: string, time: string, data: string) => ({
    checkpoint,
    time,
    level: checkpoint.endsWith('.0') ? ('full' as const) : ('inc' as const),
    protected: false,
    dataBytes: 4,
    durationMs: 1,
    files: [fileEntry(data, 'data')],
  });
  const manifest: ChainManifest = {
    format: 'vmkeep-chain/1',
    domain: 'web',
    engine: 'virtnbdbackup',
    toolVersions: {},
    createdAt: T0,
    updatedAt: T1,
    state: 'complete',
    protected: false,
    disks: [{ target: 'vda' }],
    points: [point('virtnbdbackup.0', T0, 'vda.full.data'), point('virtnbdbackup.1', T1, 'vda.inc.virtnbdbackup.1.data')],
    events: [],
  };
  await writeManifest(chainDir, manifest);
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function context(runner: FakeRunner) {
  return createContext({
    runner,
    uri: 'qemu:///system',
    now: () => new Date('2026-11-04T00:00:00Z'),
    log: createMemoryLogger(),
    interactive: false,
    signal: new AbortController().signal,
  });
}

const options = () => ({
  sources: [{ host: 'hv1', output: out, domains: undefined }],
  repo: { repository: '/srv/repo', passwordFile: pw, options: [] },
  chains: 'all' as const,
  init: false,
  dryRun: false,
  lockWaitMs: 0,
});

const tags = (cp: string) => ['--tag', 'vmkeep', '--tag', 'host=hv1', '--tag', 'domain=web', '--tag', `chain=${CHAIN}`, '--tag', `checkpoint=${cp}`];

describe('runReplicate with a fake runner', () => {
  it('lists snapshots once, sends each point with exact argv (the previous as parent), password only as a file name in the environment, records replicas', async () => {
    const seen: Array<RunOptions | undefined> = [];
    const runner = new FakeRunner()
      .expect({
        tool: 'restic',
        argv: ['snapshots', '--json', '--tag', 'vmkeep'],
        result: { stdout: fixture('restic/snapshots-empty.json') },
        effect: (o) => void seen.push(o),
      })
      .expect({
        tool: 'restic',
        argv: [
          'backup',
          '--json',
          '--host',
          'hv1',
          '--time',
          format(new Date(T0), 'yyyy-MM-dd HH:mm:ss'),
          '--files-from-verbatim',
          '-',
          ...tags('virtnbdbackup.0'),
        ],
        result: { stdout: fixture('restic/backup-first.jsonl') },
        effect: (o) => void seen.push(o),
      })
      .expect({
        tool: 'restic',
        argv: [
          'backup',
          '--json',
          '--host',
          'hv1',
          '--time',
          format(new Date(T1), 'yyyy-MM-dd HH:mm:ss'),
          '--files-from-verbatim',
          '-',
          ...tags('virtnbdbackup.1'),
          '--parent',
          '39213350',
        ],
        result: { stdout: fixture('restic/backup-with-parent.jsonl') },
        effect: (o) => void seen.push(o),
      });
    const result = await runReplicate(context(runner), options());
    expect(runner.unmet()).toEqual([]);
    expect(result.outcome).toBe('ok');
    expect((result.document as { sent: Array<{ snapshot: string }> }).sent.map((s) => s.snapshot)).toEqual(['39213350', '5bedd616']);
    for (const o of seen) {
      expect(o?.env).toMatchObject({ RESTIC_REPOSITORY: '/srv/repo', RESTIC_PASSWORD_FILE: pw, RESTIC_PASSWORD: '' });
      expect(JSON.stringify(o?.env)).not.toContain(PASSWORD);
    }
    for (const c of runner.calls) expect(c.argv.join(' ')).not.toContain(PASSWORD);
    // The full's snapshot holds no later data; the incremental's holds both data files.
    const files0 = seen[1]!
      .input!.trim()
      .split('\n')
      .map((f) => path.relative(chainDir, f));
    expect(files0).toEqual(['checkpoints/virtnbdbackup.0.xml', 'vda.full.data', 'vmkeep-manifest.json', 'web.cpt']);
    expect(seen[2]!.input).toContain('vda.inc.virtnbdbackup.1.data');
    const m = await readManifest(chainDir);
    expect(m!.points.map((p) => p.replicas)).toEqual([
      [{ repository: '/srv/repo', snapshot: '39213350', time: '2026-11-04T00:00:00.000Z' }],
      [{ repository: '/srv/repo', snapshot: '5bedd616', time: '2026-11-04T00:00:00.000Z' }],
    ]);
  });

  it('a repository that has both points: one listing, nothing sent (any backup call would throw)', async () => {
    const listing = JSON.parse(fixture('restic/snapshots.json')) as Array<{ tags: string[] }>;
    listing[0]!.tags = tags('virtnbdbackup.0').filter((t) => t !== '--tag');
    listing[1]!.tags = tags('virtnbdbackup.1').filter((t) => t !== '--tag');
    const runner = new FakeRunner().expect({ tool: 'restic', argv: ['snapshots', '--json', '--tag', 'vmkeep'], result: { stdout: JSON.stringify(listing) } });
    const result = await runReplicate(context(runner), options());
    expect(runner.unmet()).toEqual([]);
    expect(runner.calls).toHaveLength(1);
    expect(result.document).toMatchObject({ sent: [], present: [{ id: `${CHAIN}/virtnbdbackup.0` }, { id: `${CHAIN}/virtnbdbackup.1` }] });
  });
});
