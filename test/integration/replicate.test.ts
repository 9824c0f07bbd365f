/**
 * `vmkeep replicate`, `restore --from` and `verify --from` through the built CLI against real
 * restic repositories: a local one, an sftp one on a private sshd on 127.0.0.1, and a REST one
 * served by `rclone serve restic` on 127.0.0.1. The chain is made by `vmkeep backup` on a real
 * domain with data written between the runs; every point restored from each repository is
 * compared byte for byte with a reference copy taken at that point. A replicate run says where
 * its time went (--json, --verbose) and writes the folder's report after it (--report-html).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, makeLockDir, readManifestJson } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, imagesIdentical, referenceCopy, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { startRcloneRestic, type TestRestServer } from '../helpers/rclone.js';
import { startTestSshd, type TestSshd } from '../helpers/sshd.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

let sshd: TestSshd;
let rest: TestRestServer;
let lockDir: string;
let work: string;
let dom: TestDomain;
let out: string;
let pwFile: string;
let password: string;
const refs: string[] = [];
let ids: string[] = [];

interface Repo {
  kind: string;
  url: string;
  options: string[];
}
const repos: Repo[] = [];

function repoArgs(r: Repo): string[] {
  return ['--password-file', pwFile, ...r.options.flatMap((o) => ['--restic-option', o])];
}

async function backupPoint(pattern: number, offset: number): Promise<void> {
  await writeGuestData(dom, 'vda', { pattern, offset, length: 2 * MiB });
  const ref = path.join(work, `ref${refs.length}.qcow2`);
  await referenceCopy(dom, 'vda', ref);
  refs.push(ref);
  const doc = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir }));
  expect(doc.results[0]!.result).toBe('done');
}

interface ReplicateDoc {
  repository: string;
  sent: Array<{ id: string; domain: string; snapshot: string; bytesAdded: number }>;
  present: Array<{ id: string }>;
  skipped: Array<{ reason: string }>;
}

function replicate(r: Repo, extra: string[] = []) {
  return runVmkeep(['replicate', '--output', out, '--to', r.url, '--init', ...repoArgs(r), '--json', ...extra], { env: { VMKEEP_LOCK_DIR: lockDir } });
}

beforeAll(async () => {
  work = fs.mkdtempSync('/var/tmp/vmkeep-test-replicate-');
  lockDir = makeLockDir();
  sshd = await startTestSshd();
  rest = await startRcloneRestic();
  password = randomBytes(24).toString('hex');
  pwFile = path.join(work, 'restic-password');
  fs.writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  repos.push({ kind: 'local', url: path.join(work, 'repo-local'), options: [] });
  repos.push({ kind: 'sftp', url: `sftp:root@127.0.0.1:${path.join(sshd.dir, 'repo-sftp')}`, options: [`sftp.command=${sshd.sftpCommand}`] });
  repos.push({ kind: 'rest', url: rest.url, options: [] });
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }], start: true });
  out = path.join(work, 'backups');
  await backupPoint(0x51, 0);
  await backupPoint(0x52, 6 * MiB);
  await backupPoint(0x53, 12 * MiB);
  const list = parseJsonOutput<{ domains: Array<{ points: Array<{ id: string }> }> }>(
    await runVmkeep(['list', '--output', out, '--domains', dom.name, '--json']),
  );
  ids = list.domains[0]!.points.map((p) => p.id);
  expect(ids).toHaveLength(3);
});

afterAll(async () => {
  await cleanupAll();
  await rest?.stop();
  await sshd?.stop();
  if (lockDir) fs.rmSync(lockDir, { recursive: true, force: true });
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('replicate to restic', () => {
  it('local, sftp and REST: one snapshot per point, recorded in the manifest; a second run sends nothing; every point restores byte-identically', async () => {
    for (const r of repos) {
      const first = await replicate(r);
      expect(first.code, `${r.kind}: ${first.stderr}`).toBe(0);
      const doc = parseJsonOutput<ReplicateDoc>(first);
      expect(
        doc.sent.map((s) => s.id),
        r.kind,
      ).toEqual(ids);
      expect(doc.present).toEqual([]);
      // The manifest says where each point went.
      const chainDir = path.join(out, dom.name, ids[0]!.split('/')[0]!);
      const manifest = readManifestJson(chainDir) as unknown as {
        points: Array<{ checkpoint: string; replicas?: Array<{ repository: string; snapshot: string }> }>;
      };
      for (const [i, p] of manifest.points.entries()) {
        expect(p.replicas?.find((x) => x.repository === doc.repository)?.snapshot, `${r.kind} ${p.checkpoint}`).toBe(doc.sent[i]!.snapshot);
      }

      const again = await replicate(r);
      expect(again.code, again.stderr).toBe(0);
      const doc2 = parseJsonOutput<ReplicateDoc>(again);
      expect(doc2.sent, `${r.kind}: second run`).toEqual([]);
      expect(doc2.present.map((p) => p.id)).toEqual(ids);

      for (const [i, id] of ids.entries()) {
        const to = path.join(work, `from-${r.kind}-${i}`);
        const res = await runVmkeep(['restore', '--from', r.url, ...repoArgs(r), '--domain', dom.name, '--at', id, '--to', to, '--json']);
        expect(res.code, `${r.kind} ${id}: ${res.stderr}`).toBe(0);
        const rd = parseJsonOutput<{ images: Array<{ path: string }>; from: { snapshot: string } }>(res);
        expect(rd.from.snapshot.startsWith(doc.sent[i]!.snapshot)).toBe(true);
        expect(await imagesIdentical(rd.images[0]!.path, refs[i]!), `${r.kind} ${id}`).toBe(true);
        if (i > 0) expect(await imagesIdentical(rd.images[0]!.path, refs[i - 1]!)).toBe(false);
        fs.rmSync(to, { recursive: true, force: true });
      }
    }
    // list and status show where each point went.
    const listed = parseJsonOutput<{ domains: Array<{ points: Array<{ id: string; replicatedTo: string[] }> }> }>(
      await runVmkeep(['list', '--output', out, '--domains', dom.name, '--json']),
    );
    for (const p of listed.domains[0]!.points) expect(p.replicatedTo, p.id).toHaveLength(3);
    const promDir = path.join(work, 'textfile');
    fs.mkdirSync(promDir);
    const st = await runVmkeep(['status', '--output', out, '--domains', dom.name, '--json', '--textfile', promDir]);
    expect(st.code, st.stderr).toBe(0);
    const rep =
      parseJsonOutput<Record<string, { backups: { replication: Array<{ pointsReplicated: number; pointsNotReplicated: number; lagSeconds: number }> } }>>(st)[
        dom.name
      ]!.backups.replication;
    expect(rep).toHaveLength(3);
    for (const x of rep) expect(x).toMatchObject({ pointsReplicated: 3, pointsNotReplicated: 0, lagSeconds: 0 });
    // The metrics textfile carries the same: one lag series per repository, all up to date.
    const prom = fs.readFileSync(path.join(promDir, 'vmkeep.prom'), 'utf8');
    const lags = prom.split('\n').filter((l) => l.startsWith('vmkeep_replication_lag_seconds{') && l.includes(`domain="${dom.name}"`));
    expect(lags).toHaveLength(3);
    for (const l of lags) expect(l.endsWith(' 0')).toBe(true);
    // A clean repository verifies, restic reading all of its data back.
    const v = await runVmkeep(['verify', '--from', repos[0]!.url, ...repoArgs(repos[0]!), '--read-data-subset', '100%', '--json', '--verbose']);
    expect(v.code, v.stderr).toBe(0);
    const vdoc = parseJsonOutput<{ ok: boolean; sample: Array<{ ok: boolean }>; repository: string; phases: Array<{ name: string; ms: number }> }>(v);
    expect(vdoc).toMatchObject({ ok: true, sample: [{ ok: true }] });
    // Where its time went: the snapshot list, restic's check and the sample's file checks, the sample's restore.
    expect(vdoc.phases.map((p) => p.name)).toEqual(['read', 'check', 'restore']);
    for (const p of vdoc.phases) expect(Number.isInteger(p.ms) && p.ms > 0, `${p.name}: ${p.ms}`).toBe(true);
    expect(v.stderr).toMatch(new RegExp(`^debug: verify ${escapeRegExp(vdoc.repository)}: time went to .*checking files \\d`, 'm'));
  });

  it('the password is in no process argv while restic runs (/proc/*/cmdline read throughout)', async () => {
    await backupPoint(0x54, 20 * MiB);
    let sawRestic = 0;
    const leaks: string[] = [];
    let running = true;
    const watcher = (async () => {
      while (running) {
        for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
          let cmd: string;
          try {
            cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          } catch {
            continue;
          }
          if (cmd.split('\0')[0]?.endsWith('restic')) sawRestic += 1;
          if (cmd.includes(password)) leaks.push(cmd.replaceAll('\0', ' '));
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const r = await replicate(repos[0]!);
    running = false;
    await watcher;
    expect(r.code, r.stderr).toBe(0);
    expect(parseJsonOutput<ReplicateDoc>(r).sent).toHaveLength(1);
    // The check could see restic: it is not vacuous.
    expect(sawRestic).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
    ids = parseJsonOutput<{ domains: Array<{ points: Array<{ id: string }> }> }>(
      await runVmkeep(['list', '--output', out, '--domains', dom.name, '--json']),
    ).domains[0]!.points.map((p) => p.id);
  });

  it('--prune on the REST repository: the older chain is forgotten whole, the new one stays and restores, and is not sent again', async () => {
    const later = '2027-01-05T03:00:00Z';
    // A new period: the next backup starts a new chain (a full).
    await writeGuestData(dom, 'vda', { pattern: 0x55, offset: 30 * MiB, length: 2 * MiB });
    const ref = path.join(work, 'ref-next-chain.qcow2');
    await referenceCopy(dom, 'vda', ref);
    const b = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir, now: later }));
    expect(b.results[0]).toMatchObject({ result: 'done', level: 'full' });
    const oldChain = ids[0]!.split('/')[0]!;
    const r = repos[2]!;
    const dry = await runVmkeep(['replicate', '--output', out, '--to', r.url, ...repoArgs(r), '--prune', '--keep-last', '1', '--dry-run', '--json'], {
      env: { VMKEEP_LOCK_DIR: lockDir, VMKEEP_NOW: later },
    });
    expect(dry.code, dry.stderr).toBe(0);
    const run = await runVmkeep(['replicate', '--output', out, '--to', r.url, ...repoArgs(r), '--prune', '--keep-last', '1', '--json'], {
      env: { VMKEEP_LOCK_DIR: lockDir, VMKEEP_NOW: later },
    });
    expect(run.code, run.stderr).toBe(0);
    const doc = parseJsonOutput<ReplicateDoc & { prune: { removed: Array<{ domain: string; chain: string; snapshots: string[] }> } }>(run);
    // The 4th point of the old chain went to the REST repository now too; then the whole old chain went.
    expect(doc.sent.map((s) => s.id)).toEqual([ids[3], `${b.results[0]!.chain}/virtnbdbackup.0`]);
    expect(doc.prune.removed).toEqual([{ domain: expect.stringMatching(new RegExp(`/${dom.name}$`)), chain: oldChain, snapshots: expect.any(Array) }]);
    expect(doc.prune.removed[0]!.snapshots).toHaveLength(4);
    // What remains restores; the pruned chain is not sent again.
    const again = parseJsonOutput<ReplicateDoc>(
      await runVmkeep(['replicate', '--output', out, '--to', r.url, ...repoArgs(r), '--json'], { env: { VMKEEP_LOCK_DIR: lockDir, VMKEEP_NOW: later } }),
    );
    expect(again.sent).toEqual([]);
    expect(again.present.map((p) => p.id)).toEqual([`${b.results[0]!.chain}/virtnbdbackup.0`]);
    expect(again.skipped.filter((s) => s.reason.includes('pruned there'))).toHaveLength(4);
    // The marks follow the repository: the forgotten chain no longer counts as copied to REST...
    const newId = `${b.results[0]!.chain}/virtnbdbackup.0`;
    const restRepo = doc.repository;
    const listed = parseJsonOutput<{ domains: Array<{ points: Array<{ id: string; replicatedTo: string[] }> }> }>(
      await runVmkeep(['list', '--output', out, '--domains', dom.name, '--json']),
    ).domains[0]!.points;
    for (const p of listed) expect(p.replicatedTo.includes(restRepo), p.id).toBe(p.id === newId);
    expect(listed.find((p) => p.id === ids[0])!.replicatedTo).toHaveLength(2);
    // ...and status counts it as forgotten there, not as replicated.
    const st = await runVmkeep(['status', '--output', out, '--domains', dom.name, '--json']);
    const rep =
      parseJsonOutput<
        Record<string, { backups: { replication: Array<{ repository: string; pointsReplicated: number; pointsForgotten: number; lagSeconds: number }> } }>
      >(st)[dom.name]!.backups.replication;
    expect(rep.find((x) => x.repository === restRepo)).toMatchObject({ pointsReplicated: 1, pointsForgotten: 4, lagSeconds: 0 });
    const stText = await runVmkeep(['status', '--output', out, '--domains', dom.name]);
    expect(stText.stdout).toMatch(new RegExp(`replicated to ${restRepo.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: 1 points, .*up to date, 4 forgotten there`));
    // The summary counts those as the 4 points of one chain they are, not as chains.
    const dryText = await runVmkeep(['replicate', '--output', out, '--to', r.url, ...repoArgs(r), '--dry-run'], {
      env: { VMKEEP_LOCK_DIR: lockDir, VMKEEP_NOW: later },
    });
    expect(dryText.code, dryText.stderr).toBe(0);
    expect.soft(dryText.stdout).toContain('1 already there, 4 points skipped');
    expect.soft(dryText.stdout).not.toMatch(/chains? skipped/);
    const to = path.join(work, 'from-rest-after-prune');
    const res = await runVmkeep(['restore', '--from', r.url, ...repoArgs(r), '--domain', dom.name, '--to', to, '--json', '--verbose']);
    expect(res.code, res.stderr).toBe(0);
    const rdoc = parseJsonOutput<{ images: Array<{ path: string }>; phases: Array<{ name: string; ms: number }> }>(res);
    expect(await imagesIdentical(rdoc.images[0]!.path, ref)).toBe(true);
    // Where its time went: the snapshot list, restic's restore into scratch with the local restore from there, its lock.
    expect(rdoc.phases.map((p) => p.name)).toEqual(['read', 'restore', 'lock']);
    for (const p of rdoc.phases) expect(Number.isInteger(p.ms) && p.ms >= 0, `${p.name}: ${p.ms}`).toBe(true);
    expect(rdoc.phases[1]!.ms).toBeGreaterThan(0);
    expect(res.stderr).toMatch(new RegExp(`^debug: [^ ]+/${dom.name}: restore from ${escapeRegExp(restRepo)}: time went to .*restoring \\d`, 'm'));
    const gone = await runVmkeep(['restore', '--from', r.url, ...repoArgs(r), '--domain', dom.name, '--at', ids[0]!, '--to', path.join(work, 'never')]);
    expect(gone.code).toBe(64);
  });

  it('a snapshot forgotten by hand: verify --from --output finds the stale mark, corrects it and says so; list and status follow', async () => {
    const r = repos[0]!;
    const manifest = readManifestJson(path.join(out, dom.name, ids[0]!.split('/')[0]!)) as unknown as {
      points: Array<{ checkpoint: string; replicas?: Array<{ repository: string; snapshot: string }> }>;
    };
    const repository = r.url;
    const snapshot = manifest.points[0]!.replicas!.find((x) => x.repository === repository)!.snapshot;
    // The runner throws on a non-zero exit: the forget really happened past this line.
    await runner.run('restic', ['-r', r.url, '--password-file', pwFile, 'forget', snapshot]);
    const replicatedTo = async () =>
      parseJsonOutput<{ domains: Array<{ points: Array<{ id: string; replicatedTo: string[] }> }> }>(
        await runVmkeep(['list', '--output', out, '--domains', dom.name, '--json']),
      ).domains[0]!.points.find((p) => p.id === ids[0])!.replicatedTo;
    expect(await replicatedTo()).toContain(repository);

    const v = await runVmkeep(['verify', '--from', r.url, ...repoArgs(r), '--output', out, '--no-sample', '--json'], { env: { VMKEEP_LOCK_DIR: lockDir } });
    expect(v.code, v.stderr).toBe(0);
    const vdoc = parseJsonOutput<{
      ok: boolean;
      marksCorrected: Array<{ domain: string; id: string; snapshot: string; change: string }>;
      phases: Array<{ name: string; ms: number }>;
    }>(v);
    expect(vdoc.marksCorrected).toEqual([{ host: expect.any(String), domain: dom.name, id: ids[0], snapshot, change: 'forgotten' }]);
    // No sample restored; the marks corrected under the folder's lock are its manifest phase.
    expect(vdoc.phases.map((p) => p.name)).toEqual(['read', 'check', 'manifest']);
    expect(await replicatedTo()).not.toContain(repository);
    const restore = await runVmkeep([
      'restore',
      '--from',
      r.url,
      ...repoArgs(r),
      '--domain',
      dom.name,
      '--at',
      ids[0]!,
      '--to',
      path.join(work, 'never-local'),
    ]);
    expect(restore.code).toBe(64);
    // Said in the text too; a second run finds nothing left to correct.
    const again = await runVmkeep(['verify', '--from', r.url, ...repoArgs(r), '--output', out, '--no-sample'], { env: { VMKEEP_LOCK_DIR: lockDir } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('agree with the repository');
    expect(again.stdout).not.toContain('replica marks corrected');
    // replicate does not send the forgotten point again (that would undo the forget).
    // (Only the forgotten point is checked: the new chain's full was never sent to this repository.)
    const rep = parseJsonOutput<ReplicateDoc>(await replicate(r, ['--dry-run']));
    expect((rep as unknown as { toSend: Array<{ id: string }> }).toSend.map((s) => s.id)).not.toContain(ids[0]);
  });

  it('--tag and --exclude pick the domains replicated (tags from libvirt; a left-out domain says why)', async () => {
    type Picked = {
      present: Array<{ domain: string }>;
      toSend: Array<{ domain: string }>;
      notFound: string[];
      filteredOut?: Array<{ domain: string; why: string }>;
    };
    const picked = async (extra: string[], code = 0) => {
      const r = await replicate(repos[0]!, ['--dry-run', '--domains', dom.name, ...extra]);
      expect(r.code, r.stderr).toBe(code);
      const doc = parseJsonOutput<Picked>(r);
      return { domains: [...new Set([...doc.present, ...doc.toSend].map((p) => p.domain))], notFound: doc.notFound, filteredOut: doc.filteredOut ?? [] };
    };
    expect((await picked([])).domains).toEqual([dom.name]);
    // A filter that leaves nothing is reported as one that matched nothing (exit 1): a typo must not pass in silence.
    const excluded = await picked(['--exclude', 'vmkeep-test-*'], 1);
    expect(excluded.domains).toEqual([]);
    expect(excluded.notFound).toEqual([`${hostname()}/--exclude vmkeep-test-*`]);
    expect(excluded.filteredOut).toEqual([{ domain: `${hostname()}/${dom.name}`, why: 'excluded by vmkeep-test-*' }]);
    const untagged = await picked(['--tag', 'offsite'], 1);
    expect(untagged.domains).toEqual([]);
    expect(untagged.filteredOut[0]!.why).toMatch(/do not match all of offsite/);
    expect((await runVmkeep(['tag', '--domains', dom.name, '--add', 'offsite'])).code).toBe(0);
    expect((await picked(['--tag', 'offsite'])).domains).toEqual([dom.name]);
  });

  it('a corrupted pack in the local repository: verify --from fails and names the affected points', async () => {
    const dataDir = path.join(repos[0]!.url, 'data');
    const packs = fs.readdirSync(dataDir).flatMap((d) => fs.readdirSync(path.join(dataDir, d)).map((f) => path.join(dataDir, d, f)));
    const biggest = packs.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]!;
    fs.chmodSync(biggest, 0o600);
    const fd = fs.openSync(biggest, 'r+');
    fs.writeSync(fd, Buffer.alloc(64, 0x58), 0, 64, Math.floor(fs.statSync(biggest).size / 2));
    fs.closeSync(fd);

    const v = await runVmkeep(['verify', '--from', repos[0]!.url, ...repoArgs(repos[0]!), '--read-data-subset', '100%', '--json']);
    expect(v.code).toBe(2);
    const doc = parseJsonOutput<{ ok: boolean; restic: { ok: boolean; damagedPacks: string[] }; affectedPoints: Array<{ id: string; domain: string }> }>(v);
    expect(doc.ok).toBe(false);
    expect(doc.restic.damagedPacks).toEqual([path.basename(biggest)]);
    expect(doc.affectedPoints.length).toBeGreaterThan(0);
    for (const a of doc.affectedPoints) {
      expect(a.domain).toBe(dom.name);
      expect(ids).toContain(a.id);
    }
    const text = await runVmkeep(['verify', '--from', repos[0]!.url, ...repoArgs(repos[0]!), '--read-data-subset', '100%', '--no-sample']);
    expect(text.code).toBe(2);
    for (const a of doc.affectedPoints) expect(text.stdout).toContain(`${dom.name} ${a.id}`);
  });

  it('a point sent: --json and --verbose say where the run and the point spent their time; --report-html writes the folder report after it', async () => {
    // One new point in the chain the --prune case started, sent to the REST repository (sound, unlike the local one now).
    const now = '2027-01-06T03:00:00Z';
    await writeGuestData(dom, 'vda', { pattern: 0x56, offset: 36 * MiB, length: 2 * MiB });
    const b = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir, now }));
    expect(b.results[0]).toMatchObject({ result: 'done', level: 'inc' });
    const report = path.join(work, 'after-replicate.html');
    const r = repos[2]!;
    const started = performance.now();
    const run = await runVmkeep(['replicate', '--output', out, '--to', r.url, ...repoArgs(r), '--json', '--verbose', '--report-html', report], {
      env: { VMKEEP_LOCK_DIR: lockDir, VMKEEP_NOW: now },
    });
    const wallMs = performance.now() - started;
    expect(run.code, run.stderr).toBe(0);
    type Phases = Array<{ name: string; ms: number }>;
    const doc = parseJsonOutput<ReplicateDoc & { phases: Phases; sent: Array<{ id: string; phases: Phases }> }>(run);
    const id = `${b.results[0]!.chain}/${b.results[0]!.checkpoint}`;
    expect(doc.sent.map((x) => x.id)).toEqual([id]);
    // The run: the lock, reading the chains and the snapshot list, the plan, sending, the replica marks.
    expect(doc.phases.map((p) => p.name)).toEqual(['lock', 'read', 'plan', 'send', 'manifest']);
    // The point: restic's backup, then its replica record in the manifest.
    expect(doc.sent[0]!.phases.map((p) => p.name)).toEqual(['send', 'manifest']);
    for (const p of [...doc.phases, ...doc.sent[0]!.phases]) expect(Number.isInteger(p.ms) && p.ms >= 0, `${p.name}: ${p.ms}`).toBe(true);
    expect(doc.phases.reduce((n, p) => n + p.ms, 0)).toBeLessThanOrEqual(wallMs);
    expect(doc.sent[0]!.phases[0]!.ms).toBeGreaterThan(0);
    expect(run.stderr).toMatch(new RegExp(`^debug: replicate to ${escapeRegExp(doc.repository)}: time went to .*sending \\d`, 'm'));
    expect(run.stderr).toMatch(new RegExp(`^debug: [^ ]+/${dom.name} ${id.replace(/\./g, '\\.')}: time went to .*sending \\d`, 'm'));
    // The report of the folder, written after the run: it knows the new point.
    expect(run.stderr).toContain(`report written to ${report}`);
    expect(fs.readFileSync(report, 'utf8')).toContain(`inc ${id}`);
  });
});
