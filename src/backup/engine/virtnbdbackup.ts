/**
 * The virtnbdbackup engine (1.9.x in Debian 12, 2.x upstream). Long options only: `-S` means
 * --scratchdir in 1.9 and --start-domain in 2.x. The level is always explicit (never `auto`).
 * Cancelling sends SIGINT, on which virtnbdbackup aborts its libvirt job cleanly.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VmkeepError } from '../../errors.js';
import type { Runner } from '../../runner/runner.js';
import type { BackupEngine, EngineRequest, EngineResult } from './types.js';

/** argv for one run. */
export function virtnbdbackupArgv(req: EngineRequest): string[] {
  return [
    '--domain',
    req.domain,
    '--level',
    req.level,
    '--output',
    req.chainDir,
    '--uri',
    req.uri,
    '--socketfile',
    join(req.workDir, 'nbd.sock'),
    '--scratchdir',
    req.workDir,
    '--noprogress',
    ...(req.excludeDisks.length > 0 ? ['--exclude', req.excludeDisks.join(',')] : []),
    ...(req.compress ? ['--compress'] : []),
    ...(req.raw ? ['--raw'] : []),
  ];
}

/** `virtnbdbackup --version` → "1.9.15". */
export function parseVersion(stdout: string): string {
  const m = /(\d+\.\d+\.\d+)/.exec(stdout);
  if (!m) throw new VmkeepError('failure', `cannot read the virtnbdbackup version from ${JSON.stringify(stdout.trim())}`);
  return m[1]!;
}

/** "1234 bytes of data extents to backup" → 1234 (one line per disk). */
export function parseAnnouncedBytes(line: string): number | undefined {
  const m = /(\d+) bytes of data extents to backup/.exec(line);
  return m ? Number(m[1]) : undefined;
}

/** `<domain>.cpt`: virtnbdbackup's JSON list of the chain's checkpoints; throws when it is not one. */
export async function readCheckpointFile(chainDir: string, domain: string): Promise<string[]> {
  const path = join(chainDir, `${domain}.cpt`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new VmkeepError('failure', `${path} is not valid JSON`, { cause });
  }
  if (!Array.isArray(parsed)) throw new VmkeepError('failure', `${path} is not a JSON list`);
  return parsed.map(String);
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(join(dir, e.name), rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/**
 * Bytes this run has written so far: its `.data.partial` files and the `.data` files they were
 * renamed to (a disk that finished must not make the count drop back).
 */
async function writtenBytes(dir: string, before: ReadonlySet<string>): Promise<number> {
  let total = 0;
  for (const f of await listFiles(dir)) {
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

  constructor(private readonly runner: Runner) {}

  async version(): Promise<string> {
    const { stdout, stderr } = await this.runner.run('virtnbdbackup', ['--version'], { timeoutMs: 30_000 });
    return parseVersion(`${stdout}\n${stderr}`);
  }

  async run(req: EngineRequest): Promise<EngineResult> {
    const before = new Set(await listFiles(req.chainDir));
    const cptBefore = req.level === 'full' ? [] : await readCheckpointFile(req.chainDir, req.domain);
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
    try {
      await this.runner.run('virtnbdbackup', virtnbdbackupArgv(req), {
        timeoutMs: 24 * 3_600_000,
        // virtnbdbackup writes logs and qemu-*.log files into TMPDIR: keep them in the run's folder.
        env: { TMPDIR: req.workDir },
        cwd: req.workDir,
        cancelSignal: req.signal,
        killSignal: 'SIGINT',
        onStderrLine: (line) => {
          req.onLog?.(line);
          const announced = parseAnnouncedBytes(line);
          if (announced !== undefined) totalBytes += announced;
        },
      });
    } finally {
      clearInterval(timer);
      finished = true;
    }
    const after = await listFiles(req.chainDir);
    const newFiles = after.filter((f) => !before.has(f) && !f.endsWith('.partial')).sort();
    const checkpoints = await readCheckpointFile(req.chainDir, req.domain);
    const checkpoint = checkpoints.at(-1);
    // An exit 0 that made no new checkpoint or no data must not be recorded as a restore point.
    if (!checkpoint || checkpoints.length !== cptBefore.length + 1 || cptBefore.includes(checkpoint)) {
      throw new VmkeepError('failure', `virtnbdbackup exited 0 but added no checkpoint to ${req.domain}.cpt (it lists ${checkpoints.join(', ') || 'none'})`);
    }
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
