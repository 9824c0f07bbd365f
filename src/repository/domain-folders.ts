/**
 * Domain folders whose domain libvirt no longer defines: renamed (`virsh domrename`) or
 * undefined. Backups are kept under the name the domain had when they were made; a renamed
 * domain starts a new folder, and the old one would otherwise sit there unnamed by any command.
 * A manifest records the domain's UUID, which survives a rename: that ties old folder to new name.
 */
import { join } from 'node:path';
import { listBackedUpDomains } from './chains.js';
import { readManifest } from './manifest.js';
import { readdir } from 'node:fs/promises';

/** A domain folder of OUTPUT, and the UUIDs its chains' manifests record. */
export interface DomainFolderIdentity {
  domain: string;
  uuids: string[];
}

/** The UUIDs each domain folder's manifests record (a folder without manifests has none). */
export async function readDomainFolderUuids(output: string): Promise<DomainFolderIdentity[]> {
  const out: DomainFolderIdentity[] = [];
  for (const domain of await listBackedUpDomains(output)) {
    const uuids = new Set<string>();
    const dir = join(output, domain);
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const m = await readManifest(join(dir, e.name)).catch(() => undefined);
      if (m?.domainUuid) uuids.add(m.domainUuid.toLowerCase());
    }
    out.push({ domain, uuids: [...uuids] });
  }
  return out;
}

/** Folders in OUTPUT holding backups of the domain with this UUID under another name (its names before a rename). */
export function findFormerNames(folders: readonly DomainFolderIdentity[], domain: string, uuid: string | undefined): string[] {
  if (uuid === undefined) return [];
  const wanted = uuid.toLowerCase();
  return folders.filter((f) => f.domain !== domain && f.uuids.includes(wanted)).map((f) => f.domain);
}

/** Backed-up domains libvirt does not define, each with the name it has now when a defined domain has its UUID. */
export function findGoneDomains(
  folders: readonly DomainFolderIdentity[],
  defined: ReadonlyMap<string, string | undefined>,
): Array<{ domain: string; renamedTo: string | undefined }> {
  const byUuid = new Map<string, string>();
  for (const [name, uuid] of defined) if (uuid) byUuid.set(uuid.toLowerCase(), name);
  return folders
    .filter((f) => !defined.has(f.domain))
    .map((f) => ({ domain: f.domain, renamedTo: f.uuids.map((u) => byUuid.get(u)).find((n) => n !== undefined) }));
}
