/**
 * The virtnbdbackup engine (1.9.x in Debian 12, 2.x upstream). Long options only: `-S` means
 * --scratchdir in 1.9 and --start-domain in 2.x. The level is always explicit (never `auto`).
 * Cancelling sends SIGINT, on which virtnbdbackup aborts its libvirt job cleanly.
 */
import type { Env } from '../../app/context.js';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { isRemoteUri, uriHost, uriUser } from '../../app/hosts.js';
import { VmkeepError } from '../../errors.js';
import type { Runner } from '../../runner/runner.js';
import { installedToolVersion } from '../../virtnbd/tool-version.js';
import { buildBackupArgv, type RemoteArgs, type ToolVersion } from '../../virtnbd/argv.js';
import { listFilesRelative } from '../../util/list-files.js';
import { padCheckpointList, readCheckpointFile, writeCheckpointFile } from '../../virtnbd/backup-folder.js';
import { parseStderrLine } from '../../virtnbd/progress.js';
import type { BackupEngine, EngineRequest, EngineResult } from './types.js';

/** virtnbdbackup's default NBD port; concurrent jobs on one host get base + slot * NBD_PORT_STRIDE. */
export const NBD_PORT_BASE = 10809;
/** Room per job: an offline backup of a shut-off domain uses one port per disk from its base. */
export const NBD_PORT_STRIDE = 16;

/**
 * Remote-mode options for a URI that names another machine: ssh user from the URI (root by
 * default), the job's own NBD port, and the URI's host as NBD address when it is an IP literal
 * (a name may resolve to a loopback address on the hypervisor itself; then libvirtd's default is safer).
 */
export function remoteArgsFor(uri: string, slot: number): RemoteArgs | undefined {
  if (!isRemoteUri(uri)) return undefined;
  const host = uriHost(uri)!;
  return {
    sshUser: uriUser(uri) ?? 'root',
    nbdPort: NBD_PORT_BASE + slot * NBD_PORT_STRIDE,
    ...(isIP(host) !== 0 ? { nbdIp: host } : {}),
  };
}

/** argv for one run, built by the one virtnbdbackup argv builder (long options only). */
export function virtnbdbackupArgv(req: EngineRequest, version: ToolVersion, slot = 0): string[] {
  return buildBackupArgv(
    {
      uri: req.uri,
      domain: req.domain,
      level: req.level,
      outputDir: req.chainDir,
      socketFile: join(req.workDir, 'nbd.sock'),
      scratchDir: req.workDir,
      noProgress: true,
      exclude: req.excludeDisks,
      compress: req.compress,
      raw: req.raw,
      remote: remoteArgsFor(req.uri, slot),
    },
    version,
  );
}

/** "… bytes of data extents to backup" (1.9 and 2.x forms) → the bytes, one line per disk. */
function parseAnnouncedBytes(line: string): number | undefined {
  const event = parseStderrLine(line);
  return event.kind === 'data-size' ? event.bytes : undefined;
}

/**
 * Bytes this run has written so far: its `.data.partial` files and the `.data` files they were
 * renamed to (a disk that finished must not make the count drop back).
 */
async function writtenBytes(dir: string, before: ReadonlySet<string>): Promise<number> {
  let total = 0;
  for (const f of await listFilesRelative(dir, { regularOnly: true, missingOk: true })) {
    if (before.has(f) || !(f.endsWith('.data') || f.endsWith('.data.partial'))) continue;
    try {
      total += (await stat(join(dir, f))).size;
    } catch {
      // renamed between readdir and stat: counted under its new name next time
    }
  }
  return total;
}

export class VirtnbdbackupEngine implements BackupEngine {
  readonly name = 'virtnbdbackup' as const;
  readonly checkpointFamily = 'virtnbdbackup' as const;
  // virtnbdbackup refuses to run beside checkpoints it did not make.
  readonly acceptsForeignCheckpoints = false;
  // It freezes through the agent around its checkpoint and logs whether it could.
  readonly freezesGuest = true;

  private toolVersion: ToolVersion | undefined;

  /** NBD port slots in use by this engine's concurrent runs (remote mode: one port range each). */
  private readonly busySlots = new Set<number>();

  constructor(
    private readonly runner: Runner,
    private readonly env: Env,
  ) {}

  async version(): Promise<string> {
    return (await this.readVersion()).text;
  }

  /** The version once per engine (cached between runs): the argv depends on it (2.x takes --nocolor, 1.9 rejects it). */
  private async readVersion(): Promise<ToolVersion> {
    this.toolVersion ??= await installedToolVersion(this.runner, 'virtnbdbackup', this.env);
    return this.toolVersion;
  }

  async run(req: EngineRequest): Promise<EngineResult> {
    const before = new Set(await listFilesRelative(req.chainDir, { regularOnly: true, missingOk: true }));
    const recorded = req.level === 'full' ? [] : await readCheckpointFile(req.chainDir, req.domain);
    // After point merges the next name by count may be taken: virtnbdbackup gets a padded list.
    const cptBefore = padCheckpointList(recorded);
    const padded = cptBefore.length !== recorded.length;
    if (padded) await writeCheckpointFile(req.chainDir, req.domain, cptBefore);
    let totalBytes = 0;
    let doneBytes = 0;
    let finished = false;
    const timer = setInterval(() => {
      void writtenBytes(req.chainDir, before).then((written) => {
        if (finished) return;
        // Stream headers and zero frames make the files a little larger than the data.
        doneBytes = Math.max(doneBytes, Math.min(written, totalBytes));
        req.onProgress?.({ totalBytes, doneBytes });
      });
    }, 500);
    let slot = 0;
    while (this.busySlots.has(slot)) slot += 1;
    this.busySlots.add(slot);
    try {
      await this.runner.run('virtnbdbackup', virtnbdbackupArgv(req, await this.readVersion(), slot), {
        timeoutMs: 24 * 3_600_000,
        // virtnbdbackup writes logs and qemu-*.log files into TMPDIR: keep them in the run's folder.
        env: { TMPDIR: req.workDir },
        cwd: req.workDir,
        cancelSignal: req.signal,
        killSignal: 'SIGINT',
        onSpawn: (pid) => req.onChildStarted?.(pid, 'virtnbdbackup'),
        onStderrLine: (line) => {
          req.onLog?.(line);
          const announced = parseAnnouncedBytes(line);
          if (announced !== undefined) totalBytes += announced;
        },
      });
    } finally {
      this.busySlots.delete(slot);
      clearInterval(timer);
      finished = true;
    }
    const after = await listFilesRelative(req.chainDir, { regularOnly: true, missingOk: true });
    const newFiles = after.filter((f) => !before.has(f) && !f.endsWith('.partial')).sort();
    const listed = await readCheckpointFile(req.chainDir, req.domain);
    const checkpoint = listed.at(-1);
    // An exit 0 that made no new checkpoint or no data must not be recorded as a restore point.
    if (!checkpoint || listed.length !== cptBefore.length + 1 || cptBefore.includes(checkpoint)) {
      throw new VmkeepError('failure', `virtnbdbackup exited 0 but added no checkpoint to ${req.domain}.cpt (it lists ${listed.join(', ') || 'none'})`);
    }
    // The fillers go again (a crash before this is repaired by the next backup, as any .cpt that differs from the recorded points).
    const checkpoints = padded ? [...recorded, checkpoint] : listed;
    if (padded) await writeCheckpointFile(req.chainDir, req.domain, checkpoints);
    if (!newFiles.some((f) => f.endsWith('.data'))) {
      throw new VmkeepError('failure', `virtnbdbackup exited 0 but wrote no data file for checkpoint ${checkpoint}`);
    }
    req.onProgress?.({ totalBytes, doneBytes: totalBytes });
    return {
      checkpoint,
      parent: checkpoints.length > 1 ? checkpoints.at(-2) : undefined,
      newFiles,
      dataBytes: totalBytes,
    };
  }
}
