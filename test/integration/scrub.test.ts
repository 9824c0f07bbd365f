/**
 * `vmkeep scrub` against the real libvirtd: checkpoints made by real virtnbdbackup runs, scrubbed
 * through runScrub with the real runner, and checked independently (virsh, QMP, qemu-img through
 * test/helpers/libvirt.ts, which does not use vmkeep's parsers).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createContext } from '../../src/app/context.js';
import { createExecaRunner, type Runner } from '../../src/runner/runner.js';
import { runScrub, type ScrubDocument, type ScrubOptions } from '../../src/scrub/index.js';
import { createMemoryLogger } from '../../src/util/log.js';
import { cleanupAll, createTestDomain, destroyDomain, liveBitmaps, qmp, shutoffBitmaps, virsh, writeGuestData, type TestDomain } from '../helpers/libvirt.js';

const runner: Runner = createExecaRunner();
const MIB = 1024 * 1024;

afterAll(async () => {
  await cleanupAll();
});

/** A scrub in-process; `why` is its text and log, so a failed assertion on the outcome says what went wrong. */
async function scrub(options: Partial<ScrubOptions> & { domains: string[] }) {
  const log = createMemoryLogger();
  const ctx = createContext({
    runner,
    uri: 'qemu:///system',
    now: () => new Date(),
    log,
    interactive: false,
    signal: new AbortController().signal,
  });
  const result = await runScrub(ctx, { scrubType: '*', dryRun: false, force: false, ...options });
  return { ...result, why: [result.text, ...log.lines].join('\n') };
}

/** A real virtnbdbackup run into a folder inside the domain's own directory (removed with it). */
async function backup(domain: TestDomain, level: 'full' | 'inc', folder = 'backup'): Promise<void> {
  const tmp = path.join(domain.dir, 'tmp');
  fs.mkdirSync(tmp, { recursive: true });
  // TMPDIR: virtnbdbackup 1.9.15 leaves qemu-*.log files in it.
  await runner.run('virtnbdbackup', ['-d', domain.name, '-l', level, '-o', path.join(domain.dir, folder)], {
    env: { TMPDIR: tmp },
    timeoutMs: 120_000,
  });
}

async function checkpointNames(domain: TestDomain): Promise<string[]> {
  return (await virsh(['checkpoint-list', domain.uuid, '--name']))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Bitmap names QEMU holds on the qcow2 node of the domain's first disk. */
async function qemuBitmapNames(domain: TestDomain): Promise<string[]> {
  const nodes = await liveBitmaps(domain);
  return nodes.filter((n) => n.driver === 'qcow2' && n.file === domain.disks[0]!.path).flatMap((n) => n.bitmaps.map((b) => b.name));
}

async function imageBitmapNames(domain: TestDomain): Promise<string[]> {
  return (await shutoffBitmaps(domain.disks[0]!.path)).map((b) => b.name);
}

/** A domain with a chain virtnbdbackup.0 → .1 → .2 made by one full and two incremental backups. */
async function domainWithChain(): Promise<TestDomain> {
  const domain = await createTestDomain({ start: true });
  await writeGuestData(domain, 'vda', { pattern: 0x11, offset: 0, length: 2 * MIB });
  await backup(domain, 'full');
  await writeGuestData(domain, 'vda', { pattern: 0x22, offset: 4 * MIB, length: 1 * MIB });
  await backup(domain, 'inc');
  await writeGuestData(domain, 'vda', { pattern: 0x33, offset: 8 * MIB, length: 1 * MIB });
  await backup(domain, 'inc');
  expect(await checkpointNames(domain)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2']);
  return domain;
}

const isVirtnbd = (name: string) => name.startsWith('virtnbdbackup.');

describe('vmkeep scrub against libvirt', () => {
  it("running: a dry run changes nothing; '*' leaves no virtnbdbackup checkpoint or bitmap, and a new full works", async () => {
    const domain = await domainWithChain();
    expect((await qemuBitmapNames(domain)).filter(isVirtnbd).sort()).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2']);

    const dry = await scrub({ domains: [domain.name], dryRun: true });
    expect(dry.outcome, dry.why).toBe('ok');
    expect((dry.document as ScrubDocument)[domain.name]!.actions.map((a) => `${a.action} ${a.target}`)).toEqual([
      'delete-checkpoint virtnbdbackup.2',
      'delete-checkpoint virtnbdbackup.1',
      'delete-checkpoint virtnbdbackup.0',
    ]);
    expect(await checkpointNames(domain)).toHaveLength(3);

    const result = await scrub({ domains: [domain.name] });
    expect(result.outcome, result.why).toBe('ok');
    const report = (result.document as ScrubDocument)[domain.name]!;
    expect(report.state).toBe('running');
    expect(report.actions.every((a) => a.done)).toBe(true);
    expect(report.remaining).toEqual({ checkpoints: [], bitmaps: { vda: [] } });

    expect(await checkpointNames(domain)).toEqual([]);
    expect(await qemuBitmapNames(domain)).toEqual([]);

    // The point of a scrub: the next chain starts cleanly.
    await backup(domain, 'full', 'backup-after-scrub');
    expect(await checkpointNames(domain)).toEqual(['virtnbdbackup.0']);
  });

  it("shut off: '*' drops the metadata and removes the bitmaps (and an orphan) from the image", async () => {
    const domain = await domainWithChain();
    // An orphan the engine could have left behind: a persistent bitmap no checkpoint names.
    const node = (await liveBitmaps(domain)).find((n) => n.driver === 'qcow2')!.nodeName;
    await qmp(domain, 'block-dirty-bitmap-add', { node, name: 'virtnbdbackup.9', persistent: true });
    await destroyDomain(domain);
    expect((await imageBitmapNames(domain)).sort()).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2', 'virtnbdbackup.9']);

    const result = await scrub({ domains: [domain.name] });
    expect(result.outcome, result.why).toBe('ok');
    const report = (result.document as ScrubDocument)[domain.name]!;
    expect(report.state).toBe('shut off');
    expect(report.actions.map((a) => `${a.action} ${a.target}`)).toEqual([
      'delete-checkpoint-metadata virtnbdbackup.2',
      'remove-bitmap virtnbdbackup.2',
      'delete-checkpoint-metadata virtnbdbackup.1',
      'remove-bitmap virtnbdbackup.1',
      'delete-checkpoint-metadata virtnbdbackup.0',
      'remove-bitmap virtnbdbackup.0',
      'remove-bitmap virtnbdbackup.9',
    ]);
    expect(report.actions.every((a) => a.done)).toBe(true);

    expect(await checkpointNames(domain)).toEqual([]);
    expect(await imageBitmapNames(domain)).toEqual([]);
  });

  it('a checkpoint whose bitmap is gone loses its metadata only, and a full backup works again', async () => {
    const domain = await domainWithChain();
    const node = (await liveBitmaps(domain)).find((n) => n.driver === 'qcow2')!.nodeName;
    await qmp(domain, 'block-dirty-bitmap-remove', { node, name: 'virtnbdbackup.1' });

    const result = await scrub({ domains: [domain.name], scrubType: 'checkpoint' });
    expect(result.outcome, result.why).toBe('ok');
    expect((result.document as ScrubDocument)[domain.name]!.actions.map((a) => `${a.action} ${a.target}`)).toEqual([
      'delete-checkpoint virtnbdbackup.2',
      'delete-checkpoint-metadata virtnbdbackup.1',
      'delete-checkpoint virtnbdbackup.0',
    ]);
    expect(await checkpointNames(domain)).toEqual([]);
    expect(await qemuBitmapNames(domain)).toEqual([]);
    await backup(domain, 'full', 'backup-after-scrub');
    expect(await checkpointNames(domain)).toEqual(['virtnbdbackup.0']);
  });

  for (const shutOff of [false, true]) {
    it(`${shutOff ? 'shut off' : 'running'}: a foreign checkpoint is skipped without --force and removed with it`, async () => {
      const domain = await createTestDomain({ start: true });
      await backup(domain, 'full');
      await virsh(['checkpoint-create-as', '--domain', domain.uuid, '--name', 'manual-cp']);
      if (shutOff) await destroyDomain(domain);
      const bitmaps = () => (shutOff ? imageBitmapNames(domain) : qemuBitmapNames(domain));
      expect((await bitmaps()).sort()).toEqual(['manual-cp', 'virtnbdbackup.0']);

      const first = await scrub({ domains: [domain.name] });
      expect(first.outcome, first.why).toBe('ok');
      const skipped = (first.document as ScrubDocument)[domain.name]!.actions.find((a) => a.target === 'manual-cp');
      expect(skipped).toEqual({
        action: 'skip-checkpoint',
        target: 'manual-cp',
        reason: 'not a vmkeep-owned name (use --force)',
        done: false,
      });
      expect(first.text).toContain('skipped checkpoint manual-cp: not a vmkeep-owned name (use --force)');
      expect(await checkpointNames(domain)).toEqual(['manual-cp']);
      expect(await bitmaps()).toEqual(['manual-cp']);

      const forced = await scrub({ domains: [domain.name], force: true });
      expect(forced.outcome, forced.why).toBe('ok');
      expect(await checkpointNames(domain)).toEqual([]);
      expect(await bitmaps()).toEqual([]);
    });
  }

  it('refuses a domain with a backup job running (libvirt itself would let the checkpoints go)', async () => {
    const domain = await createTestDomain({ start: true });
    await backup(domain, 'full');
    // libvirt's pull-mode backup keeps its job (and NBD export) running until aborted. QEMU
    // (libvirt-qemu) must be able to create the socket and the scratch file.
    const sock = path.join(domain.dir, 'sock');
    fs.mkdirSync(sock, { mode: 0o700 });
    const qemuUser = fs
      .readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[0] === 'libvirt-qemu')!;
    fs.chownSync(sock, Number(qemuUser[2]), Number(qemuUser[3]));
    fs.writeFileSync(
      path.join(domain.dir, 'backup.xml'),
      `<domainbackup mode='pull'><server transport='unix' socket='${sock}/nbd.sock'/>` +
        `<incremental>virtnbdbackup.0</incremental>` +
        `<disks><disk name='vda' backup='yes' type='file'><scratch file='${sock}/scratch.qcow2'/></disk></disks></domainbackup>`,
    );
    fs.writeFileSync(path.join(domain.dir, 'checkpoint.xml'), '<domaincheckpoint><name>virtnbdbackup.1</name></domaincheckpoint>');
    await virsh([
      'backup-begin',
      '--domain',
      domain.uuid,
      '--backupxml',
      path.join(domain.dir, 'backup.xml'),
      '--checkpointxml',
      path.join(domain.dir, 'checkpoint.xml'),
    ]);
    try {
      const result = await scrub({ domains: [domain.name] });
      expect(result.outcome, result.why).toBe('failure');
      expect((result.document as ScrubDocument)[domain.name]!.error).toMatch(/^a job \(a backup\?\) is running on /);
      expect(await checkpointNames(domain)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
    } finally {
      await virsh(['domjobabort', '--domain', domain.uuid]);
    }
    // Once the job is gone, the same scrub goes through.
    expect((await scrub({ domains: [domain.name] })).outcome).toBe('ok');
    expect(await checkpointNames(domain)).toEqual([]);
    expect(await qemuBitmapNames(domain)).toEqual([]);
  });

  it('one missing domain does not stop the others (partial)', async () => {
    const domain = await createTestDomain({ start: true });
    await backup(domain, 'full');
    const result = await scrub({ domains: ['vmkeep-test-no-such-domain', domain.name] });
    expect(result.outcome, result.why).toBe('partial');
    const doc = result.document as ScrubDocument;
    expect(doc['vmkeep-test-no-such-domain']).toMatchObject({ ok: false, state: 'unknown' });
    expect(doc[domain.name]!.ok).toBe(true);
    expect(await checkpointNames(domain)).toEqual([]);
  });
});
