/**
 * Making a fleet's report over all cores: worker threads each read, judge and draw their share of
 * the domains (the manifests, the stats of the chain files and the charts are most of a report's
 * CPU) and hand back what the page needs: the row, its charts' SVGs and the domain's small part of
 * its folder's totals. The results come back in the order of the tasks, whichever thread did
 * each, so the page is the same as one made in the main thread (a chart is a pure function of its
 * job: its element ids come from the job, not from the thread's ECharts instance count).
 *
 * The worker is this very module, loaded again in the thread (its `import.meta.url`, the
 * bundle's chunk in dist/): no separate entry file to find, and the thread loads exactly the
 * code the main thread runs.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { contributionOf, readReportDomain, type DomainContribution } from '../repository/read-report-data.js';
import { domainChartJobs } from './chart-jobs.js';
import { createChartPainter, drawChart, type ChartJob, type ChartPainter } from './charts.js';
import { judgeRow, type ReportRow, type ReportThresholds } from './judge-report.js';

/** What marks a thread as one of ours (other modules' workers load other code). */
const ROLE = 'vmkeep-report-charts';

/** Jobs per message: a message costs a few tens of µs, a chart a few ms. */
const BATCH = 8;

/** Domains per message: reading and drawing one takes some 20-30 ms; small batches keep the threads' ends close. */
const DOMAIN_BATCH = 4;

/** Below this many charts a thread's start (loading ECharts again, ~0.2 s) costs more than it saves. */
const MIN_CHARTS_FOR_THREADS = 48;

/** A report thread's young generation (V8's default is 16-32 MB). */
const YOUNG_GENERATION_MB = 96;

/** One domain of one host's output folder, to read, judge and draw. */
export interface DomainTask {
  host: string;
  /** The host's output folder (the row's `output`). */
  output: string;
  domain: string;
  /** libvirt's state and tags of the domain, when libvirt was asked. */
  libvirt?: { state: string | undefined; tags: readonly string[] | undefined } | undefined;
}

export interface DomainTaskContext {
  thresholds: ReportThresholds;
  now: Date;
}

/** A domain done: its row, its charts (id, SVG) and its part of the folder's totals. */
export interface DomainOutcome {
  row: ReportRow;
  charts: Array<[string, string]>;
  contribution: DomainContribution;
}

/** Read, judge and draw one domain with the given painter. */
export async function reportDomain(task: DomainTask, ctx: DomainTaskContext, painter: ChartPainter): Promise<DomainOutcome> {
  const data = await readReportDomain(task.output, task.domain);
  const row = judgeRow(task, data, ctx.thresholds, ctx.now, task.libvirt);
  return { row, charts: domainChartJobs(row).map((j) => [j.id, drawChart(j, painter)]), contribution: contributionOf(data) };
}

/** How many threads are worth starting for this many charts (or domains, a chart or two each), at most `threads`. */
export function threadsFor(items: number, threads: number): number {
  const n = Math.min(threads, Math.floor(items / (MIN_CHARTS_FOR_THREADS / 2)));
  return n <= 1 ? 0 : n;
}

/** Where the report's domains are read and its charts drawn: worker threads, or this thread when `threads` is 0. */
export interface ReportPool {
  readonly threads: number;
  reportDomains(tasks: readonly DomainTask[], ctx: DomainTaskContext): Promise<DomainOutcome[]>;
  drawCharts(jobs: readonly ChartJob[]): Promise<string[]>;
  close(): Promise<void>;
}

type Request = { kind: 'charts'; jobs: ChartJob[] } | { kind: 'domains'; tasks: DomainTask[]; ctx: DomainTaskContext };

/**
 * Open a pool of `threads` worker threads (0 or 1: this thread). Close it when done. `workerUrl`:
 * the module a thread loads (this one; a test hands in a bundle of it).
 */
export function openReportPool(threads: number, workerUrl: URL = new URL(import.meta.url)): ReportPool {
  if (threads <= 1) {
    const painter = createChartPainter();
    return {
      threads: 0,
      async reportDomains(tasks, ctx) {
        const out: DomainOutcome[] = [];
        for (const t of tasks) out.push(await reportDomain(t, ctx, painter));
        return out;
      },
      drawCharts: async (jobs) => jobs.map((j) => drawChart(j, painter)),
      close: async () => painter.dispose(),
    };
  }
  // A larger young generation: a thread allocates a domain's manifests and chart models and drops
  // them a moment later, and with V8's default the scavenges took ~0.75 s of each thread's ~8 s on
  // the 500-domain bench (96 MB: 1-1.5 s less CPU over the two threads, in 3 interleaved rounds).
  const workers = Array.from(
    { length: threads },
    () => new Worker(workerUrl, { workerData: { role: ROLE }, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } }),
  );
  return {
    threads,
    reportDomains: (tasks, ctx) => shareOut<DomainTask, DomainOutcome>(workers, tasks, DOMAIN_BATCH, (batch) => ({ kind: 'domains', tasks: batch, ctx })),
    drawCharts: (jobs) => shareOut<ChartJob, string>(workers, jobs, BATCH, (batch) => ({ kind: 'charts', jobs: batch })),
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/** Hand the items out in batches, a batch to each thread as it finishes the last; the results in the items' order. */
async function shareOut<T, R>(workers: readonly Worker[], items: readonly T[], size: number, request: (batch: T[]) => Request): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          let sent = 0;
          const send = () => {
            if (next >= items.length) return false;
            sent = next;
            const batch = items.slice(next, next + size);
            next += batch.length;
            w.postMessage(request(batch));
            return true;
          };
          const onMessage = (results: R[]) => {
            for (let i = 0; i < results.length; i++) out[sent + i] = results[i]!;
            if (!send()) finish(resolve);
          };
          const onError = (e: Error) => finish(() => reject(e));
          const onExit = (code: number) =>
            finish(() => reject(new Error(`a report thread stopped (exit code ${code}) before its share of the report was made`)));
          const finish = (then: () => void) => {
            w.off('message', onMessage).off('error', onError).off('exit', onExit);
            then();
          };
          w.on('message', onMessage).on('error', onError).on('exit', onExit);
          if (!send()) finish(resolve);
        }),
    ),
  );
  return out;
}

/** Draw the jobs in this thread, one painter for all of them. */
export function drawChartsHere(jobs: readonly ChartJob[]): string[] {
  const painter = createChartPainter();
  try {
    return jobs.map((j) => drawChart(j, painter));
  } finally {
    painter.dispose();
  }
}

/**
 * Draw the jobs on up to `threads` worker threads (fewer when there are few jobs; none, in this
 * thread, for a handful or `threads` ≤ 1). Returns the SVGs in the jobs' order and how many
 * threads drew them (0: this one).
 */
export async function drawCharts(
  jobs: readonly ChartJob[],
  threads: number,
  workerUrl: URL = new URL(import.meta.url),
): Promise<{ svgs: string[]; threads: number }> {
  const pool = openReportPool(threadsFor(jobs.length, threads), workerUrl);
  try {
    return { svgs: await pool.drawCharts(jobs), threads: pool.threads };
  } finally {
    await pool.close();
  }
}

// In a report thread: do each batch handed in, with one painter for the thread's life.
if (!isMainThread && (workerData as { role?: unknown } | null)?.role === ROLE && parentPort) {
  const port = parentPort;
  const painter = createChartPainter();
  port.on('message', (req: Request) => {
    if (req.kind === 'charts') port.postMessage(req.jobs.map((j) => drawChart(j, painter)));
    else
      void (async () => {
        const out: DomainOutcome[] = [];
        for (const t of req.tasks) out.push(await reportDomain(t, req.ctx, painter));
        port.postMessage(out);
      })();
  });
}
