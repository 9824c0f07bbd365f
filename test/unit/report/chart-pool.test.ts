/** The report's charts drawn on worker threads are the charts drawn in the main thread, in the jobs' order. */
import { describe, expect, it } from 'vitest';
import { useBundledChartPool } from '../../helpers/bundled-chart-pool.js';
import { drawCharts, drawChartsHere } from '../../../src/report/chart-pool.js';
import type { ChartJob } from '../../../src/report/charts.js';
import { chartThreads } from '../../../src/report/run-report.js';

const DAY = 86_400_000;
const t0 = Date.parse('2026-01-01T02:00:00Z');
const iso = (t: number) => new Date(t).toISOString();

/** Sixty charts of every kind, each with data of its own (sizes, chains, failures, phases). */
function jobs(): ChartJob[] {
  const out: ChartJob[] = [];
  for (let d = 0; d < 56; d++) {
    const chains = Array.from({ length: 1 + (d % 5) }, (_, c) => ({
      folder: `vmsnap-backup-monthly-2026-0${c + 1}`,
      points: Array.from({ length: 3 + ((d * 7 + c) % 40) }, (_, i) => ({
        time: iso(t0 + (c * 31 + i) * DAY),
        level: i === 0 ? ('full' as const) : ('inc' as const),
        bytes: i === 0 ? 2e9 + d * 1e6 : 1e7 + ((i * 7919 + d) % 5e6),
      })),
    }));
    const failures = d % 3 === 0 ? [iso(t0 + (d % 20) * DAY + 3_600_000)] : [];
    out.push({ kind: 'domain', id: `d-${d}-t`, domain: `vm-${d}`, chains, failures });
    if (d % 4 === 0)
      out.push({
        kind: 'phases',
        id: `d-${d}-p`,
        domain: `vm-${d}`,
        runs: Array.from({ length: 5 }, (_, i) => ({
          time: iso(t0 + i * DAY),
          label: i === 0 ? 'full' : 'inc',
          phases: [
            { name: 'engine', ms: 1000 + d * 10 + i },
            { name: 'checksums', ms: 200 + i },
          ],
        })),
      });
  }
  out.push({
    kind: 'folder',
    id: 'f-1-c',
    output: '/backups',
    sizeHistory: Array.from({ length: 300 }, (_, i) => ({ at: t0 + i * DAY, bytes: 1e9 + i * 3e7 })),
    now: t0 + 300 * DAY,
    sizeNow: 1e9 + 300 * 3e7,
    freeBytes: 5e11,
    forecast: { bytesPerDay: 3e7, fullAt: iso(t0 + 700 * DAY) },
  });
  return out;
}

describe('drawCharts on worker threads', () => {
  // The threads load the module as the CLI ships it: bundled (the test runs the TypeScript source).
  const bundled = useBundledChartPool();

  it('gives the same SVGs, in the same order, as the main thread', async () => {
    const all = jobs();
    const here = drawChartsHere(all);
    const threaded = await drawCharts(all, 2, bundled());
    expect(threaded.threads).toBe(2);
    expect(threaded.svgs).toHaveLength(all.length);
    expect(threaded.svgs).toEqual(here);
    // Every chart's clip paths carry its own id: a page of many charts has no id twice.
    const ids = here.flatMap((svg) => [...svg.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]));
    expect(new Set(ids).size).toBe(ids.length);
    expect(here[0]).toContain('id="d-0-t-c0"');
  }, 60_000);

  it('draws each chart as if it were the only one: what its painter drew before does not show', () => {
    const all = jobs();
    const inSequence = drawChartsHere(all);
    all.forEach((job, i) => expect(drawChartsHere([job])[0], job.id).toBe(inSequence[i]));
  }, 60_000);

  it('draws a few charts in the main thread', async () => {
    const few = jobs().slice(0, 5);
    const r = await drawCharts(few, 4, bundled());
    expect(r.threads).toBe(0);
    expect(r.svgs).toEqual(drawChartsHere(few));
  });
});

describe('chartThreads', () => {
  it('one per free core, counting this process; none beyond the main thread when the cores are busy', () => {
    expect(chartThreads(2, 0.2)).toBe(2);
    expect(chartThreads(2, 1.0)).toBe(2);
    expect(chartThreads(2, 1.5)).toBe(1);
    expect(chartThreads(2, 12)).toBe(1);
    expect(chartThreads(8, 3.2)).toBe(5);
    expect(chartThreads(1, 0)).toBe(1);
  });
});
