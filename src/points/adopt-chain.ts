/**
 * Adopting a VMSnap chain (no vmkeep manifest): a manifest with the sizes and sha256 of its files
 * as they are now, so vmkeep checks, prunes and continues it as its own. The callers decide when a
 * chain has earned it: `verify --adopt` after every point restored and passed `qemu-img check`;
 * `backup` when it continues the chain (its last checkpoint is libvirt's, its files pass the
 * structure check). The note says which, and that the checksums certify the files as they are
 * now, not as they were at backup time.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FORMAT, readManifest, writeManifest, type ChainManifest, type ManifestPoint } from '../repository/manifest.js';
import { parseChainFolderName } from '../repository/period-folders.js';
import type { RestoreChain } from './types.js';
import { computeFileDigests } from '../repository/file-digest.js';

/** Write the manifest of an adopted chain, `note` (what earned it) as its event; refuses when a manifest appeared meanwhile. */
export async function adoptChain(chain: RestoreChain, now: Date, note: string): Promise<ChainManifest> {
  if (await readManifest(chain.dir)) throw new Error(`${chain.folder} has a manifest already`);
  const period = parseChainFolderName(chain.folder);
  const points: ManifestPoint[] = [];
  for (const p of chain.points) {
    const files: ManifestPoint['files'] = [];
    for (const f of p.files) {
      const path = join(chain.dir, f.path);
      const [digest] = await computeFileDigests([path]);
      files.push({ path: f.path, ...(f.disk ? { disk: f.disk } : {}), kind: f.kind, size: (await stat(path)).size, ...digest! });
    }
    points.push({
      checkpoint: p.checkpoint,
      ...(p.parent ? { parent: p.parent } : {}),
      time: p.time,
      level: p.level,
      protected: false,
      dataBytes: p.dataBytes ?? 0,
      durationMs: 0,
      files,
    });
  }
  const time = now.toISOString();
  const manifest: ChainManifest = {
    format: MANIFEST_FORMAT,
    domain: chain.domain,
    engine: 'virtnbdbackup',
    toolVersions: {},
    ...(period ? { period: { groupBy: period.groupBy, key: period.key, start: period.start.toISOString() } } : {}),
    createdAt: time,
    updatedAt: time,
    state: 'complete',
    protected: false,
    disks: chain.disks.map((d) => ({ target: d.target, ...(d.sourcePath ? { sourcePath: d.sourcePath } : {}), ...(d.format ? { format: d.format } : {}) })),
    points,
    events: [{ time, kind: 'verified', message: note }],
  };
  await writeManifest(chain.dir, manifest);
  return manifest;
}
