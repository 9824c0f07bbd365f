/**
 * `vmkeep verify` through the built CLI (run `npm run build` first) on a real chain made by
 * `vmkeep backup` (a full and two incrementals with different guest data), then on copies of the
 * backup folder damaged the ways disks and copies damage files: one flipped byte, a truncated
 * file, a missing file. Every --json output is parsed with JSON.parse.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupAll, createTestDomain, writeGuestData, type TestDomain } from '../helpers/libvirt.js';

const MiB = 1024 * 1024;
/** The built CLI; VMKEEP_TEST_BIN may name another entry script (a private build). */
const BIN = process.env['VMKEEP_TEST_BIN'] ?? path.resolve('bin/vmkeep');

function vmkeep(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { maxBuffer: 64 * MiB, timeout: 600_000 }, (error, stdout, stderr) => {
      // execFile's error is an Error; @types/node builds its type with Omit<>, which the rule does not take for one.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      if (error && typeof error.code !== 'number') return reject(error);
      resolve({ code: error ? Number(error.code) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function vmkeepJson<T>(args: string[]): Promise<{ code: number; doc: T; stderr: string }> {
  const r = await vmkeep([...args, '--json']);
  const text = r.stdout.trim() !== '' ? r.stdout : r.stderr.trim().split('\n').at(-1)!;
  try {
    return { code: r.code, doc: JSON.parse(text) as T, stderr: r.stderr };
  } catch {
    throw new Error(`vmkeep ${args.join(' ')} exited ${r.code} without JSON:\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

interface VerifyDoc {
  deep: boolean;
  chains: Array<{
    domain: string;
    chain: string;
    result: 'ok' | 'failed';
    problems: Array<{ kind: string; file?: string; checkpoint?: string; message: string }>;
    brokenPoints: string[];
    deep: { points: Array<{ checkpoint: string; result: string; images: Array<{ disk: string; corruptions: number }> }> } | null;
    recorded: boolean;
  }>;
  failures: unknown[];
}

let domain: TestDomain;
let clean: string;
let chain: string;

function manifestOf(output: string): { lastVerify?: { result: string; deep: boolean; problems: string[]; time: string } } {
  return JSON.parse(fs.readFileSync(path.join(output, domain.name, chain, 'vmkeep-manifest.json'), 'utf8')) as never;
}

/** A damaged copy of the clean backup folder. */
function copyOf(name: string, damage: (chainDir: string) => void): string {
  const out = path.join(domain.dir, name);
  fs.cpSync(clean, out, { recursive: true });
  damage(path.join(out, domain.name, chain));
  return out;
}

beforeAll(async () => {
  domain = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] });
  clean = path.join(domain.dir, 'clean');
  const writes = [
    { pattern: 0x61, offset: 0, length: 2 * MiB },
    { pattern: 0x62, offset: 3 * MiB, length: MiB },
    { pattern: 0x63, offset: 6 * MiB, length: MiB },
  ];
  for (const w of writes) {
    await writeGuestData(domain, 'vda', w);
    const r = await vmkeepJson<{ results: Array<{ result: string; chain: string; reason?: string }> }>(['backup', '--domains', domain.name, '--output', clean]);
    expect(r.code, r.stderr).toBe(0);
    chain = r.doc.results[0]!.chain;
  }
});

afterAll(async () => {
  await cleanupAll();
});

const ids = (...n: number[]) => n.map((i) => `${chain}/virtnbdbackup.${i}`);

describe('vmkeep verify against real backups', () => {
  it('a clean repository exits 0 and records the result in the manifest', async () => {
    const r = await vmkeepJson<VerifyDoc>(['verify', '--output', clean]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.doc.chains).toHaveLength(1);
    expect(r.doc.chains[0]).toMatchObject({ chain, result: 'ok', problems: [], brokenPoints: [], recorded: true });
    expect(manifestOf(clean).lastVerify).toMatchObject({ result: 'ok', deep: false, problems: [] });
  });

  it('--deep restores the newest point, qemu-img checks it, and passes', async () => {
    const r = await vmkeepJson<VerifyDoc>(['verify', '--output', clean, '--deep', '--scratch-dir', path.join(domain.dir, 'scratch')]);
    expect(r.code, r.stderr).toBe(0);
    const deep = r.doc.chains[0]!.deep!;
    expect(deep.points).toEqual([expect.objectContaining({ checkpoint: 'virtnbdbackup.2', result: 'ok' })]);
    expect(deep.points[0]!.images).toEqual([expect.objectContaining({ disk: 'vda', corruptions: 0 })]);
    expect(manifestOf(clean).lastVerify).toMatchObject({ result: 'ok', deep: true });
    // The scratch images are gone again.
    expect(fs.readdirSync(path.join(domain.dir, 'scratch'))).toEqual([]);
  });

  it('one flipped byte in an incremental: non-zero exit, the file named, points from it onward broken; restore refuses it', async () => {
    const file = 'vda.inc.virtnbdbackup.1.data';
    const out = copyOf('flipped', (dir) => {
      const p = path.join(dir, file);
      const buf = fs.readFileSync(p);
      const at = Math.floor(buf.length / 2); // inside the 1 MiB data payload: the stream structure stays valid
      buf[at] = buf[at]! ^ 0x01;
      fs.writeFileSync(p, buf);
    });
    const r = await vmkeepJson<VerifyDoc>(['verify', '--output', out]);
    expect(r.code).not.toBe(0);
    const c = r.doc.chains[0]!;
    expect(c.result).toBe('failed');
    expect(c.problems).toEqual([expect.objectContaining({ kind: 'checksum', file, checkpoint: 'virtnbdbackup.1' })]);
    expect(c.brokenPoints).toEqual(ids(1, 2));
    expect(manifestOf(out).lastVerify).toMatchObject({ result: 'failed' });
    const text = await vmkeep(['verify', '--output', out]);
    expect(text.stdout).toContain(file);
    expect(text.stdout).toContain(`restore points broken: ${ids(1, 2).join(', ')}`);

    // restore checks the same files first: exit 2 naming the file, nothing written.
    const to = path.join(domain.dir, 'restore-flipped');
    const rr = await vmkeepJson<{ error: { code: string; message: string } }>([
      'restore',
      '--domain',
      domain.name,
      '--output',
      out,
      '--at',
      ids(2)[0]!,
      '--to',
      to,
    ]);
    expect(rr.code).toBe(2);
    expect(rr.doc.error.message).toContain(file);
    expect(fs.existsSync(to)).toBe(false);
    // A point before the damage still restores.
    const ok = await vmkeepJson<{ images: unknown[] }>(['restore', '--domain', domain.name, '--output', out, '--at', ids(0)[0]!, '--to', to]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('a truncated incremental: named, with the points from it onward', async () => {
    const file = 'vda.inc.virtnbdbackup.1.data';
    const out = copyOf('truncated', (dir) => {
      const p = path.join(dir, file);
      fs.truncateSync(p, fs.statSync(p).size - 4096);
    });
    const r = await vmkeepJson<VerifyDoc>(['verify', '--output', out]);
    expect(r.code).not.toBe(0);
    const c = r.doc.chains[0]!;
    const kinds = new Set(c.problems.filter((p) => p.file === file).map((p) => p.kind));
    expect([...kinds].sort()).toEqual(['checksum', 'size', 'stream']);
    expect(c.problems.every((p) => p.file === file)).toBe(true);
    expect(c.brokenPoints).toEqual(ids(1, 2));
  });

  it('a missing incremental: named, with the points from it onward; a missing full breaks the whole chain', async () => {
    const out = copyOf('missing', (dir) => fs.rmSync(path.join(dir, 'vda.inc.virtnbdbackup.2.data')));
    const r = await vmkeepJson<VerifyDoc>(['verify', '--output', out]);
    expect(r.code).not.toBe(0);
    expect(r.doc.chains[0]!.problems).toEqual([
      expect.objectContaining({ kind: 'missing', file: 'vda.inc.virtnbdbackup.2.data', checkpoint: 'virtnbdbackup.2' }),
    ]);
    expect(r.doc.chains[0]!.brokenPoints).toEqual(ids(2));

    const noFull = copyOf('missing-full', (dir) => fs.rmSync(path.join(dir, 'vda.full.data')));
    const f = await vmkeepJson<VerifyDoc>(['verify', '--output', noFull]);
    expect(f.code).not.toBe(0);
    expect(f.doc.chains[0]!.brokenPoints).toEqual(ids(0, 1, 2));
  });
});
