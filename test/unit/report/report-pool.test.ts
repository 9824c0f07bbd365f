/**
 * A report's domains read, judged and drawn on worker threads give what the main thread gives:
 * the same rows, the same charts and the same parts of the folder's totals, in the tasks' order.
 * Read from fixtures/forecast/pruned (a real output folder's manifests and removal records; its
 * data files were not kept, so every chain reads as damaged, which the rows must say).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useBundledChartPool } from '../../helpers/bundled-chart-pool.js';
import { openReportPool, threadsFor, type DomainTask } from '../../../src/report/chart-pool.js';
import { DEFAULT_REPORT_THRESHOLDS } from '../../../src/report/judge-report.js';
import { contributionOf, readReportDomain, summarizeReportFolder, type ReportFolderData } from '../../../src/repository/read-report-data.js';

const OUTPUT = join(import.meta.dirname, '../../../fixtures/forecast/pruned');
const DOMAINS = ['vmkeep-scratch-forecast-a', 'vmkeep-scratch-forecast-b'];
const ctx = { thresholds: DEFAULT_REPORT_THRESHOLDS, now: new Date('2026-11-01T00:00:00Z') };
/** Both domains, several times over: enough batches for each thread to take some. */
const tasks: DomainTask[] = Array.from({ length: 12 }, (_, i) => ({
  host: 'h',
  output: OUTPUT,
  domain: DOMAINS[i % 2]!,
  libvirt: i === 0 ? { state: 'running', tags: ['web'] } : undefined,
}));

/** The folder read in one place, one domain after another, as the report did before its threads. */
async function readReportFolder(output: string, host: string, now: Date, domains: readonly string[]): Promise<ReportFolderData> {
  const read = [];
  for (const domain of domains) read.push(await readReportDomain(output, domain));
  return { ...(await summarizeReportFolder(output, host, now, read.map(contributionOf))), domains: read };
}

describe('report pool', () => {
  // The threads load the module as the CLI ships it: bundled (the test runs the TypeScript source).
  const bundled = useBundledChartPool();

  it('reads, judges and draws the domains on threads as the main thread does', async () => {
    const here = openReportPool(0);
    const threaded = openReportPool(2, bundled());
    try {
      expect(threaded.threads).toBe(2);
      const a = await here.reportDomains(tasks, ctx);
      const b = await threaded.reportDomains(tasks, ctx);
      expect(b).toEqual(a);
      expect(a.map((o) => o.row.domain)).toEqual(tasks.map((t) => t.domain));
      expect(a[0]!.row.tags).toEqual(['web']);
      // The data files are absent: every row says its chains are damaged, whichever thread read it.
      for (const o of b) expect(o.row.problems.join('\n')).toMatch(/chain vmsnap-backup-monthly-2026-10 is damaged: .* is missing/);
      expect(b[0]!.charts.map(([id]) => id)).toEqual([`d-${Buffer.from(`h/${DOMAINS[0]}`).toString('hex')}-t`]);
      expect(b[0]!.charts[0]![1]).toMatch(/^<svg role="img"/);
    } finally {
      await Promise.all([here.close(), threaded.close()]);
    }
  }, 60_000);

  it('sums a folder from the threads’ parts as from the domains read in one place', async () => {
    const pool = openReportPool(2, bundled());
    try {
      const parts = (await pool.reportDomains(tasks.slice(0, 2), ctx)).map((o) => o.contribution);
      const whole = await readReportFolder(OUTPUT, 'h', ctx.now, DOMAINS);
      const summed = await summarizeReportFolder(OUTPUT, 'h', ctx.now, parts);
      expect(summed.sizeHistory).toEqual(whole.sizeHistory);
      expect(summed.sizeOnDisk).toBe(whole.sizeOnDisk);
      expect(summed.forecast?.bytesPerDay).toBe(whole.forecast?.bytesPerDay);
      expect(summed.sizeHistory.length).toBeGreaterThan(10);
      // Prune's removals are in the history: the size goes down somewhere.
      expect(summed.sizeHistory.some((s, i) => i > 0 && s.bytes < summed.sizeHistory[i - 1]!.bytes)).toBe(true);
      expect(parts.map((p) => p.events.length)).toEqual(whole.domains.map((d) => contributionOf(d).events.length));
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('starts threads only for enough domains', () => {
    expect(threadsFor(500, 2)).toBe(2);
    expect(threadsFor(30, 2)).toBe(0);
    expect(threadsFor(500, 1)).toBe(0);
  });
});
