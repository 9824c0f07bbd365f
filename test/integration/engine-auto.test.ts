/**
 * `--engine auto` (the default) through the built CLI against real libvirt: one rule at a time,
 * each read from the run's JSON (`engine`, `engineReason`) and, where a run is made, from the
 * chain it wrote. Local and new: push. A push chain is continued by push, in the same folder (a
 * run without --engine once started a second full chain with virtnbdbackup there). An existing
 * virtnbdbackup chain is continued by virtnbdbackup. A VMSnap tree (written by bare
 * virtnbdbackup, no manifest) and --compress: virtnbdbackup. The remote rule is in the unit tier
 * (test/unit/repository/engine-choice.test.ts): it needs no libvirt to decide.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, chainFolders, expectDocument, makeLockDir, readManifestJson } from '../helpers/backup-run.js';
import { cleanupAll, createTestDomain, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { runVmkeep } from '../helpers/cli.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
let lockDir: string;
let dom: TestDomain;

type Doc = { results: Array<{ result: string; level?: string; chain?: string; engine?: string; engineReason?: string }> };

const auto = (output: string, extra: string[] = [], now?: string) =>
  backupCli(['--domains', dom.name, '--output', output, '--json', ...extra], { lockDir, engine: 'auto', ...(now ? { now } : {}) });

/** What `status --output --json` says the domain's next backup into `output` uses. */
async function statusNextEngine(output: string): Promise<{ engine: string; reason: string } | undefined> {
  const run = await runVmkeep(['status', '--domains', dom.name, '--output', output, '--json'], { env: { VMKEEP_LOCK_DIR: lockDir } });
  expect(run.code, run.stderr).toBe(0);
  return (JSON.parse(run.stdout) as Record<string, { backups?: { nextEngine?: { engine: string; reason: string } } }>)[dom.name]?.backups?.nextEngine;
}

beforeAll(async () => {
  lockDir = makeLockDir();
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
  await writeGuestData(dom, 'vda', { pattern: 0x41, offset: 0, length: 4 * MiB });
}, 300_000);
afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

describe('--engine auto', () => {
  it('local libvirt and a new chain: push; the next run continues that push chain in the same folder', async () => {
    const out = path.join(dom.dir, 'local');
    const dry = expectDocument(await auto(out, ['--dry-run'])) as Doc;
    expect(dry.results[0]).toMatchObject({ result: 'planned', engine: 'push', engineReason: expect.stringMatching(/new chain on local libvirt/) });
    fs.mkdirSync(out, { recursive: true });
    // status says the same as the dry run, before and after the first point.
    expect(await statusNextEngine(out)).toEqual({ engine: 'push', reason: dry.results[0]!.engineReason });
    const first = expectDocument(await auto(out)) as Doc;
    expect(await statusNextEngine(out)).toEqual({ engine: 'push', reason: `continues chain ${first.results[0]!.chain}, written by push` });
    expect(first.results[0]).toMatchObject({ result: 'done', level: 'full', engine: 'push' });
    await writeGuestData(dom, 'vda', { pattern: 0x42, offset: 8 * MiB, length: 2 * MiB });
    const second = expectDocument(await auto(out)) as Doc;
    expect(second.results[0]).toMatchObject({ result: 'done', level: 'inc', engine: 'push', chain: first.results[0]!.chain });
    expect(second.results[0]!.engineReason).toBe(`continues chain ${first.results[0]!.chain}, written by push`);
    expect(chainFolders(out, dom.name)).toEqual([first.results[0]!.chain]);
    const chainDir = path.join(out, dom.name, first.results[0]!.chain!);
    expect((JSON.parse(fs.readFileSync(path.join(chainDir, 'vmkeep-manifest.json'), 'utf8')) as { engine: string }).engine).toBe('push');
    expect(readManifestJson(chainDir).points.map((p) => p.level)).toEqual(['full', 'inc']);
  });

  it('an existing virtnbdbackup chain is continued by virtnbdbackup', async () => {
    const out = path.join(dom.dir, 'streams');
    const first = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json', '--engine', 'virtnbdbackup'], { lockDir })) as Doc;
    await writeGuestData(dom, 'vda', { pattern: 0x43, offset: 12 * MiB, length: 1 * MiB });
    expect(await statusNextEngine(out)).toEqual({ engine: 'virtnbdbackup', reason: `continues chain ${first.results[0]!.chain}, written by virtnbdbackup` });
    const next = expectDocument(await auto(out)) as Doc;
    expect(next.results[0]).toMatchObject({ result: 'done', level: 'inc', engine: 'virtnbdbackup', chain: first.results[0]!.chain });
    expect(next.results[0]!.engineReason).toBe(`continues chain ${first.results[0]!.chain}, written by virtnbdbackup`);
    expect(chainFolders(out, dom.name)).toEqual([first.results[0]!.chain]);
  });

  it('a VMSnap tree (bare virtnbdbackup, no manifest): a new period starts with virtnbdbackup', async () => {
    const out = path.join(dom.dir, 'vmsnap');
    const folder = path.join(out, dom.name, 'vmsnap-backup-monthly-2026-01');
    fs.mkdirSync(folder, { recursive: true });
    const tmp = fs.mkdtempSync(path.join(dom.dir, 'tmp-'));
    await runner.run('virtnbdbackup', ['-d', dom.name, '-l', 'full', '-o', folder], { env: { TMPDIR: tmp }, timeoutMs: 300_000 });
    expect(fs.existsSync(path.join(folder, 'vmkeep-manifest.json'))).toBe(false);
    const dry = expectDocument(await auto(out, ['--dry-run'], '2026-03-05T02:00:00Z')) as Doc;
    expect(dry.results[0]).toMatchObject({ result: 'planned', engine: 'virtnbdbackup', engineReason: expect.stringMatching(/VMSnap tree/) });
  });

  it('--compress: a new chain with virtnbdbackup', async () => {
    const out = path.join(dom.dir, 'compressed');
    fs.mkdirSync(out);
    const dry = expectDocument(await auto(out, ['--compress', '--dry-run'])) as Doc;
    expect(dry.results[0]).toMatchObject({ result: 'planned', engine: 'virtnbdbackup', engineReason: expect.stringMatching(/--compress/) });
  });
});
