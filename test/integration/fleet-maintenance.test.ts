/**
 * verify, prune and check on a several-host root, through the built CLI: two "hosts" (`a`, the
 * local qemu:///system, and `b`, qemu+ssh to a private sshd on 127.0.0.1) backed up by one run
 * into ROOT/<host>/<domain>/, two chains each (an older period, then now). Each command walks the
 * host folders; a verify pointed at ROOT as if it were one host's folder does not pass. Then a
 * prune stopped between renaming a chain folder and deleting it (in-process fault point): status
 * shows the bytes the leftover holds, verify names it, and the next prune finishes the removal.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, chainFolders, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { startTestSshd, type TestSshd } from '../helpers/sshd.js';
import { main } from '../../src/cli/main.js';

let sshd: TestSshd;
let lockDir: string;
let d1: TestDomain;
let d2: TestDomain;
let root: string;
let hosts: string[];
const older = '2026-10-01T03:00:00Z';

const env = () => ({ VMKEEP_LOCK_DIR: lockDir });

/** One backup run over both hosts: d1 on host a, d2 on host b. */
async function backupBoth(now?: string): Promise<void> {
  await writeGuestData(d1, 'vda', { pattern: 0x61, offset: 0, length: 1 * MiB });
  await writeGuestData(d2, 'vda', { pattern: 0x62, offset: 0, length: 1 * MiB });
  const doc = expectDocument(
    await backupCli([...hosts, '--domains', `a/${d1.name},b/${d2.name}`, '--output', root, '--json'], { lockDir, ...(now ? { now } : {}) }),
  );
  expect(doc.results.map((r) => [r.domain, r.result])).toEqual([
    [`a/${d1.name}`, 'done'],
    [`b/${d2.name}`, 'done'],
  ]);
}

beforeAll(async () => {
  sshd = await startTestSshd();
  lockDir = makeLockDir();
  d1 = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 32 }], start: true });
  d2 = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 32 }], start: true });
  hosts = ['--connect', 'a=qemu:///system', '--connect', `b=${sshd.libvirtUri}`];
  root = path.join(d1.dir, 'fleet-root');
  // An older period first, then now: two chains per domain, one per host folder.
  await backupBoth(older);
  await backupBoth();
  expect(chainFolders(path.join(root, 'a'), d1.name)).toHaveLength(2);
  expect(chainFolders(path.join(root, 'b'), d2.name)).toHaveLength(2);
  // Four backups, two of them over ssh, on a shared machine.
}, 900_000);

afterAll(async () => {
  await cleanupAll();
  await sshd?.stop();
  if (lockDir) fs.rmSync(lockDir, { recursive: true, force: true });
});

interface VerifyHostDoc {
  host: string;
  outcome?: string;
  error?: string;
  result?: { output: string; chains: Array<{ domain: string; chain: string; result: string }> };
}

describe('several hosts: verify, prune and check walk OUTPUT/<host>', () => {
  it('verify checks every chain in each host folder; pointed at the root as one folder, it does not pass', async () => {
    const v = await runVmkeep(['verify', ...hosts, '--output', root, '--json'], { env: env() });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const doc = parseJsonOutput<{ hosts: VerifyHostDoc[] }>(v);
    const seen = doc.hosts.map((h) => [h.host, h.result?.output, h.result?.chains.map((c) => [c.domain, c.result])]);
    expect(seen).toEqual([
      [
        'a',
        path.join(root, 'a'),
        [
          [d1.name, 'ok'],
          [d1.name, 'ok'],
        ],
      ],
      [
        'b',
        path.join(root, 'b'),
        [
          [d2.name, 'ok'],
          [d2.name, 'ok'],
        ],
      ],
    ]);
    // host/domain selects on one host only.
    const only = parseJsonOutput<{ hosts: VerifyHostDoc[] }>(
      await runVmkeep(['verify', ...hosts, '--output', root, '--domains', `b/${d2.name}`, '--json'], { env: env() }),
    );
    expect(only.hosts.map((h) => h.host)).toEqual(['b']);

    // Without --connect, ROOT read as one host's folder finds no chain: that is no pass.
    const blind = await runVmkeep(['verify', '--output', root], { env: env() });
    expect(blind.code, blind.stdout).not.toBe(0);
    expect(blind.stdout).toContain(`holds the backups of several hosts (a, b)`);
  });

  it("check judges each host's domains against its own folder; --domains a/NAME selects on host a", async () => {
    const thresholds = ['--warning', '26h', '--critical', '50h'];
    const both = await runVmkeep(['check', ...hosts, '--output', root, '--domains', `a/${d1.name},b/${d2.name}`, ...thresholds, '--json'], { env: env() });
    const doc = parseJsonOutput<{ status: string; line: string; domains: Array<{ domain: string; state: number }> }>(both);
    expect(both.code, both.stdout).toBe(0);
    expect(doc.status).toBe('OK');
    expect(doc.domains.map((d) => [d.domain, d.state])).toEqual([
      [`a/${d1.name}`, 0],
      [`b/${d2.name}`, 0],
    ]);
    expect(doc.line).toMatch(/^VMKEEP OK - 2 domains, newest backup/);
    const one = await runVmkeep(['check', ...hosts, '--output', root, '--domains', `a/${d1.name}`, ...thresholds], { env: env() });
    expect(one.code, one.stdout).toBe(0);
    expect(one.stdout).toMatch(/^VMKEEP OK - 1 domain,/);
    // d1 without a host: judged on both hosts, and host b has no backup of it.
    const anyHost = await runVmkeep(['check', ...hosts, '--output', root, '--domains', d1.name, ...thresholds], { env: env() });
    expect(anyHost.code).toBe(2);
    expect(anyHost.stdout).toContain(`b/${d1.name}: no backup at all`);
    expect(anyHost.stdout).not.toContain(`a/${d1.name}: no backup`);
  });

  it('prune plans and removes per host folder, each host keeping its newest chain', async () => {
    const before = { a: chainFolders(path.join(root, 'a'), d1.name), b: chainFolders(path.join(root, 'b'), d2.name) };
    const dry = await runVmkeep(['prune', ...hosts, '--output', root, '--domains', `a/${d1.name},b/${d2.name}`, '--keep-last', '1', '--dry-run', '--json'], {
      env: env(),
    });
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    type PruneHost = {
      host: string;
      result?: { plan: { domains: Array<{ domain: string; keep: Array<{ id: string }>; remove: Array<{ id: string }> }> }; removed?: string[] };
    };
    const plans = parseJsonOutput<{ hosts: PruneHost[] }>(dry).hosts.map((h) => [
      h.host,
      h.result!.plan.domains.map((d) => [d.domain, d.keep.map((k) => k.id), d.remove.map((r) => r.id)]),
    ]);
    expect(plans).toEqual([
      ['a', [[d1.name, [before.a[1]], [before.a[0]]]]],
      ['b', [[d2.name, [before.b[1]], [before.b[0]]]]],
    ]);
    const run = await runVmkeep(['prune', ...hosts, '--output', root, '--domains', `a/${d1.name},b/${d2.name}`, '--keep-last', '1', '--json'], { env: env() });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(parseJsonOutput<{ hosts: PruneHost[] }>(run).hosts.map((h) => [h.host, h.result!.removed])).toEqual([
      ['a', [`${d1.name}/${before.a[0]}`]],
      ['b', [`${d2.name}/${before.b[0]}`]],
    ]);
    expect(chainFolders(path.join(root, 'a'), d1.name)).toEqual([before.a[1]]);
    expect(chainFolders(path.join(root, 'b'), d2.name)).toEqual([before.b[1]]);
  });
});

describe('a prune stopped between renaming a chain folder and deleting it', () => {
  it('status shows the bytes the leftover holds, verify names it, and the next prune finishes the removal', async () => {
    // One host's folder, two chains again: an older period, then now.
    const out = path.join(d2.dir, 'single-out');
    for (const now of [older, undefined]) {
      await writeGuestData(d1, 'vda', { pattern: 0x71, offset: 2 * MiB, length: 1 * MiB });
      const doc = expectDocument(await backupCli(['--domains', d1.name, '--output', out, '--json'], { lockDir, ...(now ? { now } : {}) }));
      expect(doc.results[0]!.result).toBe('done');
    }
    const [oldChain, newChain] = chainFolders(out, d1.name);
    const domainFolder = path.join(out, d1.name);
    const bytesUnder = (p: string): number =>
      fs.statSync(p).isDirectory() ? fs.readdirSync(p).reduce((n, f) => n + bytesUnder(path.join(p, f)), 0) : fs.statSync(p).size;
    const oldBytes = bytesUnder(path.join(domainFolder, oldChain!));

    const err: string[] = [];
    const code = await main(['prune', '--output', out, '--domains', d1.name, '--keep-last', '1', '--json'], {
      stdout: () => undefined,
      stderr: (t) => err.push(t),
      env: { ...process.env, VMKEEP_LOCK_DIR: lockDir },
      interactive: false,
      faults: {
        after(s) {
          if (s === 'prune-renamed') throw new Error('fault injected by the test at prune-renamed');
        },
      },
    });
    expect(code, err.join('')).not.toBe(0);
    const leftovers = () => fs.readdirSync(domainFolder).filter((f) => f.startsWith('.vmkeep-removing-'));
    expect(leftovers()).toEqual([expect.stringMatching(new RegExp(`^\\.vmkeep-removing-${oldChain}-\\d+$`))]);
    expect(chainFolders(out, d1.name)).toEqual([newChain]);

    // status counts the bytes still held, and says the next prune removes them.
    const st = await runVmkeep(['status', '--output', out, '--domains', d1.name, '--json'], { env: env() });
    expect(st.code, st.stderr).toBe(0);
    const backups = parseJsonOutput<Record<string, { backups: { pendingRemoval: Array<{ folder: string; bytes: number }> } }>>(st)[d1.name]!.backups;
    expect(backups.pendingRemoval).toEqual([{ folder: leftovers()[0], bytes: oldBytes }]);
    expect(oldBytes).toBeGreaterThan(1 * MiB);
    const stText = await runVmkeep(['status', '--output', out, '--domains', d1.name], { env: env() });
    expect(stText.stdout).toContain(`${leftovers()[0]}: `);
    expect(stText.stdout).toContain('left by an interrupted prune');
    // verify names it (not a chain, not verified) and still checks the real chain.
    const v = await runVmkeep(['verify', '--output', out, '--domains', d1.name, '--json'], { env: env() });
    expect(v.code, v.stdout).toBe(0);
    const vdoc = parseJsonOutput<{ chains: Array<{ chain: string }>; pendingRemoval: Array<{ folder: string }> }>(v);
    expect(vdoc.chains.map((c) => c.chain)).toEqual([newChain]);
    expect(vdoc.pendingRemoval.map((r) => r.folder)).toEqual(leftovers());

    // The next prune finishes the removal, says so, and keeps the newest chain.
    const dry = await runVmkeep(['prune', '--output', out, '--domains', d1.name, '--keep-last', '1', '--dry-run'], { env: env() });
    expect(dry.stdout).toContain(`would finish removing ${d1.name}/${leftovers()[0]}`);
    expect(leftovers()).toHaveLength(1);
    const name = leftovers()[0]!;
    const again = await runVmkeep(['prune', '--output', out, '--domains', d1.name, '--keep-last', '1', '--json'], { env: env() });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(parseJsonOutput<{ repaired: string[] }>(again).repaired).toEqual([
      expect.stringMatching(new RegExp(`^${d1.name}: finished removing ${name.replace(/[.]/g, '\\.')} \\(.+\\), left by an interrupted prune$`)),
    ]);
    expect(leftovers()).toEqual([]);
    expect(chainFolders(out, d1.name)).toEqual([newChain]);
    const after = parseJsonOutput<Record<string, { backups: { pendingRemoval: unknown[] } }>>(
      await runVmkeep(['status', '--output', out, '--domains', d1.name, '--json'], { env: env() }),
    );
    expect(after[d1.name]!.backups.pendingRemoval).toEqual([]);
  }, 900_000);
});
