/**
 * Read a domain's chains for restore, list and verify: from the vmkeep manifest when there is
 * one, otherwise from virtnbdbackup's own files (VMSnap folders), without sizes or checksums.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pointFactsOf, type ChainManifest } from '../repository/manifest.js';
import { listChains, type ChainView } from '../repository/chains.js';
import { readBackupFolder, type BackupFolder } from '../virtnbd/backup-folder.js';
import { parseDomainXml } from '../virsh/parse-domain-xml.js';
import type { ChainFile, ChainPoint, RestoreChain } from './types.js';

/** Every chain of a domain under OUTPUT/<domain>/, oldest first. */
export async function readRestoreChains(output: string, domain: string): Promise<RestoreChain[]> {
  const views = await listChains(output, domain);
  const chains: RestoreChain[] = [];
  for (const v of views) chains.push(await chainFromView(v));
  return chains;
}

/** One chain folder, as repository.readChain found it. */
export async function chainFromView(view: ChainView): Promise<RestoreChain> {
  return view.manifest ? fromManifest(view, view.manifest) : fromLegacyFolder(view);
}

/** A manifest chain as restore sees it (pure). */
export function fromManifest(
  view: Pick<ChainView, 'domain' | 'folder' | 'dir' | 'state' | 'stateReason'> & Partial<Pick<ChainView, 'damage'>>,
  m: ChainManifest,
): RestoreChain {
  return {
    domain: view.domain,
    folder: view.folder,
    dir: view.dir,
    legacy: false,
    engine: m.engine,
    state: view.state,
    stateReason: view.stateReason,
    ...(view.damage ? { damaged: true as const } : {}),
    protected: m.protected,
    disks: m.disks.map((d) => ({ target: d.target, sourcePath: d.sourcePath, format: d.format })),
    points: m.points.map((p) => ({
      ...pointFactsOf(p),
      files: p.files,
      // A replica the repository has forgotten is no copy: list must not count it.
      replicas: (p.replicas ?? []).filter((r) => r.forgotten === undefined).map((r) => r.repository),
      ...(view.damage?.byPoint[p.checkpoint] ? { damage: view.damage.byPoint[p.checkpoint] } : {}),
      ...bootProofOf(m, p.checkpoint),
    })),
  };
}

async function fromLegacyFolder(view: ChainView): Promise<RestoreChain> {
  const folder = await readBackupFolder(view.dir, { headers: true });
  const sources = await readConfigDisks(view.dir, folder);
  return legacyChain(view, folder, sources);
}

/** A VMSnap folder as restore sees it: points from `<domain>.cpt`, files by virtnbdbackup's names (pure). */
function legacyChain(
  view: Pick<ChainView, 'domain' | 'folder' | 'dir' | 'state' | 'stateReason' | 'points'>,
  folder: BackupFolder,
  sources: ReadonlyMap<string, { path?: string | undefined; format?: string | undefined }>,
): RestoreChain {
  const points: ChainPoint[] = view.points.map((p, i) => {
    const files: ChainFile[] = [];
    for (const f of folder.dataFiles) {
      const mine = i === 0 ? f.level === 'full' || f.level === 'copy' : f.level === 'inc' && f.checkpoint === p.checkpoint;
      if (mine) files.push({ path: f.name, disk: f.disk, kind: 'data' });
    }
    for (const q of folder.qcowInfos) if (q.ident === p.checkpoint) files.push({ path: q.name, kind: 'meta' });
    for (const c of folder.vmConfigs) if (c.ident === p.checkpoint) files.push({ path: c.name, kind: 'config' });
    if (folder.checkpointXmls.includes(p.checkpoint)) files.push({ path: `checkpoints/${p.checkpoint}.xml`, kind: 'checkpoint' });
    return {
      ...p,
      parent: i === 0 ? undefined : view.points[i - 1]!.checkpoint,
      dataBytes: folder.dataFiles.filter((f) => files.some((x) => x.path === f.name)).reduce((sum, f) => sum + (f.meta?.dataSize ?? 0), 0),
      files,
    };
  });
  return {
    domain: view.domain,
    folder: view.folder,
    dir: view.dir,
    legacy: true,
    state: view.state,
    stateReason: view.stateReason,
    protected: false,
    disks: folder.disks.map((target) => ({ target, sourcePath: sources.get(target)?.path, format: sources.get(target)?.format })),
    points,
  };
}

/** Disk paths and formats from the newest saved domain XML of a VMSnap folder. */
async function readConfigDisks(dir: string, folder: BackupFolder): Promise<Map<string, { path?: string; format?: string }>> {
  const out = new Map<string, { path?: string; format?: string }>();
  const order = folder.checkpoints ?? [];
  const configs = [...folder.vmConfigs].sort((a, b) => order.indexOf(a.ident) - order.indexOf(b.ident));
  const newest = configs.at(-1);
  if (!newest) return out;
  try {
    const def = parseDomainXml(await readFile(join(dir, newest.name), 'utf8'));
    for (const d of def.disks) out.set(d.target, { ...(d.path ? { path: d.path } : {}), ...(d.format ? { format: d.format } : {}) });
  } catch {
    // An unreadable config only costs the original file names; restore falls back to <disk>.qcow2.
  }
  return out;
}

/** A point's boot proof as list shows it (time, result, why it failed). */
function bootProofOf(m: ChainManifest, checkpoint: string): Pick<ChainPoint, 'bootVerify'> {
  const r = m.bootVerify?.[checkpoint];
  return r ? { bootVerify: { time: r.time, result: r.result, ...(r.reason !== undefined ? { reason: r.reason } : {}) } } : {};
}
