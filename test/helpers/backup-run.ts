/**
 * Shared pieces of the `vmkeep backup` integration tests: running the CLI with a private lock
 * folder, and reading back what a run left (chain folders, manifests, libvirt checkpoints, QEMU
 * bitmaps) without vmkeep's own readers.
 */
import type { DomainResult } from '../../src/backup/run-backup.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseJsonOutput, runVmkeep, type CliRun } from './cli.js';
import { afterAll } from 'vitest';
import { cleanupAll, liveBitmaps, virsh, type TestDomain } from './libvirt.js';

export const MiB = 1024 * 1024;

/** A private per-domain lock folder, so tests never meet /run/lock/vmkeep of a real run. */
export function makeLockDir(): string {
  return fs.mkdtempSync('/var/tmp/vmkeep-test-locks-');
}

/**
 * For a test file: a private lock folder for all its runs, removed after its tests together with
 * every test domain they made (call at the top level of the file).
 */
export function useLockDirAndCleanup(): string {
  const dir = makeLockDir();
  afterAll(async () => {
    await cleanupAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

export interface BackupDocument {
  dryRun: boolean;
  output: string;
  groupBy: string;
  /** The result type the CLI prints (src/backup/run-backup.ts), not a copy of it. */
  results: DomainResult[];
}

/** `vmkeep backup ARGS` with the private lock folder and optional VMKEEP_NOW. */
export function backupCli(args: readonly string[], env: { lockDir: string; now?: string; extra?: Record<string, string>; engine?: 'auto' }): Promise<CliRun> {
  return runVmkeep(['backup', ...args], {
    env: { VMKEEP_LOCK_DIR: env.lockDir, ...(env.now ? { VMKEEP_NOW: env.now } : {}), ...env.extra },
    timeoutMs: 600_000,
    ...(env.engine ? { engine: env.engine } : {}),
  });
}

/** A successful `--json` backup's document, failing with the whole output otherwise. */
export function expectDocument(run: CliRun, code = 0): BackupDocument {
  if (run.code !== code) throw new Error(`expected exit ${code}, got ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return parseJsonOutput<BackupDocument>(run);
}

/** Chain folder names of a domain, sorted. */
export function chainFolders(output: string, domain: string): string[] {
  const dir = path.join(output, domain);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** The chain's vmkeep-manifest.json as plain JSON. */
export function readManifestJson(chainDir: string): {
  state: string;
  running?: unknown;
  points: Array<{ checkpoint: string; level: string; files: Array<{ path: string }> }>;
  events: Array<{ kind: string; message: string }>;
} {
  return JSON.parse(fs.readFileSync(path.join(chainDir, 'vmkeep-manifest.json'), 'utf8'));
}

/** libvirt's checkpoint names for the domain, oldest first. */
export async function checkpointNames(domain: TestDomain): Promise<string[]> {
  return (await virsh(['checkpoint-list', domain.uuid, '--name', '--topological']))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Names of the bitmaps QEMU holds on a disk's qcow2 node (running domain). */
export async function qemuBitmapNames(domain: TestDomain, target = 'vda'): Promise<string[]> {
  const disk = domain.disks.find((d) => d.target === target)!;
  const nodes = await liveBitmaps(domain);
  return nodes
    .filter((n) => n.driver === 'qcow2' && n.file === disk.path)
    .flatMap((n) => n.bitmaps.map((b) => b.name))
    .sort();
}

/** Every file under `dir` with size and mtime: to prove a run changed nothing. */
export function snapshotTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const s = fs.statSync(p);
      if (e.isDirectory()) {
        out.push(`${r}/`);
        walk(p, r);
      } else out.push(`${r} ${s.size} ${s.mtimeMs}`);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** Is a job (backup) active on the domain? */
export async function jobActive(domain: TestDomain): Promise<boolean> {
  const out = await virsh(['domjobinfo', domain.uuid]);
  return !/Job type:\s+None/.test(out);
}
