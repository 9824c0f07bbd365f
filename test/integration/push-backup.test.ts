/**
 * `vmkeep backup --engine push` against the real libvirtd: libvirt's push-mode backup into qcow2
 * chains. Each restore point is checked independently of vmkeep's readers: `qemu-img compare`
 * of the point's image (QEMU follows its backing chain) against a reference copy of the disk
 * taken at that moment, and `qemu-img info` for the backing links.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MiB,
  backupCli,
  chainFolders,
  checkpointNames,
  expectDocument,
  jobActive,
  useLockDirAndCleanup,
  qemuBitmapNames,
  readManifestJson,
} from '../helpers/backup-run.js';
import {
  createTestDomain,
  destroyDomain,
  domainState,
  imagesIdentical,
  referenceCopy,
  startDomain,
  virsh,
  writeGuestData,
  type TestDomain,
} from '../helpers/libvirt.js';
import { expectPointRestores } from '../helpers/restore-point.js';
import { startVmkeep, type RunningVmkeep } from '../helpers/vmkeep-process.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
const lockDir = useLockDirAndCleanup();

const CP = /^vmkeep\.[0-9a-f]{8}\.(\d+)$/;

/** The image of `disk` at `checkpoint` in a push chain folder. */
const image = (chainDir: string, disk: string, checkpoint: string) => path.join(chainDir, `${disk}.${checkpoint}.qcow2`);

async function backingOf(file: string): Promise<string | undefined> {
  const { stdout } = await runner.run('qemu-img', ['info', '--output=json', '-U', file]);
  return (JSON.parse(stdout) as { 'backing-filename'?: string })['backing-filename'];
}

/** The point's image equals the reference; its backing file is the previous point's, by a relative name. */
async function expectPoint(chainDir: string, disk: string, checkpoint: string, reference: string, previous: string | undefined): Promise<void> {
  const file = image(chainDir, disk, checkpoint);
  expect(await imagesIdentical(reference, file), `${file} differs from ${reference}`).toBe(true);
  expect(await backingOf(file)).toBe(previous === undefined ? undefined : `${disk}.${previous}.qcow2`);
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function pushArgs(dom: TestDomain, out: string): string[] {
  return ['--domains', dom.name, '--output', out, '--json', '--engine', 'push'];
}

describe('vmkeep backup --engine push', () => {
  it('running domain: full, incremental, incremental into one qcow2 chain; each point equals its reference; a cp -a copy too', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 256 }], start: true });
    const out = path.join(dom.dir, 'out');
    const refs: string[] = [];
    const args = pushArgs(dom, out);

    await writeGuestData(dom, 'vda', { pattern: 0x11, offset: 0, length: 16 * MiB });
    refs.push(path.join(dom.dir, 'ref0.qcow2'));
    await referenceCopy(dom, 'vda', refs[0]!);
    const first = expectDocument(await backupCli(args, { lockDir }));
    expect(first.results).toMatchObject([{ domain: dom.name, result: 'done', level: 'full', dataBytes: 16 * MiB }]);
    const cp0 = first.results[0]!.checkpoint!;
    expect(cp0).toMatch(CP);
    const chain = first.results[0]!.chain!;
    const chainDir = path.join(out, dom.name, chain);

    await writeGuestData(dom, 'vda', { pattern: 0x22, offset: 8 * MiB, length: 4 * MiB });
    await writeGuestData(dom, 'vda', { pattern: 0x33, offset: 200 * MiB, length: 2 * MiB });
    refs.push(path.join(dom.dir, 'ref1.qcow2'));
    await referenceCopy(dom, 'vda', refs[1]!);
    const second = expectDocument(await backupCli(args, { lockDir }));
    const cp1 = cp0.replace(/\.0$/, '.1');
    // Only the changed 6 MiB travel.
    expect(second.results).toMatchObject([{ result: 'done', level: 'inc', chain, checkpoint: cp1, dataBytes: 6 * MiB }]);

    await writeGuestData(dom, 'vda', { pattern: 0x44, offset: 0, length: 1 * MiB });
    refs.push(path.join(dom.dir, 'ref2.qcow2'));
    await referenceCopy(dom, 'vda', refs[2]!);
    const third = expectDocument(await backupCli(args, { lockDir }));
    const cp2 = cp0.replace(/\.0$/, '.2');
    expect(third.results).toMatchObject([{ result: 'done', level: 'inc', chain, checkpoint: cp2, dataBytes: 1 * MiB }]);

    const cps = [cp0, cp1, cp2];
    expect(await checkpointNames(dom)).toEqual(cps);
    expect(await qemuBitmapNames(dom)).toEqual([...cps].sort());
    expect(await jobActive(dom)).toBe(false);
    for (const [i, cp] of cps.entries()) await expectPoint(chainDir, 'vda', cp, refs[i]!, cps[i - 1]);

    // The manifest records every file with the sha256 of what is on disk.
    const manifest = JSON.parse(fs.readFileSync(path.join(chainDir, 'vmkeep-manifest.json'), 'utf8')) as {
      engine: string;
      state: string;
      points: Array<{ checkpoint: string; parent?: string; files: Array<{ path: string; kind: string; disk?: string; sha256: string }> }>;
    };
    expect(manifest.engine).toBe('push');
    expect(manifest.state).toBe('complete');
    expect(manifest.points.map((p) => [p.checkpoint, p.parent])).toEqual([
      [cp0, undefined],
      [cp1, cp0],
      [cp2, cp1],
    ]);
    for (const p of manifest.points) {
      expect(p.files.map((f) => f.path).sort()).toEqual([`vda.${p.checkpoint}.qcow2`, `vmconfig.${p.checkpoint}.xml`]);
      for (const f of p.files) expect(f.sha256).toBe(sha256(path.join(chainDir, f.path)));
      expect(p.files.find((f) => f.path.endsWith('.qcow2'))).toMatchObject({ kind: 'data', disk: 'vda' });
    }
    // Folders go back to private once the job is done.
    expect(fs.statSync(chainDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(out, dom.name)).mode & 0o777).toBe(0o700);

    // Relative backing files: a copy elsewhere is a whole chain.
    const copy = path.join(dom.dir, 'copied');
    await runner.run('cp', ['-a', '--', out, copy]);
    fs.rmSync(out, { recursive: true, force: true });
    for (const [i, cp] of cps.entries()) await expectPoint(path.join(copy, dom.name, chain), 'vda', cp, refs[i]!, cps[i - 1]);
  });

  it('shut-off domain with two disks: started paused, shut off again; after a start, an incremental', async () => {
    const dom = await createTestDomain({
      disks: [
        { target: 'vda', sizeMiB: 64 },
        { target: 'vdb', sizeMiB: 32 },
      ],
      start: true,
    });
    const out = path.join(dom.dir, 'out');
    const args = pushArgs(dom, out);
    await writeGuestData(dom, 'vda', { pattern: 0x51, offset: 2 * MiB, length: 8 * MiB });
    await writeGuestData(dom, 'vdb', { pattern: 0x55, offset: 0, length: 1 * MiB });
    await destroyDomain(dom);
    const refs0 = { vda: path.join(dom.dir, 'ref0-vda.qcow2'), vdb: path.join(dom.dir, 'ref0-vdb.qcow2') };
    await referenceCopy(dom, 'vda', refs0.vda);
    await referenceCopy(dom, 'vdb', refs0.vdb);

    const first = expectDocument(await backupCli(args, { lockDir }));
    expect(first.results).toMatchObject([{ result: 'done', level: 'full', dataBytes: 9 * MiB }]);
    expect(await domainState(dom)).toBe('shut off');
    const cp0 = first.results[0]!.checkpoint!;
    expect(await checkpointNames(dom)).toEqual([cp0]);

    await startDomain(dom);
    await writeGuestData(dom, 'vda', { pattern: 0x52, offset: 40 * MiB, length: 3 * MiB });
    await writeGuestData(dom, 'vdb', { pattern: 0x56, offset: 16 * MiB, length: 1 * MiB });
    const refs1 = { vda: path.join(dom.dir, 'ref1-vda.qcow2'), vdb: path.join(dom.dir, 'ref1-vdb.qcow2') };
    await referenceCopy(dom, 'vda', refs1.vda);
    await referenceCopy(dom, 'vdb', refs1.vdb);
    const second = expectDocument(await backupCli(args, { lockDir }));
    const cp1 = cp0.replace(/\.0$/, '.1');
    expect(second.results).toMatchObject([{ result: 'done', level: 'inc', checkpoint: cp1, dataBytes: 4 * MiB }]);
    expect(await domainState(dom)).toBe('running');

    const chainDir = path.join(out, dom.name, first.results[0]!.chain!);
    for (const disk of ['vda', 'vdb'] as const) {
      await expectPoint(chainDir, disk, cp0, refs0[disk], undefined);
      await expectPoint(chainDir, disk, cp1, refs1[disk], cp0);
    }
  });

  it('rollover on a running VM: a new month starts a new chain with a new id; the old chain stays whole', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
    const out = path.join(dom.dir, 'out');
    const args = pushArgs(dom, out);
    const january = '2026-01-15T12:00:00Z';
    const february = '2026-02-15T12:00:00Z';

    await writeGuestData(dom, 'vda', { pattern: 0x61, offset: 0, length: 4 * MiB });
    const jan0 = expectDocument(await backupCli(args, { lockDir, now: january }));
    await writeGuestData(dom, 'vda', { pattern: 0x62, offset: 10 * MiB, length: 2 * MiB });
    const refJan = path.join(dom.dir, 'ref-jan.qcow2');
    await referenceCopy(dom, 'vda', refJan);
    const jan1 = expectDocument(await backupCli(args, { lockDir, now: january }));
    expect(jan1.results).toMatchObject([{ level: 'inc', chain: 'vmsnap-backup-monthly-2026-01' }]);

    await writeGuestData(dom, 'vda', { pattern: 0x63, offset: 20 * MiB, length: 2 * MiB });
    const feb = expectDocument(await backupCli(args, { lockDir, now: february }));
    expect(feb.results).toMatchObject([{ result: 'done', level: 'full', chain: 'vmsnap-backup-monthly-2026-02' }]);
    const febCp = feb.results[0]!.checkpoint!;
    expect(febCp).toMatch(/\.0$/);
    // A new chain id: two chains never share a checkpoint name.
    expect(febCp.split('.')[1]).not.toBe(jan0.results[0]!.checkpoint!.split('.')[1]);
    expect(await checkpointNames(dom)).toEqual([febCp]);
    expect(await qemuBitmapNames(dom)).toEqual([febCp]);

    await writeGuestData(dom, 'vda', { pattern: 0x64, offset: 30 * MiB, length: 1 * MiB });
    const refFeb = path.join(dom.dir, 'ref-feb.qcow2');
    await referenceCopy(dom, 'vda', refFeb);
    const feb2 = expectDocument(await backupCli(args, { lockDir, now: february }));
    expect(feb2.results).toMatchObject([{ result: 'done', level: 'inc', chain: 'vmsnap-backup-monthly-2026-02', dataBytes: 1 * MiB }]);
    expect(chainFolders(out, dom.name)).toEqual(['vmsnap-backup-monthly-2026-01', 'vmsnap-backup-monthly-2026-02']);

    await expectPoint(path.join(out, dom.name, 'vmsnap-backup-monthly-2026-01'), 'vda', jan1.results[0]!.checkpoint!, refJan, jan0.results[0]!.checkpoint);
    await expectPoint(path.join(out, dom.name, 'vmsnap-backup-monthly-2026-02'), 'vda', feb2.results[0]!.checkpoint!, refFeb, febCp);
  });

  it('engines side by side: a virtnbdbackup chain, then push starts its own chain, then virtnbdbackup again; every chain restores', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
    const out = path.join(dom.dir, 'out');
    const nbdArgs = ['--domains', dom.name, '--output', out, '--json'];
    await writeGuestData(dom, 'vda', { pattern: 0x71, offset: 0, length: 4 * MiB });
    const refA = path.join(dom.dir, 'refA.qcow2');
    await referenceCopy(dom, 'vda', refA);
    const a = expectDocument(await backupCli(nbdArgs, { lockDir }));
    expect(a.results).toMatchObject([{ result: 'done', level: 'full', checkpoint: 'virtnbdbackup.0' }]);

    await writeGuestData(dom, 'vda', { pattern: 0x72, offset: 8 * MiB, length: 2 * MiB });
    const refB = path.join(dom.dir, 'refB.qcow2');
    await referenceCopy(dom, 'vda', refB);
    const b = expectDocument(await backupCli(pushArgs(dom, out), { lockDir }));
    expect(b.results).toMatchObject([{ result: 'done', level: 'full' }]);
    expect(b.results[0]!.reasons!.join(' ')).toMatch(/other engine/);
    expect(b.results[0]!.chain).not.toBe(a.results[0]!.chain);
    expect(await checkpointNames(dom)).toEqual([b.results[0]!.checkpoint]);

    await writeGuestData(dom, 'vda', { pattern: 0x73, offset: 16 * MiB, length: 1 * MiB });
    const refC = path.join(dom.dir, 'refC.qcow2');
    await referenceCopy(dom, 'vda', refC);
    const c = expectDocument(await backupCli(nbdArgs, { lockDir }));
    expect(c.results).toMatchObject([{ result: 'done', level: 'full', checkpoint: 'virtnbdbackup.0' }]);
    expect(await checkpointNames(dom)).toEqual(['virtnbdbackup.0']);

    await expectPointRestores(path.join(out, dom.name, a.results[0]!.chain!), 'virtnbdbackup.0', refA, { scratchDir: dom.dir });
    await expectPoint(path.join(out, dom.name, b.results[0]!.chain!), 'vda', b.results[0]!.checkpoint!, refB, undefined);
    await expectPointRestores(path.join(out, dom.name, c.results[0]!.chain!), 'virtnbdbackup.0', refC, { scratchDir: dom.dir });
  });

  it('--domains good,missing: the good domain is backed up, exit 1', async () => {
    const good = await createTestDomain({ start: true });
    const out = path.join(good.dir, 'out');
    const missing = `vmkeep-test-missing-${Date.now()}`;
    const doc = expectDocument(await backupCli(['--domains', `${good.name},${missing}`, '--output', out, '--json', '--engine', 'push'], { lockDir }), 1);
    const byName = new Map(doc.results.map((r) => [r.domain, r]));
    expect(byName.get(good.name)).toMatchObject({ result: 'done', level: 'full' });
    expect(byName.get(missing)).toMatchObject({ result: 'failed', reason: 'unknown domain' });
  });
});

/** Wait until a file matching `re` appears in `dir` (polling every 2 ms); fails if the run ends first. */
async function waitForFile(dir: string, re: RegExp, run: RunningVmkeep, timeoutMs = 60_000): Promise<string> {
  let ended = false;
  void run.finished.then(() => (ended = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const hit = fs.existsSync(dir) ? fs.readdirSync(dir).find((f) => re.test(f)) : undefined;
    if (hit) return hit;
    if (ended) throw new Error(`vmkeep ended before ${re} appeared in ${dir}: ${(await run.finished).stderr}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`${re} did not appear in ${dir}`);
}

describe('vmkeep backup --engine push: interrupted runs', () => {
  it('kill -9 mid-full and mid-incremental, SIGTERM mid-incremental: the next runs repair and every point equals its reference', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 256 }], start: true });
    const out = path.join(dom.dir, 'out');
    const args = ['backup', ...pushArgs(dom, out)];
    const env = { VMKEEP_LOCK_DIR: lockDir };
    await writeGuestData(dom, 'vda', { pattern: 0x81, offset: 0, length: 32 * MiB });

    // kill -9 of the whole group as soon as libvirt has created the full's image.
    const killed = startVmkeep(args, { env });
    const domainDir = path.join(out, dom.name);
    while (!fs.existsSync(domainDir) || fs.readdirSync(domainDir).filter((f) => !f.startsWith('.')).length === 0) await new Promise((r) => setTimeout(r, 2));
    const chain = fs.readdirSync(domainDir).find((f) => !f.startsWith('.'))!;
    const chainDir = path.join(domainDir, chain);
    await waitForFile(chainDir, /^vda\.vmkeep\..*\.0\.qcow2$/, killed);
    killed.killGroup();
    await killed.finished;
    // It died mid-run: the manifest still says so.
    expect(readManifestJson(chainDir).running).toBeDefined();

    const ref0 = path.join(dom.dir, 'ref0.qcow2');
    await referenceCopy(dom, 'vda', ref0);
    const full = expectDocument(await backupCli(pushArgs(dom, out), { lockDir }));
    expect(full.results).toMatchObject([{ result: 'done', level: 'full', chain }]);
    expect(full.results[0]!.repairs!.join('\n')).toMatch(/ended without finishing/);
    const cp0 = full.results[0]!.checkpoint!;
    expect(await checkpointNames(dom)).toEqual([cp0]);
    // Only the recorded point's files are left.
    expect(fs.readdirSync(chainDir).filter((f) => f.endsWith('.qcow2'))).toEqual([`vda.${cp0}.qcow2`]);

    // kill -9 as soon as the incremental's overlay exists (before or just after the job began).
    await writeGuestData(dom, 'vda', { pattern: 0x82, offset: 64 * MiB, length: 8 * MiB });
    const killedInc = startVmkeep(args, { env });
    await waitForFile(chainDir, /\.1\.qcow2$/, killedInc);
    killedInc.killGroup();
    await killedInc.finished;
    expect(readManifestJson(chainDir).running).toBeDefined();

    // SIGTERM once libvirt has the incremental's checkpoint: exit 130, nothing of it left.
    await writeGuestData(dom, 'vda', { pattern: 0x83, offset: 100 * MiB, length: 4 * MiB });
    const termed = startVmkeep(args, { env });
    const cpNext = new RegExp(`^${cp0.replace(/\.0$/, '').replace(/\./g, '\\.')}\\.1$`);
    for (let i = 0; i < 2_000; i += 1) {
      const names = (await virsh(['checkpoint-list', dom.uuid, '--name'])).split('\n').map((l) => l.trim());
      if (names.some((n) => cpNext.test(n))) break;
    }
    termed.signal('SIGTERM');
    const termResult = await termed.finished;
    const termState = readManifestJson(chainDir);
    // Either it stopped cleanly (130) or the job had finished and was recorded (0): never half.
    if (termResult.code === 130) {
      expect(termState.running).toBeUndefined();
      expect(termState.points).toHaveLength(1);
      expect(termState.events.at(-1)!.kind).toBe('interrupted');
      expect(await checkpointNames(dom)).toEqual([cp0]);
      expect(fs.readdirSync(chainDir).filter((f) => f.endsWith('.qcow2'))).toEqual([`vda.${cp0}.qcow2`]);
    } else {
      expect(termResult.code, termResult.stderr).toBe(0);
      expect(termState.points).toHaveLength(2);
    }
    expect(await jobActive(dom)).toBe(false);

    await writeGuestData(dom, 'vda', { pattern: 0x84, offset: 120 * MiB, length: 1 * MiB });
    const ref1 = path.join(dom.dir, 'ref1.qcow2');
    await referenceCopy(dom, 'vda', ref1);
    const inc = expectDocument(await backupCli(pushArgs(dom, out), { lockDir }));
    expect(inc.results).toMatchObject([{ result: 'done', level: 'inc', chain }]);
    const points = readManifestJson(chainDir).points.map((p) => p.checkpoint);
    expect(await checkpointNames(dom)).toEqual(points);
    await expectPoint(chainDir, 'vda', cp0, ref0, undefined);
    await expectPoint(chainDir, 'vda', points.at(-1)!, ref1, points.at(-2));
  });
});
