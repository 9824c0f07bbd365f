/**
 * Drawing many charts over all cores: worker threads, each with its own ECharts painter, draw
 * the report's chart jobs; the SVGs come back in the order of the jobs, whichever thread drew
 * each, so the page is the same as one drawn in the main thread (a chart is a pure function of
 * its job: its element ids come from the job, not from the thread's ECharts instance count).
 *
 * The worker is this very module, loaded again in the thread (its `import.meta.url`, the
 * bundle's chunk in dist/): no separate entry file to find, and the thread loads exactly the
 * code the main thread runs.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createChartPainter, drawChart, type ChartJob } from './charts.js';

/** What marks a thread as one of ours (other modules' workers load other code). */
const ROLE = 'vmkeep-report-charts';

/** Jobs per message: a message costs a few tens of µs, a chart a few ms. */
const BATCH = 8;

/** Below this many charts a thread's start (loading ECharts again, ~0.2 s) costs more than it saves. */
const MIN_CHARTS_FOR_THREADS = 48;

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
 * threads drew them (0: this one). `workerUrl`: the module a thread loads (this one; a test hands
 * in a bundle of it).
 */
export async function drawCharts(
  jobs: readonly ChartJob[],
  threads: number,
  workerUrl: URL = new URL(import.meta.url),
): Promise<{ svgs: string[]; threads: number }> {
  const n = Math.min(threads, Math.floor(jobs.length / (MIN_CHARTS_FOR_THREADS / 2)));
  if (n <= 1) return { svgs: drawChartsHere(jobs), threads: 0 };
  const out = new Array<string>(jobs.length);
  const workers = Array.from({ length: n }, () => new Worker(workerUrl, { workerData: { role: ROLE } }));
  try {
    let next = 0;
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            let sent = 0;
            const send = () => {
              if (next >= jobs.length) return false;
              sent = next;
              const batch = jobs.slice(next, next + BATCH);
              next += batch.length;
              w.postMessage(batch);
              return true;
            };
            w.on('message', (svgs: string[]) => {
              for (let i = 0; i < svgs.length; i++) out[sent + i] = svgs[i]!;
              if (!send()) resolve();
            });
            w.once('error', reject);
            w.once('exit', (code) => reject(new Error(`a report chart thread stopped (exit code ${code}) before its charts were drawn`)));
            if (!send()) resolve();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return { svgs: out, threads: n };
}

// In a chart thread: draw each batch of jobs handed in, with one painter for the thread's life.
if (!isMainThread && (workerData as { role?: unknown } | null)?.role === ROLE && parentPort) {
  const port = parentPort;
  const painter = createChartPainter();
  port.on('message', (batch: ChartJob[]) => port.postMessage(batch.map((j) => drawChart(j, painter))));
}
