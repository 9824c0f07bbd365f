/**
 * The restic client: one method per question, argv arrays through the one runner, `--json`
 * parsed on the spot. The repository and its password file travel in the environment
 * (RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE), never in argv.
 */
import { format } from 'date-fns';
import { hostname } from 'node:os';
import { ToolError, VmkeepError } from '../errors.js';
import { formatShellCommand } from '../util/shell-quote.js';
import type { Runner } from '../runner/runner.js';
import {
  parseBackupSummary,
  parseDamagedPacks,
  parseRepositoryLock,
  type RepositoryLock,
  parseFindPack,
  parseSnapshots,
  type BackupSummary,
  type ResticSnapshot,
} from './parse.js';
import { VMKEEP_TAG, redactRepository } from './tags.js';

export interface ResticRepo {
  /** As restic takes it: a path, `sftp:...`, `rest:...`, `s3:...`, `rclone:...`. */
  repository: string;
  /** File holding the repository password (first line). */
  passwordFile: string;
  /** Extended options (`-o key=value`), e.g. `sftp.command=...`: never secrets. */
  options?: readonly string[];
}

const DAY_MS = 24 * 3_600_000;

export class ResticClient {
  constructor(
    private readonly runner: Runner,
    readonly repo: ResticRepo,
  ) {}

  private env(): Record<string, string> {
    // The password only ever as a file name; RESTIC_PASSWORD from the caller's environment must not win.
    return { RESTIC_REPOSITORY: this.repo.repository, RESTIC_PASSWORD_FILE: this.repo.passwordFile, RESTIC_PASSWORD: '', RESTIC_PASSWORD_COMMAND: '' };
  }

  private argv(command: readonly string[]): string[] {
    return [...(this.repo.options ?? []).flatMap((o) => ['-o', o]), ...command];
  }

  private async run(command: readonly string[], opts: { timeoutMs?: number; okExitCodes?: number[]; signal?: AbortSignal; input?: string } = {}) {
    try {
      return await this.runner.run('restic', this.argv(command), {
        env: this.env(),
        ...(opts.input !== undefined ? { input: opts.input } : {}),
        timeoutMs: opts.timeoutMs ?? 3_600_000,
        ...(opts.okExitCodes ? { okExitCodes: opts.okExitCodes } : {}),
        ...(opts.signal ? { cancelSignal: opts.signal, killSignal: 'SIGINT' as const } : {}),
      });
    } catch (e) {
      const lock = e instanceof ToolError ? parseRepositoryLock(e.stderr) : undefined;
      if (lock) throw this.lockedError(lock, e);
      throw e;
    }
  }

  /**
   * A refused lock, in vmkeep's words: restic's own text ("restic reported errors", exit 1)
   * reads like a damaged repository. A restic killed with vmkeep (kill -9, the OOM killer)
   * leaves its lock behind, and every later run is refused until someone clears it.
   */
  lockedError(lock: RepositoryLock, cause?: unknown): VmkeepError {
    const here = lock.host === hostname();
    const gone = here && !isAlive(lock.pid);
    // A password in a rest: URL is never printed; whoever holds it knows where it goes.
    const repository = redactRepository(this.repo.repository);
    const unlock = formatShellCommand(['restic', '-r', repository, '--password-file', this.repo.passwordFile, ...this.argv(['unlock'])]);
    const since = lock.createdAt ? ` since ${lock.createdAt}` : '';
    const message = gone
      ? `restic repository ${repository} holds a repository lock left by an interrupted run (restic pid ${lock.pid} on ${lock.host}${since} is gone): clear it with: ${unlock}`
      : `restic repository ${repository} is locked by restic pid ${lock.pid} on ${lock.host}${since}; if that run has ended, it is a repository lock left by an interrupted run: clear it with: ${unlock}`;
    return new VmkeepError('locked', message, { cause });
  }

  /** `restic version` → "0.14.0". */
  async version(): Promise<string> {
    const { stdout } = await this.runner.run('restic', ['version'], { timeoutMs: 30_000 });
    const m = /restic (\d+\.\d+\.\d+)/.exec(stdout);
    if (!m) throw new VmkeepError('failure', `cannot read the restic version from ${JSON.stringify(stdout.trim())}`);
    return m[1]!;
  }

  /** Create the repository unless it exists already (then nothing happens). */
  async initIfMissing(): Promise<'created' | 'exists'> {
    const r = await this.run(['init', '--json'], { okExitCodes: [1], timeoutMs: 300_000 });
    if (r.exitCode === 0) return 'created';
    if (/already exists|already initialized/i.test(r.stderr)) return 'exists';
    throw new VmkeepError('failure', `restic could not create the repository ${this.repo.repository}: ${r.stderr.trim().split('\n').at(-1) ?? ''}`, {
      detail: r.stderr,
    });
  }

  /** Every vmkeep snapshot in the repository (one `restic snapshots` call). */
  async vmkeepSnapshots(): Promise<ResticSnapshot[]> {
    const { stdout } = await this.run(['snapshots', '--json', '--tag', VMKEEP_TAG], { timeoutMs: 600_000 });
    return parseSnapshots(stdout);
  }

  /** One snapshot of exactly these files (absolute paths), handed over on stdin (`--files-from-verbatim -`). */
  async backup(req: {
    files: readonly string[];
    host: string;
    tags: readonly string[];
    time: Date;
    parent?: string;
    signal?: AbortSignal;
  }): Promise<BackupSummary> {
    const argv = ['backup', '--json', '--host', req.host, '--time', format(req.time, 'yyyy-MM-dd HH:mm:ss'), '--files-from-verbatim', '-'];
    for (const t of req.tags) argv.push('--tag', t);
    if (req.parent) argv.push('--parent', req.parent);
    const { stdout } = await this.run(argv, { timeoutMs: DAY_MS, input: `${req.files.join('\n')}\n`, ...(req.signal ? { signal: req.signal } : {}) });
    return parseBackupSummary(stdout);
  }

  /** Restore a snapshot (or only paths under `include`) into `target`; restic checks each blob's hash. */
  async restore(snapshotId: string, target: string, signal?: AbortSignal): Promise<void> {
    await this.run(['restore', snapshotId, '--target', target], { timeoutMs: DAY_MS, ...(signal ? { signal } : {}) });
  }

  /** `restic check` (with `--read-data-subset` when given): ok, damaged pack ids, and its output. */
  async check(readDataSubset: string | undefined): Promise<{ ok: boolean; damagedPacks: string[]; output: string }> {
    const argv = ['check', ...(readDataSubset === undefined ? [] : readDataSubset === '100%' ? ['--read-data'] : ['--read-data-subset', readDataSubset])];
    const r = await this.run(argv, { okExitCodes: [1], timeoutMs: DAY_MS });
    const output = `${r.stdout}\n${r.stderr}`;
    // Refused by a lock, check checked nothing: that is no verdict on the repository.
    const lock = r.exitCode === 0 ? undefined : parseRepositoryLock(r.stderr);
    if (lock) throw this.lockedError(lock);
    return { ok: r.exitCode === 0, damagedPacks: parseDamagedPacks(output), output };
  }

  /** Snapshot ids that hold blobs of a pack. */
  async snapshotsUsingPack(packId: string): Promise<string[]> {
    const { stdout } = await this.run(['find', '--json', '--pack', packId], { timeoutMs: DAY_MS });
    return parseFindPack(stdout);
  }

  /** Remove snapshots (by full id); data goes only with `prune`. */
  async forget(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.run(['forget', ...ids], { timeoutMs: 3_600_000 });
  }

  /** Remove data no snapshot references any more. */
  async prune(): Promise<void> {
    await this.run(['prune'], { timeoutMs: DAY_MS });
  }

  /** Bytes the repository stores (`stats --mode raw-data`): what dedup and compression leave. */
  async storedBytes(): Promise<number> {
    const { stdout } = await this.run(['stats', '--json', '--mode', 'raw-data'], { timeoutMs: 3_600_000 });
    const parsed = JSON.parse(stdout) as { total_size?: unknown };
    if (typeof parsed.total_size !== 'number') throw new VmkeepError('failure', 'restic stats --json printed no total_size');
    return parsed.total_size;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
