/**
 * --stop / --stop-force / --require-stopped and labels, against the real libvirtd.
 *
 * Test domains have no OS: they sit in firmware and ignore an ACPI shutdown request. So the
 * graceful --stop path is tested for what it does then (times out, fails, leaves the domain
 * running), and the offline backup itself through --stop-force (power off after the timeout).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { MiB, backupCli, chainFolders, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { createTestDomain, domainState, imagesIdentical, referenceCopy, withPacedDiskReads, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { expectPointRestores } from '../helpers/restore-point.js';
import { startVmkeep, waitForPartial } from '../helpers/vmkeep-process.js';
import { startReceiver } from '../helpers/http-receiver.js';

const lockDir = useLockDirAndCleanup();

type StopResult = { domain: string; result: string; reason?: string; level?: string; chain?: string; stopped?: { how: string; restarted: boolean } };

function qemuPid(dom: TestDomain): string {
  return fs.readFileSync(`/run/libvirt/qemu/${dom.name}.pid`, 'utf8').trim();
}

/**
 * A `virsh` first on PATH that writes down what vmkeep asks the real one (its argv, and for a
 * session the command lines it sends), so a test can see which questions a run put to libvirt.
 */
function recordingVirsh(dir: string): { env: Record<string, string>; commands: () => string } {
  const bin = path.join(dir, 'recording-bin');
  const log = path.join(dir, 'virsh-commands.log');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, 'virsh'), '#!/bin/sh\nprintf "ARGV %s\\n" "$*" >> "$VIRSH_LOG"\ntee -a "$VIRSH_LOG" | /usr/bin/virsh "$@"\n', {
    mode: 0o755,
  });
  fs.writeFileSync(log, '');
  return {
    env: { PATH: `${bin}:${process.env['PATH'] ?? ''}`, VIRSH_LOG: log },
    commands: () => {
      const text = fs.readFileSync(log, 'utf8');
      fs.writeFileSync(log, '');
      return text;
    },
  };
}

describe('backup --stop', () => {
  let dom: TestDomain;
  beforeAll(async () => {
    dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 32 }], start: true });
  });

  it('--stop on a guest that ignores ACPI: fails after the timeout, the domain still runs, nothing is backed up', async () => {
    const out = path.join(dom.dir, 'graceful');
    const pid = qemuPid(dom);
    const doc = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--stop', '--stop-timeout', '2', '--json'], { lockDir }), 2);
    expect((doc.results[0] as StopResult).reason).toMatch(/did not shut down within 2 s .* use --stop-force/);
    expect(await domainState(dom)).toBe('running');
    expect(qemuPid(dom)).toBe(pid);
    expect(chainFolders(out, dom.name).every((f) => !fs.readdirSync(path.join(out, dom.name, f)).some((x) => x.endsWith('.data')))).toBe(true);
  });

  it('--stop-force: shut off, backed up offline without a live bitmap query, resumed; the points restore byte-identically', async () => {
    const out = path.join(dom.dir, 'forced');
    const recorder = recordingVirsh(dom.dir);
    // The recorder sees a live backup's bitmap query: its silence below is not blindness.
    const live = path.join(dom.dir, 'live');
    expectDocument(await backupCli(['--domains', dom.name, '--output', live, '--json'], { lockDir, extra: recorder.env }));
    expect(recorder.commands()).toMatch(/qemu-monitor-command/);

    await writeGuestData(dom, 'vda', { pattern: 0x5a, offset: 1 * MiB, length: 4 * MiB });
    const ref0 = path.join(dom.dir, 'ref0.qcow2');
    await referenceCopy(dom, 'vda', ref0);
    const pidBefore = qemuPid(dom);
    const doc = expectDocument(
      await backupCli(['--domains', dom.name, '--output', out, '--stop-force', '--stop-timeout', '1', '--json'], { lockDir, extra: recorder.env }),
    );
    const r = doc.results[0] as StopResult & { offline?: boolean };
    expect(r).toMatchObject({ result: 'done', level: 'full', offline: true, stopped: { how: 'forced', restarted: true } });
    expect(await domainState(dom)).toBe('running');
    // A new QEMU process: the domain was really shut off and started again.
    expect(qemuPid(dom)).not.toBe(pidBefore);
    // Offline: the plan came from the images; libvirt was asked to stop, start paused and resume
    // the domain, never for a running QEMU's bitmaps; and the guest booted once (no second start).
    const asked = recorder.commands();
    expect(asked).not.toMatch(/qemu-monitor-command/);
    // Session lines quote every word: 'start' 'UUID' '--paused'.
    expect(asked).toMatch(/'destroy'/);
    expect(asked).toMatch(/'start' [^\n]*'--paused'/);
    expect(asked).toMatch(/'resume'/);
    expect(asked.match(/'start'/g) ?? []).toHaveLength(1);
    const chainDir = path.join(out, dom.name, r.chain!);
    await expectPointRestores(chainDir, 'virtnbdbackup.0', ref0, { scratchDir: dom.dir });

    // An incremental the same way continues the chain.
    await writeGuestData(dom, 'vda', { pattern: 0x6b, offset: 8 * MiB, length: 2 * MiB });
    const ref1 = path.join(dom.dir, 'ref1.qcow2');
    await referenceCopy(dom, 'vda', ref1);
    const inc = expectDocument(
      await backupCli(['--domains', dom.name, '--output', out, '--stop-force', '--stop-timeout', '1', '--quiesce', '--json'], { lockDir, extra: recorder.env }),
    );
    // An offline point needs no freeze: --quiesce does not warn about it.
    expect(inc.results[0]).toMatchObject({ result: 'done', level: 'inc', chain: r.chain, offline: true, stopped: { how: 'forced', restarted: true } });
    expect(inc.results[0]!.notes ?? []).toEqual([]);
    // Planned from the images too; only the space estimate asks the paused QEMU how many bytes
    // the bitmap marks (qemu-img cannot count them), once the guest can no longer write.
    const [beforeStart, afterStart] = recorder.commands().split(/'start' [^\n]*'--paused'/);
    expect(afterStart).toBeDefined();
    expect(beforeStart).not.toMatch(/qemu-monitor-command/);
    expect(afterStart!.match(/qemu-monitor-command/g) ?? []).toHaveLength(1);
    expect(await domainState(dom)).toBe('running');
    await expectPointRestores(chainDir, 'virtnbdbackup.1', ref1, { scratchDir: dom.dir });
    expect(await imagesIdentical(ref0, ref1)).toBe(false);
    const list = parseJsonOutput<{ domains: Array<{ points: Array<{ offline: boolean; quiesced: boolean | null }> }> }>(
      await runVmkeep(['list', '--domains', dom.name, '--output', out, '--json']),
    );
    expect(list.domains[0]!.points.map((p) => [p.offline, p.quiesced])).toEqual([
      [true, null],
      [true, null],
    ]);
  });

  it('kill -9 during a --stop backup: the domain is left paused; the next run backs it up and resumes it', async () => {
    const big = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 128 }], start: true });
    const out = path.join(big.dir, 'killed');
    await writeGuestData(big, 'vda', { pattern: 0x3c, offset: 0, length: 64 * MiB });
    // The QEMU the run starts paused reads the disk at 4 MiB/s (set in the definition, which it
    // starts from), so the kill lands in the copy (about 16 s of it). With KVM the 64 MiB took
    // tens of ms: a loaded test process could kill the run after it had resumed the domain.
    const killed = await withPacedDiskReads(
      big,
      4 * MiB,
      async () => {
        const run = startVmkeep(['backup', '--domains', big.name, '--output', out, '--stop-force', '--stop-timeout', '1', '--json'], {
          env: { VMKEEP_LOCK_DIR: lockDir },
        });
        await waitForPartial(out, 256 * 1024, run);
        run.killGroup();
        return run.finished;
      },
      { persistent: true },
    );
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(await domainState(big)).toBe('paused');
    const ref = path.join(big.dir, 'ref.qcow2');
    await referenceCopy(big, 'vda', ref);
    const next = expectDocument(await backupCli(['--domains', big.name, '--output', out, '--json'], { lockDir }));
    const r = next.results[0]!;
    expect(r).toMatchObject({ result: 'done' });
    expect(r.reasons!.join('\n')).toMatch(/interrupted vmkeep --stop run shut it down for a backup: it is resumed afterwards/);
    expect(await domainState(big)).toBe('running');
    await expectPointRestores(path.join(out, big.name, r.chain!), r.checkpoint!, ref, { scratchDir: big.dir });
  });

  it('a backup that fails after the stop still starts the domain again', async () => {
    const out = path.join(dom.dir, 'broken');
    fs.mkdirSync(out);
    // The domain's folder is a file: reading its chains fails after the domain is shut off.
    fs.writeFileSync(path.join(out, dom.name), 'not a folder');
    const doc = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--stop-force', '--stop-timeout', '1', '--json'], { lockDir }), 2);
    expect(doc.results[0]).toMatchObject({ result: 'failed', stopped: { how: 'forced', restarted: true } });
    expect(await domainState(dom)).toBe('running');
  });

  it('--require-stopped counts a running domain as a failed item (it has no backup): exit 1, a partial notification, and what to do; a shut-off one is backed up', async () => {
    const off = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 16 }] });
    const out = path.join(dom.dir, 'required');
    const receiver = await startReceiver();
    try {
      const run = await backupCli(['--domains', `${dom.name},${off.name}`, '--output', out, '--require-stopped', '--notify', `${receiver.url}/n`, '--json'], {
        lockDir,
      });
      const doc = expectDocument(run, 1);
      const by = Object.fromEntries(doc.results.map((x) => [x.domain, x]));
      expect(by[dom.name]).toMatchObject({ result: 'failed' });
      expect(by[dom.name]!.reason).toBe(
        'not backed up: domain is running and --require-stopped backs up shut-off domains only; shut it down before the run, or use --stop to let vmkeep shut it down and start it again',
      );
      expect(by[off.name]).toMatchObject({ result: 'done', level: 'full' });
      expect(await domainState(off)).toBe('shut off');
      expect(await domainState(dom)).toBe('running');
      expect(receiver.requests).toHaveLength(1);
      expect(JSON.parse(receiver.requests[0]!.body)).toMatchObject({ outcome: 'partial', exitCode: 1 });
    } finally {
      await receiver.close();
    }
  });
});

describe('labels and names', () => {
  it('restore --at LABEL and --at NAME restore their points byte-identically; an ambiguous label is a usage error listing the candidates; a name is unique per domain', async () => {
    const dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 32 }], start: true });
    const out = path.join(dom.dir, 'out');
    const refs: string[] = [];
    for (const [i, label] of ['before-upgrade', 'nightly', 'nightly'].entries()) {
      await writeGuestData(dom, 'vda', { pattern: 0x30 + i, offset: i * 4 * MiB, length: 2 * MiB });
      refs.push(path.join(dom.dir, `ref${i}.qcow2`));
      await referenceCopy(dom, 'vda', refs[i]!);
      const extra = i === 0 ? ['--quiesce'] : i === 1 ? ['--name', 'release-1'] : [];
      const b = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--label', label, ...extra, '--json'], { lockDir }));
      // No guest agent in a test domain: virtnbdbackup's freeze fails, the point is recorded as not quiesced.
      expect(b.results[0]).toMatchObject({ result: 'done', quiesced: false });
      if (i === 0) expect(b.results[0]!.notes).toContain('not quiesced: the domain has no guest agent channel; the point is crash-consistent');
      else expect(b.results[0]!.notes ?? []).toEqual([]);
    }
    const list = parseJsonOutput<{ domains: Array<{ points: Array<{ label: string | null; quiesced: boolean | null }> }> }>(
      await runVmkeep(['list', '--domains', dom.name, '--output', out, '--json']),
    );
    expect(list.domains[0]!.points.map((p) => [p.label, p.quiesced, (p as { name?: string | null }).name])).toEqual([
      ['before-upgrade', false, null],
      ['nightly', false, 'release-1'],
      ['nightly', false, null],
    ]);
    const status = await runVmkeep(['status', '--domains', dom.name, '--output', out]);
    expect(status.stdout).toMatch(/last backup: .*label nightly, not quiesced \(crash-consistent\)/);

    const to = path.join(dom.dir, 'restored');
    const r = await runVmkeep(['restore', '--domain', dom.name, '--output', out, '--at', 'before-upgrade', '--to', to, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = parseJsonOutput<{ point: { id: string; label: string }; images: Array<{ path: string }> }>(r);
    expect(doc.point.id).toMatch(/\/virtnbdbackup\.0$/);
    expect(await imagesIdentical(doc.images[0]!.path, refs[0]!)).toBe(true);
    expect(await imagesIdentical(doc.images[0]!.path, refs[2]!)).toBe(false);

    const amb = await runVmkeep(['restore', '--domain', dom.name, '--output', out, '--at', 'nightly', '--to', path.join(dom.dir, 'never')]);
    expect(amb.code).toBe(64);
    expect(amb.stderr).toMatch(/label "nightly" is on 2 restore points of .*; name one: .*\/virtnbdbackup\.2 \(.*\), .*\/virtnbdbackup\.1 \(/);
    expect(fs.existsSync(path.join(dom.dir, 'never'))).toBe(false);

    // backup --name: unique per domain; restore --at NAME finds the point.
    const again = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--name', 'release-1', '--json'], { lockDir }), 2);
    expect(again.results[0]!.reason).toMatch(/restore point name "release-1" is already used by .*\/virtnbdbackup\.1 of /);
    const toNamed = path.join(dom.dir, 'restored-named');
    const n = await runVmkeep(['restore', '--domain', dom.name, '--output', out, '--at', 'release-1', '--to', toNamed, '--json']);
    expect(n.code, n.stderr).toBe(0);
    const named = parseJsonOutput<{ point: { id: string }; images: Array<{ path: string }> }>(n);
    expect(named.point.id).toMatch(/\/virtnbdbackup\.1$/);
    expect(await imagesIdentical(named.images[0]!.path, refs[1]!)).toBe(true);

    const p = await runVmkeep(['protect', 'before-upgrade', '--domain', dom.name, '--output', out, '--json']);
    expect(p.code, p.stderr).toBe(0);
    expect(parseJsonOutput<{ target: string }>(p).target).toMatch(/\/virtnbdbackup\.0$/);
    const pAmb = await runVmkeep(['protect', 'nightly', '--domain', dom.name, '--output', out]);
    expect(pAmb.code).toBe(64);
    expect(pAmb.stderr).toMatch(/label "nightly" is on 2 restore points/);
  });
});
