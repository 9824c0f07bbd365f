/**
 * In-memory inventories for planBackup: what libvirt, QEMU and the backup folder would say,
 * without any of them. Times are local (`new Date('2026-03-10T04:00')`), as the period keys are.
 */
import type { BackupInventory, ChainFiles, DiskInventory } from '../../../src/backup/plan-types.js';
import { MANIFEST_FORMAT, type ChainManifest } from '../../../src/repository/manifest.js';
import { parseChainFolderName } from '../../../src/repository/period-folders.js';
import type { ChainView } from '../../../src/repository/chains.js';

export const cp = (n: number) => `virtnbdbackup.${n}`;
export const cps = (...ns: number[]) => ns.map(cp);

/** An eligible qcow2 disk with these bitmaps (undefined: unreadable). */
export function disk(target: string, bitmaps: string[] | undefined, options: { bad?: string[]; excludedBy?: string[] } = {}): DiskInventory {
  const excludedBy = options.excludedBy ?? [];
  return {
    target,
    path: `/var/lib/libvirt/images/${target}.qcow2`,
    format: excludedBy.includes('raw') ? 'raw' : 'qcow2',
    eligible: excludedBy.length === 0,
    excludedBy,
    bitmaps,
    badBitmaps: options.bad ?? [],
  };
}

export interface ChainOptions {
  legacy?: boolean;
  state?: ChainView['state'];
  /** Disks the chain's manifest lists (default vda). */
  disks?: string[];
  /** Times of the points, oldest first (default: hourly from the period start). */
  times?: Date[];
  running?: ChainManifest['running'];
}

/** A chain folder whose recorded points are `checkpoints`. */
export function chain(folder: string, checkpoints: string[], options: ChainOptions = {}): ChainView {
  const period = parseChainFolderName(folder);
  const base = period?.start ?? new Date('2026-01-01T00:00');
  const times = options.times ?? checkpoints.map((_, i) => new Date(base.getTime() + (i + 1) * 3_600_000));
  const points = checkpoints.map((checkpoint, i) => ({
    checkpoint,
    time: times[i]!.toISOString(),
    level: i === 0 ? ('full' as const) : ('inc' as const),
    label: undefined,
    dataBytes: 1024,
    protected: false,
  }));
  const manifest: ChainManifest | undefined = options.legacy
    ? undefined
    : {
        format: MANIFEST_FORMAT,
        domain: 'vm1',
        engine: 'virtnbdbackup',
        toolVersions: {},
        createdAt: base.toISOString(),
        updatedAt: base.toISOString(),
        state: options.state === 'broken' ? 'broken' : 'complete',
        protected: false,
        disks: (options.disks ?? ['vda']).map((target) => ({ target })),
        points: points.map((p) => ({ ...p, label: undefined, durationMs: 1, files: [] })),
        running: options.running,
        events: [],
      };
  return {
    domain: 'vm1',
    folder,
    dir: `/backup/vm1/${folder}`,
    manifest,
    legacy: options.legacy ?? false,
    period,
    state: options.state ?? (options.running ? 'in-progress' : 'complete'),
    stateReason: undefined,
    protected: false,
    points,
    sizeOnDisk: 0,
  };
}

/** What the chain folder holds on disk: its `.cpt` list and files. */
export function files(folder: string, cpt: string[], list: string[]): ChainFiles {
  return { folder, cpt, files: [...list].sort() };
}

/** The files a finished chain with these checkpoints holds (one disk, vda). */
export function finishedFiles(folder: string, checkpoints: string[]): ChainFiles {
  const list = ['vm1.cpt', 'vmkeep-manifest.json'];
  checkpoints.forEach((c, i) => {
    list.push(i === 0 ? 'vda.full.data' : `vda.inc.${c}.data`, `checkpoints/${c}.xml`, `vmconfig.${c}.xml`, `vda.${c}.qcow.json`);
  });
  return files(folder, checkpoints, list);
}

/** A running domain with one disk and no chains, with overrides. */
export function inventory(overrides: Partial<BackupInventory> = {}): BackupInventory {
  return {
    domain: 'vm1',
    uuid: '00000000-0000-0000-0000-000000000001',
    state: 'running',
    disks: [disk('vda', [])],
    checkpoints: [],
    jobActive: false,
    pausedByInterruptedRun: false,
    pausedByInterruptedStop: false,
    chains: [],
    chainFiles: [],
    ...overrides,
  };
}
