/**
 * In-memory chains for planner tests (changesets' FakeFullState idea), and the real chain captured
 * in fixtures/restore/two-disk-chain read through the same code restore uses.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest } from '../../../src/repository/manifest.js';
import { fromManifest } from '../../../src/points/chains.js';
import type { ChainFile, ChainPoint, RestoreChain } from '../../../src/points/types.js';

export const FIXTURE_DIR = 'fixtures/restore/two-disk-chain';

/** The captured two-disk chain, as readRestoreChains would give it. */
export function capturedChain(dir = '/backup/vmkeep-scratch-restore-fx/vmsnap-backup-monthly-2026-11'): RestoreChain {
  const manifest = parseManifest(readFileSync(join(FIXTURE_DIR, 'vmkeep-manifest.json'), 'utf8'));
  return fromManifest({ domain: manifest.domain, folder: 'vmsnap-backup-monthly-2026-11', dir, state: 'complete', stateReason: undefined }, manifest);
}

const sha = (s: string) => s.padEnd(64, '0').slice(0, 64);

/** A chain of a full and incrementals, every point with the files virtnbdbackup writes. */
export class ChainBuilder {
  private readonly points: ChainPoint[] = [];

  constructor(
    readonly domain: string,
    readonly folder: string,
    readonly disks: string[] = ['vda'],
    private readonly start = Date.parse('2026-11-01T01:00:00Z'),
  ) {}

  /** Add the next point; `hours` after the chain's start. */
  point(hours: number, opts: { label?: string; without?: string[] } = {}): this {
    const i = this.points.length;
    const checkpoint = `virtnbdbackup.${i}`;
    const files: ChainFile[] = [];
    for (const d of this.disks) {
      const data = i === 0 ? `${d}.full.data` : `${d}.inc.${checkpoint}.data`;
      files.push({ path: data, disk: d, kind: 'data', size: 1000 + i, sha256: sha(`${d}${i}`) });
      files.push({ path: `${d}.${checkpoint}.qcow.json`, kind: 'meta', size: 480, sha256: sha(`q${d}${i}`) });
    }
    files.push({ path: `vmconfig.${checkpoint}.xml`, kind: 'config', size: 3000, sha256: sha(`c${i}`) });
    files.push({ path: `checkpoints/${checkpoint}.xml`, kind: 'checkpoint', size: 2600, sha256: sha(`x${i}`) });
    this.points.push({
      checkpoint,
      parent: i === 0 ? undefined : this.points[i - 1]!.checkpoint,
      time: new Date(this.start + hours * 3_600_000).toISOString(),
      level: i === 0 ? 'full' : 'inc',
      label: opts.label,
      protected: false,
      dataBytes: 1 << 20,
      files: files.filter((f) => !opts.without?.includes(f.path)),
    });
    return this;
  }

  build(): RestoreChain {
    return {
      domain: this.domain,
      folder: this.folder,
      dir: `/backup/${this.domain}/${this.folder}`,
      legacy: false,
      state: 'complete',
      stateReason: undefined,
      protected: false,
      disks: this.disks.map((d) => ({ target: d, sourcePath: `/var/lib/libvirt/images/${this.domain}-${d}.qcow2`, format: 'qcow2' })),
      points: this.points.map((p) => ({ ...p, files: [...p.files] })),
    };
  }
}

/** Two monthly chains of `web`: October (full + 2 incs) and November (full + 1 inc). */
export function twoChains(): RestoreChain[] {
  return [
    new ChainBuilder('web', 'vmsnap-backup-monthly-2026-10', ['vda'], Date.parse('2026-10-01T01:00:00Z'))
      .point(0)
      .point(24)
      .point(48, { label: 'pre-upgrade' })
      .build(),
    new ChainBuilder('web', 'vmsnap-backup-monthly-2026-11', ['vda'], Date.parse('2026-11-01T01:00:00Z')).point(0).point(24).build(),
  ];
}
