/**
 * Which charts a page has, and the element ids they go under: one timeline and one phase chart
 * per domain row (when it has points, failures or recorded phases), one chart per output folder.
 */
import type { ChartJob } from './charts.js';
import type { ReportRow } from './judge-report.js';
import type { OutputForecast } from '../repository/forecast.js';

/** The id of a row's details (its charts' ids start with it). */
export const anchor = (r: Pick<ReportRow, 'host' | 'domain'>) => `d-${Buffer.from(`${r.host}/${r.domain}`).toString('hex')}`;

/** A domain's chart jobs: its timeline (when it has points or failures) and its phase chart (when runs recorded phases). */
export function domainChartJobs(r: ReportRow): ChartJob[] {
  const id = anchor(r);
  const jobs: ChartJob[] = [];
  if (hasTimeline(r)) jobs.push({ kind: 'domain', id: `${id}-t`, domain: r.domain, chains: r.timeline, failures: r.failures });
  if (r.phaseRuns.length > 0) jobs.push({ kind: 'phases', id: `${id}-p`, domain: r.domain, runs: r.phaseRuns });
  return jobs;
}

export const hasTimeline = (r: ReportRow) => r.timeline.some((c) => c.points.length > 0) || r.failures.length > 0;
export const folderId = (f: { output: string }) => `f-${Buffer.from(f.output).toString('hex')}`;

/** What a folder's chart shows (a ReportFolderView has it). */
export interface FolderChartFacts {
  output: string;
  sizeOnDisk: number;
  sizeHistory: ReadonlyArray<{ at: number; bytes: number }>;
  forecast: OutputForecast | undefined;
}

/** The chart of a folder's size over time, with its free space and forecast. */
export function folderChartJob(f: FolderChartFacts, now: Date): ChartJob {
  const fc = f.forecast;
  return {
    kind: 'folder',
    id: `${folderId(f)}-c`,
    output: f.output,
    sizeHistory: f.sizeHistory,
    now: now.getTime(),
    sizeNow: f.sizeOnDisk,
    freeBytes: fc?.freeBytes,
    forecast: fc,
  };
}
