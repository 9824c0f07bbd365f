/**
 * verify --adopt: give a VMSnap chain (no vmkeep manifest) the checksums it never had. Every
 * point is first restored into a scratch folder and passes `qemu-img check` (verify --deep on all
 * points); only then are the files' sizes and sha256 recorded in a new manifest. Those checksums
 * certify the files as they are now, not as they were at backup time: the manifest says so.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FORMAT, readManifest, writeManifest, type ChainManifest } from '../repository/manifest.js';
import { parseChainFolderName } from '../repository/period-folders.js';
import type { RestoreChain } from '../points/types.js';
import { sha256File } from '../util/sha256.js';

/** What the adoption says about its checksums (in the manifest's event and in the output). */
export const ADOPT_NOTE =
  'checksums recorded by vmkeep verify --adopt after every point restored and passed qemu-img check; they certify the files as they are now, not as they were at backup time';

/** Write the manifest of an adopted chain; refuses when a manifest appeared meanwhile. */
export async function adoptChain(chain: RestoreChain, now: Date): Promise<ChainManifest> {
  if (await readManifest(chain.dir)) throw new Error(`${chain.folder} has a manifest already`);
  const period = parseChainFolderName(chain.folder);
  const points: ChainManifest['points'] = [];
  for (const p of chain.points) {
    const files: ChainManifest['points'][number]['files'] = [];
    for (const f of p.files) {
      const path = join(chain.dir, f.path);
      files.push({ path: f.path, ...(f.disk ? { disk: f.disk } : {}), kind: f.kind, size: (await stat(path)).size, sha256: await sha256File(path) });
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
    events: [{ time, kind: 'verified', message: ADOPT_NOTE }],
  };
  await writeManifest(chain.dir, manifest);
  return manifest;
}
