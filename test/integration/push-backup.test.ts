/**
 * What only `vmkeep backup --engine push` does, against the real libvirtd: chains of both engines
 * side by side on one domain, a missing domain beside a good one, and runs interrupted by kill -9
 * and SIGTERM. The chain scenarios both engines share are in backup-chain.test.ts. Each push point
 * is read by QEMU through its backing chain and compared with a reference copy of the disk taken
 * at that moment (test/helpers/engines.ts). QEMU reads the disk at a set pace while a run to be
 * interrupted copies (withPacedDiskReads), so the interruption lands in its backup job.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MiB, backupCli, checkpointNames, expectDocument, jobActive, useLockDirAndCleanup, readManifestJson } from '../helpers/backup-run.js';
import { expectPointEquals } from '../helpers/engines.js';
import { createTestDomain, referenceCopy, virsh, withPacedDiskReads, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { expectPointRestores } from '../helpers/restore-point.js';
import { startVmkeep, type RunningVmkeep } from '../helpers/vmkeep-process.js';

const lockDir = useLockDirAndCleanup();

/** A push point equals its reference, read by QEMU through its chain (test/helpers/engines.ts). */
function expectPoint(chainDir: string, disk: string, checkpoint: string, reference: string, previous: string | undefined): Promise<void> {
  return expectPointEquals('push', { chainDir, disk, checkpoint, reference, previous, scratchDir: chainDir });
}

function pushArgs(dom: TestDomain, out: string): string[] {
  return ['--domains', dom.name, '--output', out, '--json', '--engine', 'push'];
}

describe('vmkeep backup --engine push: beside virtnbdbackup, several domains', () => {
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

/**
 * How fast QEMU may read the disk while a run to be interrupted copies: its 4 to 32 MiB take 4 s
 * or more. Without a limit, with KVM, QEMU copies them in tens of ms, and a loaded test process
 * could interrupt the run after it had recorded its point.
 */
const COPY_BYTES_PER_SEC = 1 * MiB;

describe('vmkeep backup --engine push: interrupted runs', () => {
  it('kill -9 mid-full and mid-incremental, SIGTERM mid-incremental: the next runs repair and every point equals its reference', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 256 }], start: true });
    const out = path.join(dom.dir, 'out');
    const args = ['backup', ...pushArgs(dom, out)];
    const env = { VMKEEP_LOCK_DIR: lockDir };
    await writeGuestData(dom, 'vda', { pattern: 0x81, offset: 0, length: 32 * MiB });

    // kill -9 of the whole group as soon as libvirt has created the full's image.
    const domainDir = path.join(out, dom.name);
    let chain = '';
    const killedFull = await withPacedDiskReads(dom, COPY_BYTES_PER_SEC, async () => {
      const killed = startVmkeep(args, { env });
      chain = await waitForFile(domainDir, /^[^.]/, killed);
      await waitForFile(path.join(domainDir, chain), /^vda\.vmkeep\..*\.0\.qcow2$/, killed);
      killed.killGroup();
      return killed.finished;
    });
    expect(killedFull.signal, killedFull.stderr).toBe('SIGKILL');
    const chainDir = path.join(domainDir, chain);
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
    const killedInc = await withPacedDiskReads(dom, COPY_BYTES_PER_SEC, async () => {
      const killed = startVmkeep(args, { env });
      await waitForFile(chainDir, /\.1\.qcow2$/, killed);
      killed.killGroup();
      return killed.finished;
    });
    expect(killedInc.signal, killedInc.stderr).toBe('SIGKILL');
    expect(readManifestJson(chainDir).running).toBeDefined();

    // SIGTERM once libvirt has the incremental's checkpoint, while its job copies: exit 130,
    // nothing of it left.
    await writeGuestData(dom, 'vda', { pattern: 0x83, offset: 100 * MiB, length: 4 * MiB });
    const cpNext = new RegExp(`^${cp0.replace(/\.0$/, '').replace(/\./g, '\\.')}\\.1$`);
    const termResult = await withPacedDiskReads(dom, COPY_BYTES_PER_SEC, async () => {
      const termed = startVmkeep(args, { env });
      let ended = false;
      void termed.finished.then(() => (ended = true));
      let seen = false;
      while (!seen && !ended) seen = (await virsh(['checkpoint-list', dom.uuid, '--name'])).split('\n').some((l) => cpNext.test(l.trim()));
      if (!seen) throw new Error(`the run ended before libvirt had its checkpoint: ${(await termed.finished).stderr}`);
      termed.signal('SIGTERM');
      return termed.finished;
    });
    expect(termResult.code, termResult.stderr).toBe(130);
    const termState = readManifestJson(chainDir);
    expect(termState.running).toBeUndefined();
    expect(termState.points).toHaveLength(1);
    expect(termState.events.at(-1)!.kind).toBe('interrupted');
    expect(await checkpointNames(dom)).toEqual([cp0]);
    expect(fs.readdirSync(chainDir).filter((f) => f.endsWith('.qcow2'))).toEqual([`vda.${cp0}.qcow2`]);
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
