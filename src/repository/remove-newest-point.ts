/**
 * Remove the newest point of a chain (`vmkeep delete` of a chain's last point), both engines.
 *
 * 1. delete its checkpoint in libvirt, where it exists: libvirt merges the checkpoint's bitmap
 *    into its parent's, which becomes the current one again, so the next incremental (relative
 *    to the parent) still carries every change made since the parent;
 * 2. write the manifest without the point (readers no longer see it);
 * 3. delete its files, and take its name out of a virtnbdbackup chain's `<domain>.cpt`.
 * A failure in step 1 changes nothing. A crash after it leaves a recorded point whose checkpoint
 * libvirt no longer has: the next backup starts a new chain (nothing recorded is lost). A crash
 * after step 2 leaves files no point records, which the next backup removes as a killed run's.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VmkeepError, messageOf } from '../errors.js';
import { parseCheckpointList, writeCheckpointFile } from '../virtnbd/backup-folder.js';
import { readManifest, writeManifest } from './manifest.js';
import type { MergeTools } from './merge-points.js';

/** Remove `checkpoint`, the newest point of the chain in `dir` (it must not be the chain's only point). */
export async function removeNewestPoint(tools: Pick<MergeTools, 'virsh' | 'log' | 'now'>, dir: string, checkpoint: string): Promise<void> {
  const manifest = await readManifest(dir);
  if (!manifest) throw new VmkeepError('failure', `${dir} has no manifest`);
  if (manifest.running || manifest.merging) throw new VmkeepError('failure', `${dir} has a run or a merge that has not finished`);
  const last = manifest.points.at(-1);
  if (last?.checkpoint !== checkpoint || manifest.points.length < 2) {
    throw new VmkeepError(
      'failure',
      `${checkpoint} is not the newest of several points of ${dir} (points: ${manifest.points.map((p) => p.checkpoint).join(', ')})`,
    );
  }
  let existing: string[] = [];
  try {
    existing = await tools.virsh.checkpointNames(manifest.domain);
  } catch (e) {
    tools.log.debug(`${manifest.domain}: no checkpoints to delete (${messageOf(e)})`);
  }
  if (existing.includes(checkpoint)) await tools.virsh.deleteCheckpoint(manifest.domain, checkpoint);
  const time = tools.now().toISOString();
  const points = manifest.points.slice(0, -1);
  const kept = new Set(points.flatMap((p) => p.files.map((f) => f.path)));
  await writeManifest(dir, {
    ...manifest,
    points,
    updatedAt: time,
    events: [...manifest.events, { time, kind: 'deleted', message: `deleted ${checkpoint}, the newest point; ${points.at(-1)!.checkpoint} is the newest now` }],
  });
  for (const f of last.files) if (!kept.has(f.path)) await rm(join(dir, f.path), { force: true });
  if (manifest.engine === 'virtnbdbackup') await dropName(dir, manifest.domain, checkpoint);
}

async function dropName(dir: string, domain: string, checkpoint: string): Promise<void> {
  const path = join(dir, `${domain}.cpt`);
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const names = parseCheckpointList(text);
  if (typeof names === 'string' || !names.includes(checkpoint)) return;
  await writeCheckpointFile(
    dir,
    domain,
    names.filter((n) => n !== checkpoint),
  );
}
