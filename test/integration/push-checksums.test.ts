/**
 * Chunk checksums of push chains through the built CLI against real libvirt: a point image
 * larger than one chunk is recorded with one sha256 per 64 MiB chunk; a byte flipped inside one
 * chunk is found by verify, which names that byte range; a manifest with whole-file digests (as
 * older versions wrote them) still verifies; and a run killed with -9 while it computes the
 * checksums records no point, and the next run repairs and records one that verifies and
 * matches the disk byte for byte.
 *
 * One domain (256 MiB disk, up to 192 MiB written) carries every case to keep CI time down.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, imagesIdentical, referenceCopy, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { startVmkeep } from '../helpers/vmkeep-process.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
const CHUNK = 64 * MiB;
let lockDir: string;
let dom: TestDomain;
let out: string;
let chain: string;
let full: string;

interface ManifestFileJson {
  path: string;
  size: number;
  sha256?: string;
  chunks?: { size: number; sha256: string[] };
}
interface ManifestJson {
  running?: unknown;
  points: Array<{ checkpoint: string; level: string; files: ManifestFileJson[] }>;
  events: Array<{ kind: string; message: string }>;
}
interface VerifyDoc {
  chains: Array<{ chain: string; result: string; problems: Array<{ kind: string; file?: string; message: string }>; brokenPoints: string[] }>;
}

const manifestPath = (root: string) => path.join(root, dom.name, chain, 'vmkeep-manifest.json');
const readManifest = (root: string): ManifestJson => JSON.parse(fs.readFileSync(manifestPath(root), 'utf8')) as ManifestJson;

function verify(output: string) {
  return runVmkeep(['verify', '--output', output, '--json'], { env: { VMKEEP_LOCK_DIR: lockDir }, timeoutMs: 600_000 });
}

async function copyOut(name: string): Promise<string> {
  const copy = path.join(dom.dir, name);
  await runner.run('cp', ['-a', '--', out, copy]);
  return copy;
}

function flipByte(file: string, at: number): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, at);
  fs.writeSync(fd, Buffer.from([b[0]! ^ 0xff]), 0, 1, at);
  fs.closeSync(fd);
}

beforeAll(async () => {
  lockDir = makeLockDir();
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 256 }], start: true });
  out = path.join(dom.dir, 'backups');
  await writeGuestData(dom, 'vda', { pattern: 0x11, offset: 0, length: 160 * MiB });
  const doc = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json', '--engine', 'push'], { lockDir }));
  chain = doc.results[0]!.chain!;
  full = doc.results[0]!.checkpoint!;
}, 600_000);
afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

describe('chunk checksums of a push chain', () => {
  it('records the full image per 64 MiB chunk, and the sound chain verifies', async () => {
    const image = readManifest(out).points[0]!.files.find((f) => f.path === `vda.${full}.qcow2`)!;
    expect(image.size).toBeGreaterThan(2 * CHUNK);
    expect(image.chunks?.size).toBe(CHUNK);
    expect(image.chunks?.sha256).toHaveLength(Math.ceil(image.size / CHUNK));
    // Each recorded digest is the sha256 of exactly that byte range of the file.
    const bytes = fs.readFileSync(path.join(out, dom.name, chain, image.path));
    expect(image.chunks!.sha256[1]).toBe(
      createHash('sha256')
        .update(bytes.subarray(CHUNK, 2 * CHUNK))
        .digest('hex'),
    );
    const r = await verify(out);
    expect(r.code, r.stdout).toBe(0);
  });

  it('a byte flipped in the second chunk: verify names that byte range, not only the file', async () => {
    const copy = await copyOut('flipped');
    flipByte(path.join(copy, dom.name, chain, `vda.${full}.qcow2`), CHUNK + 12_345);
    const r = await verify(copy);
    expect(r.code).not.toBe(0);
    const c = parseJsonOutput<VerifyDoc>(r).chains[0]!;
    expect(c.result).toBe('failed');
    const problem = c.problems.find((p) => p.kind === 'checksum');
    expect(problem, JSON.stringify(c.problems)).toMatchObject({ file: `vda.${full}.qcow2` });
    expect(problem!.message).toContain(`bytes ${CHUNK}–${2 * CHUNK - 1} (64 MiB–128 MiB)`);
    expect(problem!.message).not.toMatch(/bytes 0–|bytes 134217728–/);
    expect(c.brokenPoints).toEqual([`${chain}/${full}`]);
  });

  it('a manifest with whole-file digests, as older versions wrote them, still verifies and still finds a flipped byte', async () => {
    const copy = await copyOut('old-manifest');
    const manifest = readManifest(copy);
    for (const p of manifest.points) {
      for (const f of p.files) {
        if (!f.chunks) continue;
        const bytes = fs.readFileSync(path.join(copy, dom.name, chain, f.path));
        delete f.chunks;
        f.sha256 = createHash('sha256').update(bytes).digest('hex');
      }
    }
    fs.writeFileSync(manifestPath(copy), JSON.stringify(manifest, null, 2));
    const sound = await verify(copy);
    expect(sound.code, sound.stdout).toBe(0);
    flipByte(path.join(copy, dom.name, chain, `vda.${full}.qcow2`), CHUNK + 12_345);
    const damaged = await verify(copy);
    expect(damaged.code).not.toBe(0);
    expect(parseJsonOutput<VerifyDoc>(damaged).chains[0]!.problems).toContainEqual(
      expect.objectContaining({
        kind: 'checksum',
        file: `vda.${full}.qcow2`,
        message: expect.stringMatching(/ has sha256 [0-9a-f]{12}…, the manifest recorded /),
      }),
    );
  });

  it('kill -9 while the checksums are computed: no point recorded; the next run repairs and records one that verifies', { timeout: 600_000 }, async () => {
    await writeGuestData(dom, 'vda', { pattern: 0x22, offset: 0, length: 192 * MiB });
    const reference = path.join(dom.dir, 'reference.qcow2');
    await referenceCopy(dom, 'vda', reference);
    const run = startVmkeep(['backup', '--domains', dom.name, '--output', out, '--json', '--engine', 'push', '--verbose'], {
      env: { VMKEEP_LOCK_DIR: lockDir },
    });
    let ended = false;
    void run.finished.then(() => (ended = true));
    const deadline = Date.now() + 240_000;
    while (!/checksums of \d+ of \d+ files/.test(run.stderrSoFar()) && !ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(ended, `the run ended before its checksum step:\n${run.stderrSoFar()}`).toBe(false);
    run.killGroup();
    await run.finished;
    // The job had finished (its image is there), its point is not recorded: the run is still marked as running.
    const killed = readManifest(out);
    expect(killed.points.map((p) => p.checkpoint)).toEqual([full]);
    expect(killed.running).toBeDefined();
    expect(fs.readdirSync(path.join(out, dom.name, chain)).filter((n) => n.endsWith('.qcow2') && !n.includes(full))).not.toEqual([]);

    const next = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json', '--engine', 'push'], { lockDir }));
    expect(next.results[0]!.result).toBe('done');
    const after = readManifest(out);
    expect(after.running).toBeUndefined();
    expect(after.events.some((e) => e.kind === 'repaired' || e.kind === 'interrupted')).toBe(true);
    const last = after.points.at(-1)!;
    expect(last.checkpoint).toBe(next.results[0]!.checkpoint);
    for (const f of last.files) expect(f.sha256 !== undefined || f.chunks !== undefined, f.path).toBe(true);
    // Only images some recorded point names are left in the chain folder.
    const recorded = new Set(after.points.flatMap((p) => p.files.map((f) => f.path)));
    expect(fs.readdirSync(path.join(out, dom.name, chain)).filter((n) => n.endsWith('.qcow2') && !recorded.has(n))).toEqual([]);
    const v = await verify(out);
    expect(v.code, v.stdout).toBe(0);
    expect(await imagesIdentical(reference, path.join(out, dom.name, chain, `vda.${last.checkpoint}.qcow2`))).toBe(true);
  });
});
