/**
 * `vmkeep report` over a generated output folder: 500 domains × 400 daily points (monthly chains
 * of manifests, data files sparse at their recorded sizes so nothing reads as damaged). Times
 * the built CLI from start to the renamed file, and measures the file. Targets: ≤ 3 s, ≤ 5 MB.
 * Then the same folder with a boot proof on every domain's newest point, each with the recorded
 * console screenshot of fixtures/boot-proof (the kernel's log: the densest thumbnail recorded) and
 * its thumbnail beside it, as verify --boot keeps them.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, openSync, closeSync, ftruncateSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { THUMBNAIL_FILE } from '../src/repository/boot-evidence.js';
import { writeManifest, type ChainManifest } from '../src/repository/manifest.js';
import { makeThumbnail } from '../src/util/png-thumbnail.js';
import { median, type BenchRow } from './row.js';

const DAY = 86_400_000;
const SHA = '0'.repeat(64);

/** A console screenshot `verify --boot --screenshot` kept (fixtures/boot-proof/capture.sh). */
const SCREENSHOT = new URL(
  '../../fixtures/boot-proof/ok/vmkeep-scratch-bootproof/vmsnap-backup-monthly-2026-12/.boot-verify/vmkeep.f9042576.0/screenshot.png',
  import.meta.url,
).pathname;

/** `bootProofs`: give each domain's newest point a boot proof with SCREENSHOT, an hour after it. */
export async function generate(output: string, domains: number, points: number, start: number, bootProofs = false): Promise<void> {
  const thumbnail = makeThumbnail(readFileSync(SCREENSHOT)).png;
  for (let d = 0; d < domains; d++) {
    const domain = `bench-vm-${String(d).padStart(3, '0')}`;
    const byMonth = new Map<string, Array<{ t: number; i: number }>>();
    for (let i = 0; i < points; i++) {
      const t = start + i * DAY;
      const key = new Date(t).toISOString().slice(0, 7);
      byMonth.set(key, [...(byMonth.get(key) ?? []), { t, i }]);
    }
    let sequence = 1;
    for (const [month, ps] of byMonth) {
      const dir = join(output, domain, `vmsnap-backup-monthly-${month}`);
      mkdirSync(dir, { recursive: true });
      const manifestPoints = ps.map((p, k) => {
        const level = k === 0 ? ('full' as const) : ('inc' as const);
        const size = level === 'full' ? 2_000_000_000 + d * 1000 : 20_000_000 + ((p.i * 7919) % 5_000_000);
        const path = `vda.${level === 'full' ? 'full' : 'inc'}.virtnbdbackup.${k}.data`;
        const fd = openSync(join(dir, path), 'w');
        ftruncateSync(fd, size); // sparse: the recorded size, no blocks
        closeSync(fd);
        return {
          checkpoint: `virtnbdbackup.${k}`,
          ...(k > 0 ? { parent: `virtnbdbackup.${k - 1}` } : {}),
          time: new Date(p.t).toISOString(),
          sequence: sequence++,
          level,
          protected: false,
          dataBytes: size,
          durationMs: 1000 + (p.i % 50) * 100,
          files: [{ path, disk: 'vda', kind: 'data', size, sha256: SHA }],
        };
      });
      const last = month === [...byMonth.keys()].at(-1) ? manifestPoints.at(-1)! : undefined;
      const evidence = last && `.boot-verify/${last.checkpoint}`;
      if (bootProofs && evidence) {
        mkdirSync(join(dir, evidence), { recursive: true });
        copyFileSync(SCREENSHOT, join(dir, evidence, 'screenshot.png'));
        // As verify --boot keeps it now: the report's thumbnail beside the screenshot.
        writeFileSync(join(dir, evidence, THUMBNAIL_FILE), thumbnail);
      }
      const manifest: ChainManifest = {
        format: 'vmkeep-chain/1',
        domain,
        engine: d % 2 === 0 ? 'virtnbdbackup' : 'push',
        toolVersions: {},
        createdAt: manifestPoints[0]!.time,
        updatedAt: manifestPoints.at(-1)!.time,
        state: 'complete',
        protected: false,
        disks: [{ target: 'vda' }],
        points: manifestPoints,
        events: [],
        ...(bootProofs && last && evidence
          ? {
              bootVerify: {
                [last.checkpoint]: {
                  time: new Date(Date.parse(last.time) + 3_600_000).toISOString(),
                  result: 'ok',
                  durationMs: 20_820,
                  firstAnswerMs: 18_759,
                  checks: [{ check: 'agent', ok: true }],
                  evidence,
                },
              },
            }
          : {}),
      } as ChainManifest;
      await writeManifest(dir, manifest);
    }
  }
}

export async function runReportBench(domains = 500, points = 400, rounds = 3): Promise<BenchRow[]> {
  return [...(await measureReport(domains, points, rounds, false)), ...(await measureReport(domains, points, rounds, true))];
}

async function measureReport(domains: number, points: number, rounds: number, bootProofs: boolean): Promise<BenchRow[]> {
  const root = mkdtempSync(join(tmpdir(), 'vmkeep-bench-report-'));
  try {
    const output = join(root, 'out');
    const start = Date.parse('2025-06-01T02:00:00Z');
    await generate(output, domains, points, start, bootProofs);
    const now = new Date(start + points * DAY).toISOString();
    const html = join(root, 'report.html');
    const bin = new URL('../../bin/vmkeep', import.meta.url).pathname;
    const times: number[] = [];
    // The report draws its charts on every core: what else runs on them shows in the figure.
    const loadBefore = loadavg()[0]!;
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      execFileSync(process.execPath, [bin, 'report', '--output', output, '--html', html], { env: { ...process.env, VMKEEP_NOW: now }, stdio: 'ignore' });
      times.push(performance.now() - t0);
    }
    const ms = median(times);
    const bytes = statSync(html).size;
    const what = `${domains} domains × ${points} points${bootProofs ? ', a boot proof with a console screenshot on each' : ''}`;
    const thumbnails = bootProofs ? (readFileSync(html, 'utf8').match(/<img class="thumb"/g) ?? []).length : 0;
    return [
      {
        name: `vmkeep report, ${what}: time (CLI start to renamed file, median of ${rounds})`,
        measured: `${(ms / 1000).toFixed(2)} s`,
        target: '≤ 3 s',
        met: ms <= 3000,
        source: 'in memory',
        note: `runs ${times.map((t) => (t / 1000).toFixed(2)).join(', ')} s; generated manifests, sparse data files; load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after, on ${availableParallelism()} cores`,
      },
      {
        name: `vmkeep report, ${what}: file size`,
        measured: `${(bytes / 1e6).toFixed(2)} MB`,
        target: '≤ 5 MB',
        met: bytes <= 5e6,
        source: 'in memory',
        ...(bootProofs ? { note: `${thumbnails} of ${domains} thumbnails shown (the page keeps under 5 MB; the table's caption says how many are not)` } : {}),
      },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

// `node dist-bench/bench/report.bench.js` runs this group alone.
if (process.argv[1]?.endsWith('report.bench.js')) {
  const rows = await runReportBench(Number(process.argv[2] ?? 500), Number(process.argv[3] ?? 400), Number(process.argv[4] ?? 3));
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
}
