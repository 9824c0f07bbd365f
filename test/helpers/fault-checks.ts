/**
 * What the fault suite checks after every fault: `verify` passes, every recorded point restores
 * byte-identically to the reference copy taken when it was made, and nothing vmkeep made is left
 * (no `.partial`, no backup job, no paused domain it started, no checkpoint or bitmap beyond the
 * recorded points, no work folder of a killed run).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { checkpointNames, chainFolders, jobActive, qemuBitmapNames, readManifestJson } from './backup-run.js';
import { runVmkeep } from './cli.js';
import { domainState, type TestDomain } from './libvirt.js';
import { expectPointRestores } from './restore-point.js';
import { partialFiles } from './vmkeep-process.js';

/** A small seeded PRNG (mulberry32): the same seed gives the same fault moments. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every recorded point with the reference it must restore to; new points are restored once. */
export class PointBook {
  private readonly refs = new Map<string, string>();

  constructor(
    private readonly dom: TestDomain,
    private readonly out: string,
  ) {}

  /** Points recorded now that the book has not seen: they were made from `reference`. */
  async checkNewPoints(reference: string): Promise<string[]> {
    const fresh: string[] = [];
    for (const chain of chainFolders(this.out, this.dom.name)) {
      const dir = path.join(this.out, this.dom.name, chain);
      if (!fs.existsSync(path.join(dir, 'vmkeep-manifest.json'))) continue;
      for (const p of readManifestJson(dir).points) {
        const id = `${chain}/${p.checkpoint}`;
        if (this.refs.has(id)) continue;
        this.refs.set(id, reference);
        fresh.push(id);
        await expectPointRestores(dir, p.checkpoint, reference, { scratchDir: this.dom.dir });
      }
    }
    return fresh;
  }

  get size(): number {
    return this.refs.size;
  }

  /** Restore every point recorded so far (checks that repairs never hurt an older point). */
  async restoreAll(): Promise<void> {
    for (const [id, ref] of this.refs) {
      const [chain, checkpoint] = id.split('/') as [string, string];
      await expectPointRestores(path.join(this.out, this.dom.name, chain), checkpoint, ref, { scratchDir: this.dom.dir });
    }
  }
}

/** `vmkeep verify --output OUT` passes. */
export async function expectVerifyPasses(out: string, env: Record<string, string> = {}): Promise<void> {
  const r = await runVmkeep(['verify', '--output', out], { env });
  expect(r.code, `verify: ${r.stdout}\n${r.stderr}`).toBe(0);
}

/** The newest chain (by its newest point) and its recorded checkpoints. */
function newestChainPoints(out: string, domain: string): string[] {
  let best: { time: number; points: string[] } | undefined;
  for (const chain of chainFolders(out, domain)) {
    const file = path.join(out, domain, chain, 'vmkeep-manifest.json');
    if (!fs.existsSync(file)) continue;
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as { points: Array<{ checkpoint: string; time: string }> };
    const last = m.points.at(-1);
    if (!last) continue;
    const t = Date.parse(last.time);
    if (!best || t >= best.time) best = { time: t, points: m.points.map((p) => p.checkpoint) };
  }
  return best?.points ?? [];
}

/**
 * Nothing vmkeep made is left after a successful run: no `.partial`, no job, the domain in the
 * state it had (`expectState`), libvirt's checkpoints exactly the newest chain's recorded points,
 * QEMU's bitmaps exactly those checkpoints (live domain), no work folder of a dead vmkeep.
 */
export async function expectNothingLeft(
  dom: TestDomain,
  out: string,
  expectState: 'running' | 'shut off' = 'running',
  deadPids: readonly number[] = [],
): Promise<void> {
  expect(partialFiles(out)).toEqual([]);
  expect(await domainState(dom)).toBe(expectState);
  const checkpoints = await checkpointNames(dom);
  const tree = chainFolders(out, dom.name).map((c) => {
    const file = path.join(out, dom.name, c, 'vmkeep-manifest.json');
    return fs.existsSync(file)
      ? `${c}: ${readManifestJson(path.join(out, dom.name, c))
          .points.map((p) => `${p.checkpoint}@${(p as { time?: string }).time}`)
          .join(' ')}`
      : `${c}: no manifest`;
  });
  expect(checkpoints, `libvirt's checkpoints against the chains:\n${tree.join('\n')}`).toEqual(newestChainPoints(out, dom.name));
  if (expectState === 'running') {
    expect(await jobActive(dom)).toBe(false);
    expect(await qemuBitmapNames(dom)).toEqual([...checkpoints].sort());
  }
  // Only this suite's dead runs: other test files on the host may have their own in flight.
  const left = fs.readdirSync('/var/tmp').filter((n) => deadPids.some((pid) => n.startsWith(`vmkeep-run-${pid}-`)));
  expect(left, 'work folders of killed runs').toEqual([]);
}
