/** Read everything planBackup needs about one domain and its chains (read-only). */
import type { AppContext } from '../app/context.js';
import { diskEligibility } from '../domain/disk-eligibility.js';
import { readDomain } from '../domain/read-domain.js';
import type { DomainDisk } from '../domain/types.js';
import { readCheckpointFile } from '../virtnbd/backup-folder.js';
import { domainDir, listChains, type ChainView } from '../repository/chains.js';
import { chainFromView } from '../points/chains.js';
import { checkChainFiles, describeFileProblem } from '../points/check-files.js';
import { listFilesRelative } from '../util/list-files.js';
import { readFailureNote } from './record-failure.js';
import type { BackupInventory, ChainFiles, DiskInventory, VmsnapChainFacts } from './plan-types.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCheckpointXml } from '../virsh/parse-checkpoint-xml.js';

export interface InspectOptions {
  output: string;
  /** Include raw-format disks (copied whole every time). */
  raw: boolean;
  /** Only these disk targets (--disks / config `disks`); undefined: all. */
  disks?: readonly string[] | undefined;
  /** Never these disk targets (--exclude-disks / config `excludeDisks`). */
  excludeDisks?: readonly string[];
  /** Where an earlier run may have left a failure note. */
  failureNoteFile?: string;
}

/** Is this disk backed up, given --raw? */
function backupEligibility(disk: DomainDisk, raw: boolean): { eligible: boolean; excludedBy: string[] } {
  const e = diskEligibility(disk);
  const excludedBy = raw ? e.excludedBy.filter((r) => r !== 'raw') : e.excludedBy;
  return { eligible: excludedBy.length === 0, excludedBy };
}

/** Each bitmap's count of changed bytes, where QEMU gave one. */
function changedBytesOf(bitmaps: ReadonlyArray<{ name: string; count: number | undefined }>): Record<string, number> {
  return Object.fromEntries(bitmaps.flatMap((b) => (b.count === undefined ? [] : [[b.name, b.count] as const])));
}

export async function inspectDomain(ctx: AppContext, domain: string, options: InspectOptions): Promise<BackupInventory> {
  const [snap, chains] = await Promise.all([readDomain(ctx, domain), listChains(options.output, domain)]);
  const disks: DiskInventory[] = snap.disks.map((d) => {
    const picked = backupEligibility(d.disk, options.raw);
    const excludedBy = [...picked.excludedBy];
    if (options.excludeDisks?.includes(d.disk.target)) excludedBy.push('excluded');
    if (options.disks !== undefined && !options.disks.includes(d.disk.target)) excludedBy.push('not-selected');
    const eligible = excludedBy.length === 0;
    // A disk left out only by --disks/--exclude-disks may still carry vmkeep's bitmaps from runs
    // that included it: the planner must see them to clear them with their checkpoints.
    const selectedOut = !eligible && picked.eligible;
    const readsBitmaps = (eligible || selectedOut) && d.disk.path !== undefined && d.disk.format !== 'raw';
    const bitmaps = readsBitmaps ? d.bitmaps : [];
    return {
      target: d.disk.target,
      path: d.disk.path,
      format: d.disk.format,
      eligible,
      excludedBy,
      bitmaps: bitmaps?.map((b) => b.name),
      badBitmaps: (bitmaps ?? []).filter((b) => b.inconsistent).map((b) => b.name),
      ...(d.bitmapSource === 'qemu' ? { changedBytes: changedBytesOf(bitmaps ?? []) } : {}),
    };
  });
  const chainFiles: ChainFiles[] = [];
  for (const c of chains) {
    if (c.legacy) continue;
    const cpt = await readCheckpointFile(c.dir, domain).catch(() => undefined);
    const last = c.manifest?.points.at(-1)?.checkpoint;
    chainFiles.push({
      folder: c.folder,
      cpt: cpt ?? [],
      cptReadable: cpt !== undefined,
      files: await listFilesRelative(c.dir),
      lastCheckpointCreated: last === undefined ? undefined : await savedCheckpointCreated(c.dir, last),
    });
  }
  // Only the newest chain can be the one this run continues; older VMSnap folders are not read further.
  const newest = chains.at(-1);
  const vmsnapChain = newest?.legacy ? await readVmsnapChainFacts(newest, ctx.signal) : undefined;
  // One libvirt question per distinct name: virtnbdbackup names every chain's points alike.
  const lastNames = [
    ...new Set([...chains.map((c) => c.manifest?.points.at(-1)?.checkpoint), newest?.legacy ? newest.points.at(-1)?.checkpoint : undefined]),
  ].filter((n): n is string => n !== undefined && snap.checkpointNames.includes(n));
  const checkpointCreated: Record<string, number | undefined> = {};
  await Promise.all(
    lastNames.map(async (n) => {
      const cp = await ctx.virsh.checkpoint(domain, n).catch(() => undefined);
      checkpointCreated[n] = cp?.creationTime === undefined ? undefined : cp.creationTime.getTime() / 1000;
    }),
  );
  const pausedByInterruptedRun = snap.state === 'paused' && chains.some((c) => c.manifest?.running?.startedDomain === true);
  const pausedByInterruptedStop = snap.state === 'paused' && chains.some((c) => c.manifest?.running?.stoppedDomain === true);
  return {
    domain,
    uuid: snap.uuid,
    state: snap.state,
    disks,
    checkpoints: snap.checkpointNames,
    jobActive: snap.jobActive,
    pausedByInterruptedRun,
    pausedByInterruptedStop,
    chains,
    chainFiles,
    checkpointCreated,
    ...(vmsnapChain ? { vmsnapChain } : {}),
    ...(options.failureNoteFile ? { failureNote: await readFailureNote(options.failureNoteFile) } : {}),
  };
}

/** A VMSnap chain's facts for adoption: its last checkpoint's saved creationTime, its disks, and the structure check of its files. */
async function readVmsnapChainFacts(view: ChainView, signal: AbortSignal): Promise<VmsnapChainFacts> {
  const chain = await chainFromView(view);
  const last = view.points.at(-1)?.checkpoint;
  const problems = await checkChainFiles(
    chain.dir,
    chain.points.flatMap((p) => p.files),
    { structure: true, signal },
  );
  // The structure check reads the files a point lists: a point with no data file for a disk lists none to check.
  for (const p of chain.points) {
    for (const d of chain.disks) {
      if (!p.files.some((f) => f.kind === 'data' && f.disk === d.target))
        problems.push({ file: p.checkpoint, kind: 'missing', message: `has no data file for ${d.target}` });
    }
  }
  return {
    folder: view.folder,
    lastCheckpointCreated: last === undefined ? undefined : await savedCheckpointCreated(view.dir, last),
    disks: chain.disks.map((d) => d.target),
    problems: problems.map(describeFileProblem),
  };
}

/** creationTime (epoch seconds) in `checkpoints/<name>.xml` of a chain folder; undefined when absent or unreadable. */
async function savedCheckpointCreated(dir: string, name: string): Promise<number | undefined> {
  try {
    const cp = parseCheckpointXml(await readFile(join(dir, 'checkpoints', `${name}.xml`), 'utf8'));
    return cp.creationTime === undefined ? undefined : cp.creationTime.getTime() / 1000;
  } catch {
    return undefined;
  }
}

export { domainDir };
