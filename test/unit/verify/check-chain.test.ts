/**
 * checkChain on real chain folders: VMSnap-style folders written by virtnbdbackup 1.9.15
 * (fixtures/virtnbdbackup) and the manifest of a real vmkeep chain (fixtures/restore), whose data
 * files were not kept, so they read as missing.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readChain } from '../../../src/repository/chains.js';
import { chainFromView } from '../../../src/points/chains.js';
import { brokenPoints } from '../../../src/verify/broken-points.js';
import { checkChain } from '../../../src/verify/check-chain.js';
import type { RestoreChain } from '../../../src/points/types.js';
import type { QemuImgClient } from '../../../src/qemu/qemu-img.js';
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

describe('checkChain on a push chain, cancelled while its qemu-img checks run', () => {
  it('rejects with the cancel instead of answering for part of the images (which verify would record as checked)', async () => {
    // Two point images whose recorded size and sha256 match: the file checks find nothing and end
    // first; the qemu-img checks run beside them and are still going when the run is cancelled.
    const dir = mkdtempSync(join(scratch, 'push-cancel-'));
    const images = ['vda.vmkeep.0a1b2c3d.0.qcow2', 'vda.vmkeep.0a1b2c3d.1.qcow2'];
    const files = images.map((path, i) => {
      const bytes = Buffer.from(`image ${i}`);
      writeFileSync(join(dir, path), bytes);
      return { path, disk: 'vda', kind: 'data' as const, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    });
    const chain: RestoreChain = {
      domain: 'vm',
      folder: 'vmsnap-backup-monthly-2026-12',
      dir,
      legacy: false,
      engine: 'push',
      state: 'complete',
      stateReason: undefined,
      protected: false,
      disks: [{ target: 'vda' }],
      points: files.map((f, i) => ({
        checkpoint: `vmkeep.0a1b2c3d.${i}`,
        ...(i > 0 ? { parent: 'vmkeep.0a1b2c3d.0' } : {}),
        time: `2026-12-0${i + 1}T02:00:00.000Z`,
        level: i === 0 ? ('full' as const) : ('inc' as const),
        protected: false,
        files: [f],
      })),
    };
    const controller = new AbortController();
    const asked: string[] = [];
    // The first image's answers come after a while, and then the run is cancelled: a qemu-img
    // stopped by a cancel fails, as the real one killed by its cancelSignal does.
    const qemuImg = {
      async infoAtRest(path: string) {
        asked.push(path);
        await new Promise((r) => setTimeout(r, 50));
        controller.abort(new Error('cancelled by the test'));
        throw new Error('qemu-img was stopped');
      },
      async check(): Promise<never> {
        throw new Error('not reached');
      },
    } as unknown as QemuImgClient;
    await expect(checkChain(chain, controller.signal, qemuImg)).rejects.toThrow('cancelled by the test');
    // No qemu-img was started for the second image after the cancel.
    expect(asked).toEqual([join(dir, images[0]!)]);
  });
});
