/**
 * checkChain on real chain folders: VMSnap-style folders written by virtnbdbackup 1.9.15
 * (fixtures/virtnbdbackup) and the manifest of a real vmkeep chain (fixtures/restore), whose data
 * files were not kept, so they read as missing.
 */
import { cpSync, mkdtempSync, rmSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readChain } from '../../../src/repository/chains.js';
import { chainFromView } from '../../../src/points/chains.js';
import { brokenPoints } from '../../../src/verify/broken-points.js';
import { checkChain } from '../../../src/verify/check-chain.js';
import { capturedChain, FIXTURE_DIR } from '../points/builders.js';

const DOMAIN = 'vmkeep-scratch-virtnbd-1';
const scratch = mkdtempSync(join(tmpdir(), 'vmkeep-verify-unit-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function legacy(dir: string) {
  const view = await readChain(DOMAIN, 'chain', dir);
  if (!view) throw new Error(`no chain in ${dir}`);
  return chainFromView(view);
}

describe('checkChain on VMSnap folders (no manifest)', () => {
  it('a sound folder has no problems, and says no checksums are recorded', async () => {
    const chain = await legacy('fixtures/virtnbdbackup/chain-plain');
    expect(chain.legacy).toBe(true);
    expect(chain.points.map((p) => p.checkpoint)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2', 'virtnbdbackup.3']);
    const result = await checkChain(chain);
    expect(result.problems).toEqual([]);
    expect(result.notes.join(' ')).toContain('no checksums are recorded');
  });

  it('a truncated incremental breaks its point and the ones after it', async () => {
    const dir = join(scratch, 'truncated');
    cpSync('fixtures/virtnbdbackup/chain-plain', dir, { recursive: true });
    const file = join(dir, 'vda.inc.virtnbdbackup.1.data');
    truncateSync(file, statSync(file).size - 1000);
    const chain = await legacy(dir);
    const result = await checkChain(chain);
    const stream = result.problems.filter((p) => p.kind === 'stream');
    expect(stream.length).toBeGreaterThan(0);
    expect(stream.every((p) => p.file === 'vda.inc.virtnbdbackup.1.data' && p.checkpoint === 'virtnbdbackup.1')).toBe(true);
    expect(brokenPoints(chain, result.problems)).toEqual(['virtnbdbackup.1', 'virtnbdbackup.2', 'virtnbdbackup.3']);
  });

  it('an interrupted run: the .partial is a leftover, and its point has no data for that disk', async () => {
    const chain = await legacy('fixtures/virtnbdbackup/interrupted-inc');
    const result = await checkChain(chain);
    expect(result.problems.some((p) => p.kind === 'leftover' && p.file === 'vda.inc.virtnbdbackup.4.data.partial')).toBe(true);
    expect(brokenPoints(chain, result.problems)).toEqual(['virtnbdbackup.4']);
  });
});

describe('checkChain on a vmkeep manifest', () => {
  it('names every missing data file; the kept XML files match their recorded sha256; links agree', async () => {
    const chain = capturedChain(FIXTURE_DIR);
    const result = await checkChain(chain);
    const missing = result.problems
      .filter((p) => p.kind === 'missing')
      .map((p) => p.file)
      .sort();
    expect(missing).toEqual(
      [
        'vda.full.data',
        'vda.inc.virtnbdbackup.1.data',
        'vda.virtnbdbackup.0.qcow.json',
        'vda.virtnbdbackup.1.qcow.json',
        'vdb.full.data',
        'vdb.inc.virtnbdbackup.1.data',
        'vdb.virtnbdbackup.0.qcow.json',
        'vdb.virtnbdbackup.1.qcow.json',
      ].sort(),
    );
    // Every problem is a missing file: vmconfig and checkpoint XMLs match, .cpt and parents agree.
    expect(result.problems.filter((p) => p.kind !== 'missing')).toEqual([]);
    expect(result.problems.find((p) => p.file === 'vdb.inc.virtnbdbackup.1.data')?.checkpoint).toBe('virtnbdbackup.1');
    expect(brokenPoints(chain, result.problems)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
  });
});
