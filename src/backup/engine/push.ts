/**
 * The push engine: libvirt's own backup API in push mode. QEMU writes each disk of a restore
 * point into a qcow2 file in the chain folder: a full into a new image, an incremental into an
 * overlay whose backing file is the previous point's image, named relative to the folder, so a
 * repository can be moved or copied. The checkpoint is created atomically with the job.
 *
 * Names: checkpoint `vmkeep.<chain id>.<n>` (n = 0 for the full), one random chain id per
 * chain so two chains never share a name; per disk `<disk>.<checkpoint>.qcow2`, and the domain
 * definition `vmconfig.<checkpoint>.xml`. A file naming a checkpoint the manifest never recorded
 * is a leftover of an interrupted run.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ToolError, VmkeepError } from '../../errors.js';
import { describeQemuReachProblem, findQemuReachProblem, openChainToQemu, qemuPidOf, type QemuReachProblem } from '../../repository/qemu-access.js';
import { isRemoteUri } from '../../app/hosts.js';
import { markExplained } from '../classify-failure.js';
import type { BlockNode } from '../../qemu/parse-qmp.js';
import type { QemuImgClient } from '../../qemu/qemu-img.js';
import type { VirshClient } from '../../virsh/client.js';
import type { JobStats } from '../../virsh/parse-lists.js';
import type { BackupEngine, EngineRequest, EngineResult } from './types.js';
import { pathExists } from '../../util/path-exists.js';
import { prestartDigestThreads } from '../../util/chunk-digest.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long after the job's start it is asked about at the shortest interval. */
const FAST_POLL_FOR_MS = 500;

/** How long QEMU may keep a finished job's images open before the run gives up on the point. */
const RELEASE_TIMEOUT_MS = 60_000;

const CHECKPOINT_RE = /^vmkeep\.([0-9a-f]{8})\.(\d+)$/;

/** The checkpoint a run creates: a new chain id for a full, the next number after `previous` for an incremental. */
export function nextCheckpointName(level: 'full' | 'inc', previous: string | undefined, newChainId: () => string): string {
  if (level === 'full') return `vmkeep.${newChainId()}.0`;
  const m = previous === undefined ? null : CHECKPOINT_RE.exec(previous);
  if (!m) throw new VmkeepError('failure', `an incremental push backup needs the chain's last point, a vmkeep.<id>.<n> checkpoint (got ${previous ?? 'none'})`);
  return `vmkeep.${m[1]!}.${Number(m[2]) + 1}`;
}

/** The image of one disk at one point, relative to the chain folder. */
export function pointImageName(disk: string, checkpoint: string): string {
  return `${disk}.${checkpoint}.qcow2`;
}

/** The domain definition saved with a point. */
export function pointConfigName(checkpoint: string): string {
  return `vmconfig.${checkpoint}.xml`;
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

/** The `<domainbackup>` document: every disk named, copied ones with their target file. */
export function backupXml(args: { incremental: string | undefined; disks: ReadonlyArray<{ target: string; file: string | undefined }> }): string {
  const disks = args.disks.map((d) =>
    d.file === undefined
      ? `    <disk name='${escapeXml(d.target)}' backup='no'/>`
      : `    <disk name='${escapeXml(d.target)}' backup='yes' type='file'>\n      <target file='${escapeXml(d.file)}'/>\n      <driver type='qcow2'/>\n    </disk>`,
  );
  const inc = args.incremental === undefined ? '' : `  <incremental>${escapeXml(args.incremental)}</incremental>\n`;
  return `<domainbackup mode='push'>\n${inc}  <disks>\n${disks.join('\n')}\n  </disks>\n</domainbackup>\n`;
}

/** The `<domaincheckpoint>` created with the job: a bitmap on every copied disk, none elsewhere. */
export function checkpointXml(name: string, disks: ReadonlyArray<{ target: string; copied: boolean }>): string {
  const lines = disks.map((d) => `    <disk name='${escapeXml(d.target)}' checkpoint='${d.copied ? 'bitmap' : 'no'}'/>`);
  return `<domaincheckpoint>\n  <name>${escapeXml(name)}</name>\n  <disks>\n${lines.join('\n')}\n  </disks>\n</domaincheckpoint>\n`;
}

/** `virsh version` → "libvirt 9.0.0, QEMU 7.2.0". */
export function parseLibvirtVersions(stdout: string): string | undefined {
  const lib = /Using library: libvirt (\S+)/.exec(stdout)?.[1];
  const hv = /Running hypervisor: QEMU (\S+)/.exec(stdout)?.[1];
  if (!lib) return undefined;
  return hv ? `libvirt ${lib}, QEMU ${hv}` : `libvirt ${lib}`;
}

export interface PushEngineOptions {
  /** Polling interval bounds for domjobinfo while the job runs (ms). */
  pollMinMs?: number;
  pollMaxMs?: number;
  /** How long QEMU may keep a finished job's images open before the run gives up on the point (ms). */
  releaseTimeoutMs?: number;
  newChainId?: () => string;
}

export class PushEngine implements BackupEngine {
  readonly name = 'push' as const;
  readonly checkpointFamily = 'vmkeep' as const;
  // libvirt keeps other checkpoints' bitmaps beside ours; push mode does not mind them.
  readonly acceptsForeignCheckpoints = true;
  // libvirt's backup-begin freezes nothing: vmkeep freezes around it (EngineRequest.atPoint).
  readonly freezesGuest = false;

  private readonly pollMinMs: number;
  private readonly pollMaxMs: number;
  private readonly releaseTimeoutMs: number;
  private readonly newChainId: () => string;

  constructor(
    private readonly virsh: VirshClient,
    private readonly qemuImg: QemuImgClient,
    options: PushEngineOptions = {},
  ) {
    this.pollMinMs = options.pollMinMs ?? 10;
    this.pollMaxMs = options.pollMaxMs ?? 100;
    this.releaseTimeoutMs = options.releaseTimeoutMs ?? RELEASE_TIMEOUT_MS;
    this.newChainId = options.newChainId ?? (() => randomBytes(4).toString('hex'));
  }

  async version(): Promise<string> {
    const text = await this.virsh.versionText();
    const parsed = parseLibvirtVersions(text);
    if (!parsed) throw new VmkeepError('failure', `cannot read the libvirt version from ${JSON.stringify(text.trim())}`);
    return parsed;
  }

  /**
   * QEMU writes the images, as its own user and in its own mount namespace: check it can reach
   * the output folder before anything is repaired or created. Only on this host (a remote QEMU's
   * /proc is not here); where nothing can be told, the job itself says.
   */
  async checkOutput(domain: string, uri: string, output: string): Promise<void> {
    if (isRemoteUri(uri)) return;
    const pid = await qemuPidOf(domain);
    const problem = pid === undefined ? undefined : await findQemuReachProblem(pid, output);
    if (problem) throw reachError(problem, domain, output, 'nothing was changed');
  }

  // eslint-disable-next-line max-lines-per-function -- one libvirt push job from begin to end; its failure cleanup needs every step's state in one try/finally
  async run(req: EngineRequest): Promise<EngineResult> {
    const checkpoint = nextCheckpointName(req.level, req.previous, this.newChainId);
    const parent = req.level === 'inc' ? req.previous : undefined;
    const targets = req.diskTargets ?? (await this.virsh.domain(req.domain)).disks.map((d) => d.target);
    const disks = targets.map((target) => {
      const copied = !req.excludeDisks.includes(target);
      return {
        target,
        copied,
        file: copied ? pointImageName(target, checkpoint) : undefined,
        backing: copied && parent ? pointImageName(target, parent) : undefined,
      };
    });
    const copied = disks.filter((d) => d.copied);
    if (copied.length === 0) throw new VmkeepError('failure', `${req.domain} has no disk to back up`);
    for (const d of copied) {
      if (await pathExists(join(req.chainDir, d.file!))) {
        throw new VmkeepError('failure', `${join(req.chainDir, d.file!)} exists already: an earlier run left it; run the backup again to repair the chain`);
      }
    }

    const created: string[] = [];
    const xmlDir = await mkdtemp(join(req.workDir, 'push-'));
    await chmod(xmlDir, 0o700);
    const reopen = await openChainToQemu(req.chainDir);
    let begun = false;
    try {
      created.push(...copied.map((d) => d.file!));
      await Promise.all([
        // Statistics of an earlier job would pass for this one's.
        this.virsh.jobStats(req.domain, true).catch(() => undefined),
        // libvirt creates a full's images itself; an incremental's are overlays on the previous
        // point's, by a relative name, so the chain keeps working wherever the folder goes.
        ...(parent ? copied.map((d) => this.qemuImg.createOverlay(join(req.chainDir, d.file!), d.backing!)) : []),
      ]);
      const backupFile = join(xmlDir, 'backup.xml');
      const checkpointFile = join(xmlDir, 'checkpoint.xml');
      await writeFile(
        backupFile,
        backupXml({
          incremental: parent,
          disks: disks.map((d) => ({ target: d.target, file: d.file === undefined ? undefined : join(req.chainDir, d.file) })),
        }),
        { mode: 0o600 },
      );
      await writeFile(checkpointFile, checkpointXml(checkpoint, disks), { mode: 0o600 });
      if (req.signal.aborted) throw interrupted(req.domain);
      // With --quiesce the guest is frozen around this call only: the job's start is the point in time.
      const atPoint = req.atPoint ?? (<T>(begin: () => Promise<T>) => begin());
      await atPoint(async () => {
        try {
          await this.virsh.backupBegin(req.domain, backupFile, checkpointFile, parent !== undefined);
        } catch (error) {
          throw await explainBeginFailure(req, error);
        }
        begun = true;
      });
      req.onLog?.(`push backup ${checkpoint} started (${copied.map((d) => d.file!).join(', ')})`);
      // A full's images are hashed on every core right after the job (checksum-files.ts): the
      // threads start while QEMU copies, not after. An incremental's few megabytes need none.
      if (!parent) prestartDigestThreads();
      const final = await this.waitForJob(req);
      if (final.state !== 'completed') {
        throw new VmkeepError(
          'failure',
          `the push backup job of ${req.domain} ${final.state === 'cancelled' ? 'was cancelled' : 'failed'}${final.error ? `: ${final.error}` : ''}`,
        );
      }
      await waitForRelease(
        this.virsh,
        req,
        copied.map((d) => join(req.chainDir, d.file!)),
        { pollMinMs: this.pollMinMs, pollMaxMs: this.pollMaxMs, timeoutMs: this.releaseTimeoutMs },
      );
      await restrictFiles(
        req.chainDir,
        copied.map((d) => d.file!),
      );
      const config = pointConfigName(checkpoint);
      created.push(config);
      const [xml, ...sizes] = await Promise.all([
        this.virsh.domainXml(req.domain, true),
        ...copied.map((d) => this.qemuImg.ownDataBytes(join(req.chainDir, d.file!))),
      ]);
      await writeFile(join(req.chainDir, config), xml, { mode: 0o600 });
      const dataBytes = sizes.reduce((a, b) => a + b, 0);
      req.onProgress?.({ totalBytes: dataBytes, doneBytes: dataBytes });
      return { checkpoint, parent, newFiles: [...copied.map((d) => d.file!), config].sort(), dataBytes };
    } catch (error) {
      await this.undo(req, checkpoint, begun, created);
      throw error;
    } finally {
      await reopen();
      await rm(xmlDir, { recursive: true, force: true });
    }
  }

  /** Poll the job until it ends; cancel it on the signal. Returns the finished job's statistics. */
  private async waitForJob(req: EngineRequest): Promise<JobStats> {
    let pollMs = this.pollMinMs;
    let aborted = false;
    let stuckSince: number | undefined;
    let first = true;
    const begunAt = performance.now();
    for (;;) {
      if (req.signal.aborted && !aborted) {
        aborted = true;
        await this.virsh.abortJob(req.domain).catch(() => undefined);
      }
      // Completed statistics were cleared before the job began: any now are this job's. A short
      // job is over by the first question, so that one asks for them first.
      if (first) {
        first = false;
        const done = await this.virsh.jobStats(req.domain, true);
        if (done.state !== 'none') {
          if (aborted) throw interrupted(req.domain);
          return done;
        }
      }
      const stats = await this.virsh.jobStats(req.domain);
      if (stats.state !== 'active') {
        // Ended between the two questions: its statistics are there now.
        const late = await this.virsh.jobStats(req.domain, true);
        if (aborted) throw interrupted(req.domain);
        if (late.state === 'none') throw new VmkeepError('failure', `the push backup job of ${req.domain} ended, but libvirt reports no result for it`);
        return late;
      }
      if (stats.totalBytes !== undefined) req.onProgress?.({ totalBytes: stats.totalBytes, doneBytes: stats.processedBytes ?? 0 });
      // libvirt 9.0 may keep reporting a job QEMU has finished; all bytes written is the end.
      if (stats.totalBytes !== undefined && stats.processedBytes === stats.totalBytes && !aborted) {
        stuckSince ??= Date.now();
        if (Date.now() - stuckSince > 10_000) {
          req.onLog?.('the backup job wrote every byte but libvirt still reports it: treating it as finished');
          return { ...stats, state: 'completed' };
        }
      } else stuckSince = undefined;
      await sleep(pollMs);
      // An incremental's job is over in about 0.1 s: a question every 10 ms (about a millisecond
      // of a session each) for the first half second, so a short job is not waited on for up to
      // another 80 ms; a longer job is asked less and less often.
      if (performance.now() - begunAt > FAST_POLL_FOR_MS) pollMs = Math.min(pollMs * 2, this.pollMaxMs);
    }
  }

  /** After a failure: end the job, drop the new checkpoint and files. The next run repairs whatever this misses. */
  private async undo(req: EngineRequest, checkpoint: string, begun: boolean, created: readonly string[]): Promise<void> {
    if (begun) {
      try {
        if ((await this.virsh.jobStats(req.domain)).state === 'active') {
          await this.virsh.abortJob(req.domain);
          for (let i = 0; i < 100 && (await this.virsh.jobStats(req.domain)).state === 'active'; i += 1) await sleep(100);
        }
      } catch {
        // the domain may have stopped: no job then
      }
      if ((await this.virsh.checkpointNames(req.domain).catch(() => [] as string[])).includes(checkpoint)) {
        // Its bitmap merges into the parent's: the next incremental still sees every change.
        await this.virsh.deleteCheckpoint(req.domain, checkpoint).catch((e: unknown) => req.onLog?.(`could not delete checkpoint ${checkpoint}: ${String(e)}`));
      }
    }
    for (const f of created) await rm(join(req.chainDir, f), { force: true });
  }
}

/** The files among `files` that QEMU still has a block node open on (each once, in `files`' order). */
export function imagesHeld(nodes: readonly BlockNode[], files: readonly string[]): string[] {
  return files.filter((f) => nodes.some((n) => n.file === f));
}

/**
 * Wait until QEMU has let go of the point's images. libvirt reports the job completed before
 * it removes (and so flushes and closes) the target block nodes: until then QEMU may hold an
 * image's newest qcow2 tables in memory, and a reader of the file (the size, the checksums)
 * sees clusters unallocated. Seen: an incremental of 6 MiB recorded with 0 bytes.
 */
export async function waitForRelease(
  virsh: Pick<VirshClient, 'blockNodes'>,
  req: Pick<EngineRequest, 'domain' | 'onLog'>,
  files: readonly string[],
  wait: { pollMinMs: number; pollMaxMs: number; timeoutMs: number },
): Promise<void> {
  const started = Date.now();
  const deadline = started + wait.timeoutMs;
  for (let pollMs = wait.pollMinMs, polls = 0; ; pollMs = Math.min(pollMs * 2, wait.pollMaxMs), polls += 1) {
    // No answer: QEMU is gone (the domain stopped), and its files with it.
    const held = imagesHeld(await virsh.blockNodes(req.domain).catch(() => []), files);
    if (held.length === 0) {
      if (polls > 0) req.onLog?.(`waited ${Date.now() - started} ms for QEMU to close the point's images after the job ended`);
      return;
    }
    if (Date.now() > deadline) {
      throw new VmkeepError(
        'failure',
        `QEMU still holds ${held.join(', ')} of ${req.domain} ${wait.timeoutMs / 1000} s after its push backup job ended; the image may not be complete on disk, so the point was not recorded`,
      );
    }
    await sleep(pollMs);
  }
}

function interrupted(domain: string): VmkeepError {
  return new VmkeepError('interrupted', `push backup of ${domain} cancelled`);
}

/**
 * backup-begin's failures that mean QEMU cannot reach the chain folder, in vmkeep's words:
 * "Permission denied" (a folder on the way QEMU's user cannot traverse), and "No such file or
 * directory" for a folder vmkeep sees (QEMU's mount namespace lacks a later mount).
 */
async function explainBeginFailure(req: EngineRequest, error: unknown): Promise<unknown> {
  if (!(error instanceof ToolError)) return error;
  const denied = /Permission denied/i.test(error.stderr);
  const missing = /Could not open .*No such file or directory/i.test(error.stderr) && (await pathExists(req.chainDir));
  if (!denied && !missing) return error;
  const pid = isRemoteUri(req.uri) ? undefined : await qemuPidOf(req.domain);
  const problem = pid === undefined ? undefined : await findQemuReachProblem(pid, req.chainDir);
  if (problem) return reachError(problem, req.domain, req.chainDir, 'the run was undone', error);
  const message = denied
    ? `QEMU (user libvirt-qemu) cannot write into ${req.chainDir}: every folder above it must be traversable (chmod o+x), or use --engine virtnbdbackup; the run was undone`
    : `QEMU cannot open its target in ${req.chainDir}, which vmkeep sees: a file system mounted after the domain started is not visible to its QEMU (own mount namespace). Restart the domain, use --engine virtnbdbackup, or mount backup disks before starting VMs; the run was undone`;
  return markExplained(new VmkeepError('failure', message, { cause: error, detail: error.detail ?? error.stderr }));
}

function reachError(problem: QemuReachProblem, domain: string, folder: string, outcome: string, cause?: unknown): VmkeepError {
  return markExplained(new VmkeepError('failure', `${describeQemuReachProblem(problem, domain, folder)}; ${outcome}`, cause === undefined ? {} : { cause }));
}

/** The job's images are the backup: root's alone once it ends (an overlay made by qemu-img is 0644). */
async function restrictFiles(chainDir: string, files: readonly string[]): Promise<void> {
  for (const f of files) await chmod(join(chainDir, f), 0o600);
}
