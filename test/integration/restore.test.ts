/**
 * `vmkeep list` and `vmkeep restore` through the built CLI (run `npm run build` first), against
 * the real libvirtd, QEMU and both engines' chains (virtnbdbackup streams restored with
 * virtnbdrestore, push qcow2 chains flattened with qemu-img): chains made by `vmkeep backup` with
 * guest data written between the runs, reference copies taken after each backup, restores compared
 * byte for byte with `qemu-img compare`. Both engines: --to at each point, in place with
 * --force --checkpoint-current. Once: point selection and refusals, a two-disk domain. push only:
 * --keep-chain, a copied repository, a tampered image. Every --json output is parsed with JSON.parse;
 * the restores' --json and --verbose say where their time went.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createExecaRunner } from '../../src/runner/runner.js';
import { SETUP_BACKUPS_TIMEOUT_MS, backingOf, describeEngines, nthCheckpoint, type Engine } from '../helpers/engines.js';
import { withTestEngine } from '../helpers/cli.js';
import {
  cleanupAll,
  createTestDomain,
  domainState,
  imagesIdentical,
  referenceCopy,
  removeTestDomain,
  trackTestDomain,
  virsh,
  writeGuestData,
  type TestDomain,
} from '../helpers/libvirt.js';

const MiB = 1024 * 1024;
const runner = createExecaRunner();
/** The built CLI; VMKEEP_TEST_BIN may name another entry script (a private build). */
const BIN = process.env['VMKEEP_TEST_BIN'] ?? path.resolve('bin/vmkeep');

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI; never throws on a non-zero exit (the code is the answer). */
function vmkeep(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...withTestEngine(args, undefined, undefined)],
      { env: { ...process.env, ...env }, maxBuffer: 64 * MiB, timeout: 600_000 },
      (error, stdout, stderr) => {
        // execFile's error is an Error; @types/node builds its type with Omit<>, which the rule does not take for one.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({ code: error ? Number(error.code) : 0, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Run with --json and parse stdout (on success) or stderr's error object (on failure). */
async function vmkeepJson<T = Record<string, unknown>>(args: string[], env: Record<string, string> = {}): Promise<{ code: number; doc: T; stderr: string }> {
  const r = await vmkeep([...args, '--json'], env);
  const text = r.code === 0 ? r.stdout : r.stdout.trim() !== '' ? r.stdout : r.stderr.trim().split('\n').at(-1)!;
  let doc: T;
  try {
    doc = JSON.parse(text) as T;
  } catch {
    throw new Error(`vmkeep ${args.join(' ')} exited ${r.code} without JSON:\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return { code: r.code, doc, stderr: r.stderr };
}

interface BackupDoc {
  results: Array<{ domain: string; result: string; level: string; chain: string; checkpoint: string; reason?: string }>;
}

async function backup(domain: TestDomain, output: string, extra: string[] = []): Promise<BackupDoc['results'][number]> {
  const { code, doc, stderr } = await vmkeepJson<BackupDoc>(['backup', '--domains', domain.name, '--output', output, ...extra]);
  expect(code, stderr).toBe(0);
  expect(doc.results[0]!.result, doc.results[0]!.reason).toBe('done');
  return doc.results[0]!;
}

interface ListDoc {
  domains: Array<{ domain: string; points: Array<{ id: string; time: string; level: string; label: string | null }> }>;
}

async function pointsOf(domain: TestDomain, output: string) {
  const { code, doc } = await vmkeepJson<ListDoc>(['list', '--output', output, '--domains', domain.name]);
  expect(code).toBe(0);
  return doc.domains.find((d) => d.domain === domain.name)!.points;
}

async function checkpointNames(domain: TestDomain): Promise<string[]> {
  return (await virsh(['checkpoint-list', domain.uuid, '--name']))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

afterAll(async () => {
  await cleanupAll();
});

describeEngines('vmkeep restore of a %s chain', (engine: Engine) => {
  let one: TestDomain;
  let out: string;
  const refs: string[] = [];
  let ids: string[] = [];
  // The push leg runs under auto, the default: it picks push for a new local chain (the point ids prove it).
  const engineFlags = engine === 'push' ? ['--engine', 'auto'] : [];
  /** A point id as list prints it: chain folder / the engine's checkpoint name. */
  const pointId = engine === 'push' ? /^vmsnap-backup-\w+-[\w-]+(\.\d+)?\/vmkeep\.[0-9a-f]{8}\.\d+$/ : /^vmsnap-backup-\w+-[\w-]+(\.\d+)?\/virtnbdbackup\.\d+$/;

  beforeAll(async () => {
    // A full and two incrementals, different data before each, a reference copy after each.
    one = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] });
    out = path.join(one.dir, 'backups');
    const writes = [
      [{ pattern: 0x11, offset: 0, length: 2 * MiB }],
      [
        { pattern: 0x22, offset: 4 * MiB, length: MiB },
        { pattern: 0x23, offset: MiB, length: MiB / 2 },
      ],
      [{ pattern: 0x33, offset: 8 * MiB, length: MiB }],
    ];
    for (const [i, w] of writes.entries()) {
      for (const x of w) await writeGuestData(one, 'vda', x);
      const done = await backup(one, out, engineFlags);
      expect(done.level).toBe(i === 0 ? 'full' : 'inc');
      const ref = path.join(one.dir, `ref${i}.qcow2`);
      await referenceCopy(one, 'vda', ref);
      refs.push(ref);
    }
  }, SETUP_BACKUPS_TIMEOUT_MS);

  it('list shows the three points; restore --at each point gives one standalone image of that moment', async () => {
    const points = await pointsOf(one, out);
    expect(points.map((p) => p.level)).toEqual(['full', 'inc', 'inc']);
    ids = points.map((p) => p.id);
    expect(
      ids.every((id) => pointId.test(id)),
      ids.join(', '),
    ).toBe(true);
    for (const [i, id] of ids.entries()) {
      const to = path.join(one.dir, `restore-${i}`);
      const { code, doc, stderr } = await vmkeepJson<{
        point: { id: string };
        images: Array<{ target: string; path: string; sequence: string[] }>;
        xml: string;
        phases: Array<{ name: string; ms: number }>;
      }>(['restore', '--domain', one.name, '--output', out, '--at', id, '--to', to, '--verbose']);
      expect(code, stderr).toBe(0);
      expect(doc.point.id).toBe(id);
      // Where the time went: waiting for the folder's lock, then the restore; --verbose says it in one line.
      expect(doc.phases.map((p) => p.name)).toEqual(['lock', 'restore']);
      for (const p of doc.phases) expect(Number.isInteger(p.ms) && p.ms >= 0, `${p.name}: ${p.ms}`).toBe(true);
      expect(doc.phases[1]!.ms).toBeGreaterThan(0);
      expect(stderr).toMatch(new RegExp(`^debug: ${one.name}: time went to .*restoring \\d`, 'm'));
      expect(doc.images).toHaveLength(1);
      expect(doc.images[0]!.path).toBe(path.join(to, 'vda.qcow2'));
      expect(doc.images[0]!.sequence).toHaveLength(i + 1);
      expect(await imagesIdentical(doc.images[0]!.path, refs[i]!), `point ${id} against ref${i}`).toBe(true);
      // The point before differs: the comparison can tell.
      if (i > 0) expect(await imagesIdentical(doc.images[0]!.path, refs[i - 1]!)).toBe(false);
      // Standalone: no backing file into the repository.
      expect(await backingOf(doc.images[0]!.path)).toBeUndefined();
      expect(fs.existsSync(doc.xml)).toBe(true);
      expect(fs.readdirSync(to).sort()).toEqual([path.basename(doc.xml), 'vda.qcow2'].sort());
    }
  });

  // Point selection and refusals do not depend on the engine: they run once, on virtnbdbackup's chain.
  if (engine === 'virtnbdbackup') {
    it('--at-time picks the newest point at or before the time', async () => {
      const points = await pointsOf(one, out);
      const between = new Date((Date.parse(points[1]!.time) + Date.parse(points[2]!.time)) / 2).toISOString();
      const dry = await vmkeepJson<{ point: { id: string }; dryRun: boolean }>([
        'restore',
        '--domain',
        one.name,
        '--output',
        out,
        '--at-time',
        between,
        '--to',
        path.join(one.dir, 'never'),
        '--dry-run',
      ]);
      expect(dry.code).toBe(0);
      expect(dry.doc).toMatchObject({ dryRun: true, point: { id: points[1]!.id } });
      expect(fs.existsSync(path.join(one.dir, 'never'))).toBe(false);

      const to = path.join(one.dir, 'restore-at-time');
      const exact = await vmkeepJson<{ point: { id: string }; images: Array<{ path: string }> }>([
        'restore',
        '--domain',
        one.name,
        '--output',
        out,
        '--at-time',
        points[2]!.time,
        '--to',
        to,
      ]);
      expect(exact.code).toBe(0);
      expect(exact.doc.point.id).toBe(points[2]!.id);
      expect(await imagesIdentical(exact.doc.images[0]!.path, refs[2]!)).toBe(true);
    });

    it('an unknown point exits 64, names the nearest valid points, and writes nothing', async () => {
      const chain = ids[0]!.split('/')[0]!;
      const to = path.join(one.dir, 'restore-unknown');
      const before = fs.readdirSync(one.dir).sort();
      const r = await vmkeepJson<{ error: { code: string; message: string } }>([
        'restore',
        '--domain',
        one.name,
        '--output',
        out,
        '--at',
        `${chain}/virtnbdbackup.9`,
        '--to',
        to,
      ]);
      expect(r.code).toBe(64);
      expect(r.doc.error.code).toBe('usage');
      expect(r.doc.error.message).toContain('nearest:');
      expect(r.doc.error.message).toContain(ids[2]!);
      expect(fs.existsSync(to)).toBe(false);
      expect(fs.readdirSync(one.dir).sort()).toEqual(before);
    });

    it('refuses a target folder that is not empty, leaving it as it was', async () => {
      const to = path.join(one.dir, 'restore-busy');
      fs.mkdirSync(to);
      fs.writeFileSync(path.join(to, 'keep.txt'), 'mine');
      const r = await vmkeepJson<{ error: { code: string; message: string } }>(['restore', '--domain', one.name, '--output', out, '--to', to]);
      expect(r.code).toBe(64);
      expect(r.doc.error.message).toContain('is not empty');
      expect(fs.readdirSync(to)).toEqual(['keep.txt']);
    });
  }

  if (engine === 'push') {
    it('--keep-chain writes an overlay on the point: nothing copied, same content', async () => {
      const to = path.join(one.dir, 'restore-keep');
      const r = await vmkeepJson<{ images: Array<{ path: string }> }>([
        'restore',
        '--domain',
        one.name,
        '--output',
        out,
        '--at',
        ids[1]!,
        '--to',
        to,
        '--keep-chain',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const img = r.doc.images[0]!.path;
      expect(await imagesIdentical(img, refs[1]!)).toBe(true);
      const [chain, cp1] = ids[1]!.split('/') as [string, string];
      expect(await backingOf(img)).toBe(path.join(out, one.name, chain, `vda.${cp1}.qcow2`));
      expect(fs.statSync(img).size).toBeLessThan(2 * MiB);
    });

    it('a repository copied with cp -a restores every point', async () => {
      const copy = path.join(one.dir, 'copied');
      await runner.run('cp', ['-a', '--', out, copy]);
      for (const [i, id] of ids.entries()) {
        const r = await vmkeepJson<{ images: Array<{ path: string }> }>([
          'restore',
          '--domain',
          one.name,
          '--output',
          copy,
          '--at',
          id,
          '--to',
          path.join(one.dir, `restore-copy-${i}`),
        ]);
        expect(r.code, r.stderr).toBe(0);
        expect(await imagesIdentical(r.doc.images[0]!.path, refs[i]!)).toBe(true);
      }
      fs.rmSync(copy, { recursive: true, force: true });
    });

    it('refuses a point whose earlier image changed after the backup, and writes nothing', async () => {
      const copy = path.join(one.dir, 'tampered');
      await runner.run('cp', ['-a', '--', out, copy]);
      const [chain, cp0] = ids[0]!.split('/') as [string, string];
      const file = path.join(copy, one.name, chain, `vda.${cp0}.qcow2`);
      const fd = fs.openSync(file, 'r+');
      // Flip one byte near the end (guest data: qcow2 header and tables come first).
      const at = fs.statSync(file).size - 4096;
      const b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, at);
      fs.writeSync(fd, Buffer.from([b[0]! ^ 0xff]), 0, 1, at);
      fs.closeSync(fd);
      const to = path.join(one.dir, 'restore-tampered');
      const r = await vmkeep(['restore', '--domain', one.name, '--output', copy, '--at', ids[2]!, '--to', to, '--json']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`vda\\.${cp0.replace(/\./g, '\\.')}\\.qcow2 has sha256`));
      expect(fs.existsSync(to)).toBe(false);
      fs.rmSync(copy, { recursive: true, force: true });
    });
  }

  it('in place with --force --checkpoint-current: old data back, domain running, replaced image kept, and the restore undoable', async () => {
    await writeGuestData(one, 'vda', { pattern: 0x44, offset: 12 * MiB, length: MiB });
    const current = path.join(one.dir, 'ref-current.qcow2');
    await referenceCopy(one, 'vda', current);
    expect(await domainState(one)).toBe('running');

    const r = await vmkeepJson<{
      beforeRestore: { id: string; checkpoint: string } | null;
      point: { id: string };
      state: string;
      disks: Array<{ target: string; path: string; replacedPath: string | null }>;
      scrubbedCheckpoints: string[];
      phases: Array<{ name: string; ms: number }>;
    }>([
      'restore',
      '--domain',
      one.name,
      '--output',
      out,
      '--in-place',
      '--at',
      ids[0]!,
      '--force',
      '--checkpoint-current',
      '--shutdown-timeout',
      '1',
      '--verbose',
    ]);
    expect(r.code, r.stderr).toBe(0);
    // Where the time went: the backup of the current state (a whole backup run), the lock, reading
    // the chains and the domain, the plan, the restore; --verbose says it in one line.
    expect(r.doc.phases.map((p) => p.name)).toEqual(['engine', 'lock', 'read', 'plan', 'restore']);
    for (const p of r.doc.phases) expect(Number.isInteger(p.ms) && p.ms >= 0, `${p.name}: ${p.ms}`).toBe(true);
    expect(r.doc.phases.find((p) => p.name === 'restore')!.ms).toBeGreaterThan(0);
    expect(r.stderr).toMatch(new RegExp(`^debug: ${one.name}: time went to .*restoring \\d`, 'm'));
    expect(r.doc.point.id).toBe(ids[0]);
    expect(r.doc.state).toBe('running');
    expect(await domainState(one)).toBe('running');

    // The disk holds the old data (read through QEMU's lock with -U; nothing wrote since the start).
    const disk = one.disks[0]!.path;
    expect(r.doc.disks[0]!.path).toBe(disk);
    expect(await imagesIdentical(disk, refs[0]!)).toBe(true);

    // The replaced image is kept as it was.
    const replaced = r.doc.disks[0]!.replacedPath!;
    expect(replaced).toMatch(/\.vmkeep-replaced-\d{8}T\d{6}Z$/);
    expect(await imagesIdentical(replaced, current)).toBe(true);
    expect(fs.readdirSync(path.dirname(disk)).filter((n) => n.startsWith('.vmkeep-restore-'))).toEqual([]);

    // The "before-restore" backup continued the chain, and restores the state the in-place restore replaced.
    expect(r.doc.beforeRestore).not.toBeNull();
    expect(r.doc.beforeRestore!.checkpoint).toBe(nthCheckpoint(ids[0]!.split('/')[1]!, 3));
    const points = await pointsOf(one, out);
    expect(points.find((p) => p.id === r.doc.beforeRestore!.id)?.label).toBe('before-restore');
    const undo = await vmkeepJson<{ images: Array<{ path: string }> }>([
      'restore',
      '--domain',
      one.name,
      '--output',
      out,
      '--at',
      r.doc.beforeRestore!.id,
      '--to',
      path.join(one.dir, 'restore-undo'),
    ]);
    expect(undo.code).toBe(0);
    expect(await imagesIdentical(undo.doc.images[0]!.path, current)).toBe(true);

    // Checkpoints are gone with the bitmaps, and the next backup starts a new full chain.
    expect(r.doc.scrubbedCheckpoints.length).toBeGreaterThan(0);
    expect(await checkpointNames(one)).toEqual([]);
    const next = await backup(one, out, engineFlags);
    expect(next.level).toBe('full');
    expect(next.chain).not.toBe(ids[0]!.split('/')[0]);
  });
});

describe('vmkeep restore of a two-disk domain', () => {
  let two: TestDomain;
  let out: string;
  let refA: string;
  let refB: string;

  beforeAll(async () => {
    two = await createTestDomain({
      start: true,
      // A file-backed serial log: the restored domain must get a log of its own.
      serialLog: true,
      disks: [
        { target: 'vda', sizeMiB: 64 },
        { target: 'vdb', sizeMiB: 64, fileName: 'data disk.qcow2' },
      ],
    });
    out = path.join(two.dir, 'backups');
    await writeGuestData(two, 'vda', { pattern: 0x51, offset: 0, length: MiB });
    await writeGuestData(two, 'vdb', { pattern: 0x52, offset: 2 * MiB, length: MiB });
    await backup(two, out);
    await writeGuestData(two, 'vdb', { pattern: 0x53, offset: 6 * MiB, length: MiB });
    await backup(two, out);
    refA = path.join(two.dir, 'refA.qcow2');
    refB = path.join(two.dir, 'refB.qcow2');
    await referenceCopy(two, 'vda', refA);
    await referenceCopy(two, 'vdb', refB);
  });

  it('restores both disks; the adjusted XML points at both; --define makes a domain that starts', async () => {
    const copyName = `${two.name}-copy`;
    const to = path.join(two.dir, 'restored');
    const r = await vmkeepJson<{ images: Array<{ target: string; path: string }>; xml: string; defined: string; removedDisks: string[] }>([
      'restore',
      '--domain',
      two.name,
      '--output',
      out,
      '--to',
      to,
      '--define',
      copyName,
    ]);
    expect(r.code, r.stderr).toBe(0);
    trackTestDomain({ name: copyName });
    expect(r.doc.defined).toBe(copyName);
    expect(r.doc.removedDisks).toEqual([]);
    expect(r.doc.images.map((i) => [i.target, i.path])).toEqual([
      ['vda', path.join(to, 'vda.qcow2')],
      ['vdb', path.join(to, 'data disk.qcow2')],
    ]);
    expect(await imagesIdentical(r.doc.images[0]!.path, refA)).toBe(true);
    expect(await imagesIdentical(r.doc.images[1]!.path, refB)).toBe(true);
    // A guest's disk is root's alone, like the backups (libvirt hands it to QEMU at start).
    for (const i of r.doc.images) expect(fs.statSync(i.path).mode & 0o777).toBe(0o600);

    const xml = fs.readFileSync(r.doc.xml, 'utf8');
    expect(xml).toContain(`file="${path.join(to, 'vda.qcow2')}"`);
    expect(xml).toContain(`file="${path.join(to, 'data disk.qcow2')}"`);
    expect(xml).not.toContain(two.disks[0]!.path);
    expect(xml).not.toContain('<uuid>');

    // libvirt agrees: the defined domain uses the restored files, has its own UUID, and starts.
    const defined = await virsh(['dumpxml', copyName]);
    expect(defined).toContain(`<source file='${path.join(to, 'vda.qcow2')}'/>`);
    expect(defined).toContain(`<source file='${path.join(to, 'data disk.qcow2')}'/>`);
    expect(defined).not.toContain(two.uuid);
    // The copy logs its serial console beside its disks, not into the original's log.
    const originalLog = path.join(two.dir, 'serial.log');
    expect(defined).not.toContain(originalLog);
    expect(defined).toContain(`<source path='${path.join(to, 'serial.log')}'/>`);
    await virsh(['start', copyName]);
    expect(await domainState(copyName)).toBe('running');
    expect(fs.existsSync(path.join(to, 'serial.log'))).toBe(true);
    await removeTestDomain({ name: copyName });
    expect((await virsh(['list', '--all', '--name'])).split('\n')).not.toContain(copyName);
  });

  it('a failure in the middle of an in-place restore leaves the original disks and the domain as they were', async () => {
    const before = await checkpointNames(two);
    expect(before.length).toBe(2);
    const nowA = path.join(two.dir, 'nowA.qcow2');
    const nowB = path.join(two.dir, 'nowB.qcow2');
    await referenceCopy(two, 'vda', nowA);
    await referenceCopy(two, 'vdb', nowB);
    const filesBefore = fs.readdirSync(two.dir).sort();

    // Fails right after the first disk (vda) was swapped, with the domain shut down. The CLI runs
    // in-process, on the real runner and libvirt, so the test can own the fault point.
    const err: string[] = [];
    const code = await main(
      ['restore', '--domain', two.name, '--output', out, '--in-place', '--at', 'virtnbdbackup.0', '--force', '--shutdown-timeout', '1', '--json'],
      {
        stdout: () => undefined,
        stderr: (t) => err.push(t),
        env: process.env,
        interactive: false,
        faults: {
          after(step) {
            if (step === 'swap-disk') throw new Error('fault injected by the test after swap-disk');
          },
        },
      },
    );
    const r = { code, doc: JSON.parse(err.join('').trim().split('\n').at(-1)!) as { error: { code: string; message: string } } };
    expect(r.code).toBe(2);
    expect(r.doc.error.message).toContain('failed while swapping vda');
    expect(r.doc.error.message).toContain('rolled back');
    expect(r.doc.error.message).not.toContain('ROLLBACK INCOMPLETE');

    expect(await domainState(two)).toBe('running');
    expect(await imagesIdentical(two.disks[0]!.path, nowA)).toBe(true);
    expect(await imagesIdentical(two.disks[1]!.path, nowB)).toBe(true);
    expect(await checkpointNames(two)).toEqual(before);
    expect(fs.readdirSync(two.dir).sort()).toEqual(filesBefore);

    // And the chain goes on: the next backup is an incremental of the same chain.
    const next = await backup(two, out);
    expect(next.level).toBe('inc');
  });
});
