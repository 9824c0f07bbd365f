/**
 * What the product benchmarks share: the built CLI timed as cron runs it, bare tools timed the
 * same way, scratch folders QEMU can write into, guest writes, interleaved rounds, and the phase
 * breakdown a row's notes carry so a missed target shows where the time went.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { createTestDomain, removeTestDomain, virsh, writeGuestData, type CreateTestDomainOptions, type TestDomain } from '../test/helpers/libvirt.js';
import { median } from './row.js';

export const MiB = 1024 * 1024;
/** bin/vmkeep of this checkout (from dist-bench/bench/ or from bench/). */
export const BIN = fileURLToPath(new URL(import.meta.url.includes('/dist-bench/') ? '../../bin/vmkeep' : '../bin/vmkeep', import.meta.url));
export const SCRATCH = '/var/tmp/vmkeep-bench';

/** How big and how many: the sizes the issues name, or --quick's tiny ones that only prove the code runs. */
export interface BenchOptions {
  quick: boolean;
}

export interface Timed {
  ms: number;
  stdout: string;
  stderr: string;
}

/** Run a program (argv array, no shell), timing it; fail loudly on a non-zero exit. */
export function timed(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    execFile(file, [...args], { env: { ...process.env, ...env }, maxBuffer: 256 * MiB, timeout: 1_800_000 }, (error, stdout, stderr) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${String(stderr).slice(-2000)}`));
      else resolve({ ms, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The built CLI, as cron runs it: a fresh Node process. */
export const vmkeep = (args: readonly string[], env: Record<string, string> = {}) => timed(process.execPath, [BIN, ...args], env);

/** Write back every dirty page, so one run's writeback does not land on the next run's clock. */
export async function syncDisks(): Promise<void> {
  await timed('sync', []);
}

/** The scratch root, traversable by the QEMU user as a backup target folder is. */
export function ensureScratchRoot(): void {
  mkdirSync(SCRATCH, { recursive: true, mode: 0o711 });
  chmodSync(SCRATCH, 0o711);
}

/** A fresh folder under the scratch root that QEMU can reach (push writes its images as QEMU's user). */
export function scratchDir(prefix: string): string {
  ensureScratchRoot();
  const dir = mkdtempSync(join(SCRATCH, `${prefix}-`));
  chmodSync(dir, 0o711);
  return dir;
}

/** Write `mib` MiB into the running domain's vda through its virtio device, in 64 MiB writes of varying patterns. */
export async function fill(dom: TestDomain, offsetMiB: number, mib: number, pattern: number): Promise<void> {
  for (let done = 0; done < mib; done += 64) {
    const len = Math.min(64, mib - done);
    await writeGuestData(dom, 'vda', { pattern: (pattern + done / 64) % 256, offset: (offsetMiB + done) * MiB, length: len * MiB });
  }
}

/** Run both sides of a round, the order flipped every round; returns [a's result, b's result]. */
export async function interleaved<T>(round: number, a: () => Promise<T>, b: () => Promise<T>): Promise<[T, T]> {
  if (round % 2 === 0) {
    const x = await a();
    return [x, await b()];
  }
  const y = await b();
  return [await a(), y];
}

/** Every checkpoint of a domain, newest first, so the next run starts as a first backup would. */
export async function removeCheckpoints(dom: TestDomain): Promise<void> {
  const names = (await virsh(['checkpoint-list', dom.uuid, '--name', '--topological']))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  for (const n of names.reverse()) await virsh(['checkpoint-delete', dom.uuid, n]);
}

/** The host's busy and total CPU time so far, from /proc/stat (in clock ticks). */
function cpuTicks(): { busy: number; total: number } {
  // user nice system idle iowait irq softirq steal: guest and guest_nice, after them, are already
  // counted in user and nice.
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  // idle and iowait are the time no one wanted the CPU.
  return { busy: total - fields[3]! - (fields[4] ?? 0), total };
}

/**
 * Wait until the host has settled: at most `busyShare` of its CPU used over a 3 s window, or a
 * steady share (within 3 points of the window before, and at most half the CPU: what idle guests
 * use on their own, about 1 % of a core each under KVM here), or `maxMs` at the most. A guest
 * started without an OS spends a few seconds of CPU in its firmware (about 4 s each under KVM
 * here): fifty of them are a minute and more of both cores, and a run timed meanwhile measures
 * their boot, not vmkeep. Returns a phrase for the row's note.
 */
export async function settle(busyShare = 0.2, maxMs = 240_000): Promise<string> {
  const started = Date.now();
  let previous: number | undefined;
  for (;;) {
    const a = cpuTicks();
    await new Promise((r) => setTimeout(r, 3000));
    const b = cpuTicks();
    const share = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    const waited = ((Date.now() - started) / 1000).toFixed(0);
    const pct = `${Math.round(share * 100)} %`;
    if (share <= busyShare) return `timed once the host had settled (waited ${waited} s, then ${pct} of its CPU busy)`;
    if (previous !== undefined && Math.abs(share - previous) <= 0.03 && share <= 0.5)
      return `timed once the host had settled (waited ${waited} s, then a steady ${pct} of its CPU busy: the idle guests' own)`;
    if (Date.now() - started > maxMs) return `the host did not settle in ${waited} s (${pct} of its CPU still busy): busy figures`;
    previous = share;
  }
}

/** Create many test domains at once (each is a qemu-img create and a virsh define, and a start when asked). */
export async function createDomains(count: number, options: (i: number) => CreateTestDomainOptions, parallel = 8): Promise<TestDomain[]> {
  const limit = pLimit(parallel);
  return Promise.all(Array.from({ length: count }, (_, i) => limit(() => createTestDomain(options(i)))));
}

/** Remove domains at once (destroy, undefine, delete their files). */
export async function removeDomains(doms: readonly TestDomain[], parallel = 8): Promise<void> {
  const limit = pLimit(parallel);
  await Promise.all(doms.map((d) => limit(() => removeTestDomain(d))));
}

export const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
export const fmtRatio = (r: number) => `${r.toFixed(2)}×`;

/** One backup run's --json result for its (only) domain. */
export interface BackupResult {
  result: string;
  level?: string;
  engine?: string;
  engineReason?: string;
  durationMs?: number;
  dataBytes?: number;
  reason?: string;
  quiesced?: boolean;
  quiesceReason?: string;
  phases?: Array<{ name: string; ms: number }>;
}

/** `vmkeep backup ... --json` of one domain, timed; throws unless it recorded a point of the expected level. */
export async function backupOne(
  args: readonly string[],
  level: 'full' | 'inc',
  env: Record<string, string>,
): Promise<{ ms: number; result: BackupResult; stderr: string }> {
  const r = await vmkeep(['backup', ...args, '--json'], env);
  const doc = JSON.parse(r.stdout) as { results: BackupResult[] };
  const result = doc.results[0];
  if (result?.result !== 'done' || result.level !== level) throw new Error(`vmkeep backup did not record a ${level} point: ${r.stdout.slice(0, 2000)}`);
  return { ms: r.ms, result, stderr: r.stderr };
}

/**
 * "phases (median of 5): engine job 612 ms, checksums 301 ms, ...; outside the phases (Node's
 * start, loading the code, the virsh session) 248 ms": where a run's time went, so a missed
 * target says why. `runs` are the runs' phase lists, `wallMs` their whole times.
 */
export function describeRunPhases(runs: ReadonlyArray<ReadonlyArray<{ name: string; ms: number }> | undefined>, wallMs: readonly number[]): string {
  const lists = runs.filter((r): r is ReadonlyArray<{ name: string; ms: number }> => r !== undefined && r.length > 0);
  if (lists.length === 0) return 'no phases recorded';
  const names = [...new Set(lists.flatMap((l) => l.map((p) => p.name)))];
  const medians = names
    .map((name) => ({ name, ms: median(lists.map((l) => l.filter((p) => p.name === name).reduce((n, p) => n + p.ms, 0))) }))
    .filter((p) => p.ms >= 1)
    .sort((a, b) => b.ms - a.ms);
  const outside = median(lists.map((l, i) => (wallMs[i] ?? 0) - l.reduce((n, p) => n + p.ms, 0)));
  return `phases (median of ${lists.length}): ${medians.map((p) => `${p.name} ${fmtMs(p.ms)}`).join(', ')}; outside the phases (Node's start, loading the code, the virsh session, exit) ${fmtMs(outside)}`;
}
