/**
 * A VMSnap folder (no vmkeep manifest) read from virtnbdbackup's own files: its points carry the
 * checkpoint's creationTime (the start of the run, as vmkeep's own points), not the data file's
 * mtime (the end of the run). The checkpoint XML and .cpt are the recorded ones of
 * fixtures/restore/two-disk-chain; the data files are stand-ins with a later mtime.
 */
import { cpSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listChains } from '../../../src/repository/chains.js';

const DOMAIN = 'vmkeep-scratch-restore-fx';
const FIXTURE = new URL('../../../fixtures/restore/two-disk-chain', import.meta.url).pathname;
let output: string;
let dir: string;
beforeEach(() => {
  output = mkdtempSync(join(tmpdir(), 'vmkeep-legacy-'));
  dir = join(output, DOMAIN, 'vmsnap-backup-monthly-2026-11');
  cpSync(FIXTURE, dir, { recursive: true });
  rmSync(join(dir, 'vmkeep-manifest.json'));
  const later = new Date('2027-01-01T00:00:00Z');
  for (const f of ['vda.full.data', 'vda.inc.virtnbdbackup.1.data']) {
    writeFileSync(join(dir, f), '');
    utimesSync(join(dir, f), later, later);
  }
});
afterEach(() => rmSync(output, { recursive: true, force: true }));

describe('VMSnap points', () => {
  it("are timed by their checkpoint's creationTime", async () => {
    const [chain] = await listChains(output, DOMAIN);
    expect(chain!.legacy).toBe(true);
    expect(chain!.points.map((p) => [p.checkpoint, p.time])).toEqual([
      ['virtnbdbackup.0', new Date(1795313615 * 1000).toISOString()],
      ['virtnbdbackup.1', new Date(1795313646 * 1000).toISOString()],
    ]);
  });

  it("fall back to the data file's mtime where the checkpoint XML is gone", async () => {
    rmSync(join(dir, 'checkpoints', 'virtnbdbackup.1.xml'));
    const [chain] = await listChains(output, DOMAIN);
    expect(chain!.points[1]!.time).toBe('2027-01-01T00:00:00.000Z');
  });
});
