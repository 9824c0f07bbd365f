/**
 * virtnbdrestore, as vmkeep drives it: one disk per run, always with an explicit `--sequence`,
 * long options only, and an input folder vmkeep stages itself.
 *
 * Why a staged input (a private folder of symlinks) instead of the chain folder:
 * - virtnbdrestore picks the qcow2 options file and the domain XML by newest modification time;
 *   the staging folder holds exactly the point's qcow.json and nothing else to choose from;
 * - after the disk, it copies the loader/nvram/kernel/initrd named in the domain XML *to their
 *   original paths* when those do not exist (a write outside the target folder) and crashes when
 *   the backup has no copy; the staged domain XML is a stub without an <os> element, so it does
 *   neither. vmkeep writes the real, adjusted domain XML itself (see domain-xml.ts).
 *
 * 1.9.15 facts this relies on: `--sequence` takes names relative to `--input`, the first must
 * contain "full" or "copy"; the image is written to `<output>/<diskName>` (the target dev, no
 * extension); `--until` is not honoured with a sequence (it ends in a traceback, exit 1); a
 * missing or truncated stream in a sequence fails with exit 1 (without a sequence the same error
 * is logged and the run exits 0). The qemu-nbd it forks can hold the image lock for about a
 * second after it returns: waitForImageRelease covers that.
 */
import type { Env } from '../app/context.js';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ToolError, VmkeepError } from '../errors.js';
import { endProcesses, findProcessesWithArg } from '../runner/processes.js';
import type { Runner } from '../runner/runner.js';
import { buildRestoreArgv } from '../virtnbd/argv.js';
import { installedToolVersion } from '../virtnbd/tool-version.js';

export interface VirtnbdrestoreRun {
  /** Folder holding the data files (the staging folder). */
  input: string;
  /** Folder virtnbdrestore creates and writes `<disk>` into. */
  output: string;
  /** Data file names relative to `input`, in chain order. */
  sequence: readonly string[];
  socketFile: string;
  logFile: string;
  uri: string;
}

/** First version of virtnbdbackup whose restore tool has `--action verify`. */
export const CHECKSUM_VERIFY_SINCE = '1.9.40';

/** Compare dotted versions numerically: -1, 0, 1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** The stub domain XML given to virtnbdrestore: no <os>, so no boot files are copied anywhere. */
export const STUB_CONFIG = '<domain type="kvm"><name>vmkeep-restore-input</name></domain>\n';

/**
 * Make the private input folder for one disk: symlinks to exactly the sequence's data files and
 * the point's qcow.json, and the stub domain XML.
 */
export async function stageInput(stageDir: string, chainDir: string, sequence: readonly string[], qcowInfo: string | undefined): Promise<string[]> {
  await mkdir(stageDir, { recursive: true, mode: 0o700 });
  const names: string[] = [];
  for (const rel of sequence) {
    const name = basename(rel);
    await symlink(join(chainDir, rel), join(stageDir, name));
    names.push(name);
  }
  if (qcowInfo !== undefined) await symlink(join(chainDir, qcowInfo), join(stageDir, basename(qcowInfo)));
  await writeFile(join(stageDir, 'vmconfig.vmkeep-stub.xml'), STUB_CONFIG, { mode: 0o600 });
  return names;
}

export interface RestoreRunOptions {
  /** Private folder for TMPDIR and the cwd. */
  workDir: string;
  signal: AbortSignal;
  /** The run's environment: where virtnbdrestore is (PATH) and its version cache. */
  env: Env;
  onLog?: (line: string) => void;
  /** Told when a helper process the tool left behind had to be ended. */
  onEnded?: (message: string) => void;
}

/** Run virtnbdrestore for one disk. */
export async function runVirtnbdrestore(runner: Runner, run: VirtnbdrestoreRun, options: RestoreRunOptions): Promise<void> {
  const argv = buildRestoreArgv(
    {
      inputDir: run.input,
      outputDir: run.output,
      sequence: run.sequence,
      socketFile: run.socketFile,
      logFile: run.logFile,
      uri: run.uri,
      noProgress: true,
    },
    await installedToolVersion(runner, 'virtnbdrestore', options.env),
  );
  try {
    await runner.run('virtnbdrestore', argv, {
      timeoutMs: 24 * 3_600_000,
      env: { TMPDIR: options.workDir },
      cwd: options.workDir,
      cancelSignal: options.signal,
      // Like virtnbdbackup, it stops cleanly on SIGINT.
      killSignal: 'SIGINT',
      onStderrLine: options.onLog,
    });
  } finally {
    await endRestoreNbdServer(run, options);
  }
}

/**
 * virtnbdrestore starts `qemu-nbd --fork` on the run's socket, and that daemon ends only when
 * its last client disconnects: interrupted between the fork and the connection (or killed),
 * virtnbdrestore leaves it running, holding the image (a deleted file once the temp folder is
 * removed) and the socket. It forked away, so it is found by the socket path, which is unique to
 * this run; after a normal end it goes by itself within about a second.
 */
async function endRestoreNbdServer(run: VirtnbdrestoreRun, options: RestoreRunOptions): Promise<void> {
  const pids = findProcessesWithArg(run.socketFile);
  if (pids.length === 0) return;
  const ended = await endProcesses(pids, { graceMs: options.signal.aborted ? 0 : 3_000 });
  if (ended.length > 0) options.onEnded?.(`ended qemu-nbd (pid ${ended.join(', ')}) that virtnbdrestore left serving ${run.output}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until no process holds the image's lock (qemu-img info without --force-share succeeds):
 * virtnbdrestore returns while its qemu-nbd may still hold the image for about a second.
 */
export async function waitForImageRelease(runner: Runner, path: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const r = await runner.run('qemu-img', ['info', '--output=json', path], { timeoutMs: 30_000, okExitCodes: [1] });
      if (r.exitCode === 0) return;
      last = r.stderr.trim();
    } catch (e) {
      if (!(e instanceof ToolError)) throw e;
      last = e.message;
    }
    if (Date.now() >= deadline) {
      throw new VmkeepError('failure', `restored image ${path} is still locked ${Math.round(timeoutMs / 1000)} s after virtnbdrestore ended: ${last}`);
    }
    await sleep(100);
  }
}
