/**
 * The report's charts: SVG strings drawn while the report is made, by Apache ECharts' server-side
 * SVG renderer (no DOM, no browser, no script in the page). Each chart carries an aria label.
 */
import * as echarts from 'echarts';
import prettyBytes from 'pretty-bytes';

const DAY_MS = 86_400_000;
const COLOURS = {
  full: '#1f5fa8',
  inc: '#4f9a3a',
  failed: '#b3261e',
  band: ['rgba(31,95,168,0.12)', 'rgba(79,154,58,0.14)'],
  size: '#1f5fa8',
  forecast: '#b3261e',
  free: '#6b6b6b',
};

const bytesLabel = (v: number) => (v === 0 ? '0' : prettyBytes(v, { maximumFractionDigits: 1 }));

/** Render an option to an SVG string, coordinates rounded to one decimal (the file stays small). */
function renderSvg(option: echarts.EChartsCoreOption, width: number, height: number, label: string): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  chart.setOption({ animation: false, aria: { enabled: true, label: { description: label } }, textStyle: { fontFamily: 'sans-serif' }, ...option });
  const svg = chart.renderToSVGString();
  chart.dispose();
  // The SSR output carries no accessible name: the chart is one image with its description.
  const name = label.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  return svg.replace(/(\d+\.\d)\d+/g, '$1').replace(/^<svg /, `<svg role="img" aria-label="${name}" `);
}

export interface TimelineChain {
  folder: string;
  points: Array<{ time: string; level: 'full' | 'inc'; bytes: number }>;
}

/**
 * One domain's restore points over time: each chain a band from its first point to its last,
 * fulls and incrementals as their own series (y: the point's size), failed runs marked on the axis.
 */
export function renderDomainChart(domain: string, chains: readonly TimelineChain[], failures: readonly string[], width = 560, height = 220): string {
  const all = chains.flatMap((c) => c.points);
  const many = all.length > 60;
  const full = all.filter((p) => p.level === 'full').map((p) => [Date.parse(p.time), p.bytes]);
  const incSeries = chains.map((c) => ({
    name: 'incremental',
    type: 'line',
    data: c.points.filter((p) => p.level === 'inc').map((p) => [Date.parse(p.time), p.bytes]),
    showSymbol: !many,
    symbolSize: 5,
    sampling: 'lttb',
    lineStyle: { width: 1 },
    color: COLOURS.inc,
  }));
  const grid = { left: 64, right: 16, top: 44, bottom: 36 };
  const spans = chains
    .filter((c) => c.points.length > 0)
    .map((c) => {
      const start = Date.parse(c.points[0]!.time);
      return { folder: c.folder, start, end: Math.max(Date.parse(c.points.at(-1)!.time), start + DAY_MS / 4) };
    });
  const names = chainLabels(
    spans,
    width - grid.left - grid.right,
    failures.map((t) => Date.parse(t)),
  );
  // Each chain's name sits on its own row above its band, under the legend's row: neither covers
  // the other, nor a point drawn at the top of the plot.
  const bands = spans.map((b, i) => [
    {
      name: names[i],
      xAxis: b.start,
      itemStyle: { color: COLOURS.band[i % 2] },
      label: { show: names[i] !== '', position: 'top', distance: 3, fontSize: 9, color: '#444' },
    },
    { xAxis: b.end },
  ]);
  const label = `${domain}: ${all.length} restore points in ${chains.length} chains (${full.length} full), ${failures.length} failed runs`;
  return renderSvg(
    {
      grid,
      legend: { top: 0, right: 0, itemWidth: 12, itemHeight: 8, textStyle: { fontSize: 11 }, data: ['full', 'incremental', 'failed run'] },
      xAxis: { type: 'time', name: '', axisLabel: { fontSize: 10, hideOverlap: true }, splitLine: { show: false } },
      // The axis labels carry the unit ("2 GB"): no axis name to collide with the chain names.
      yAxis: { type: 'value', axisLabel: { fontSize: 10, formatter: bytesLabel }, splitNumber: 3 },
      series: [
        { name: 'full', type: 'scatter', data: full, symbol: 'diamond', symbolSize: 9, color: COLOURS.full, markArea: { silent: true, data: bands } },
        ...incSeries,
        { name: 'failed run', type: 'scatter', data: failures.map((t) => [Date.parse(t), 0]), symbol: 'triangle', symbolSize: 9, color: COLOURS.failed },
      ],
    },
    width,
    height,
    label,
  );
}

/** About how wide one character of a 9 px label is. */
const LABEL_CHAR_PX = 5.2;

/**
 * The name each chain's band shows, fitted to the band's width on the plot: the whole folder name
 * when it fits, else what sets it apart from the others (`2026-10` of
 * `vmsnap-backup-monthly-2026-10`), else nothing (the chart's description still counts them).
 */
export function chainLabels(
  spans: ReadonlyArray<{ folder: string; start: number; end: number }>,
  plotWidthPx: number,
  extraTimes: readonly number[] = [],
): string[] {
  if (spans.length === 0) return [];
  const times = [...spans.flatMap((s) => [s.start, s.end]), ...extraTimes];
  const range = Math.max(Math.max(...times) - Math.min(...times), 1);
  const tokens = spans.map((s) => s.folder.split('-'));
  let common = 0;
  while (tokens.every((t) => t.length > common + 1 && t[common] === tokens[0]![common])) common++;
  return spans.map((s, i) => {
    // The band and the room up to the next band's start: a label may run past a narrow band.
    const next = spans[i + 1]?.start ?? Math.max(...times);
    const room = (Math.max(next, s.end) - s.start) * (plotWidthPx / range) - 4;
    const short = tokens[i]!.slice(Math.min(common, Math.max(0, tokens[i]!.length - 2))).join('-');
    for (const text of [s.folder, short]) if (text.length * LABEL_CHAR_PX <= room) return text;
    return '';
  });
}

/**
 * An output folder's size over time, its capacity (size now + free space), and the forecast as a
 * dashed line from now to the day it is full (or to the end of the chart when it does not fill).
 */
export function renderFolderChart(
  output: string,
  sizeHistory: ReadonlyArray<{ time: string; bytes: number }>,
  now: Date,
  sizeNow: number,
  freeBytes: number | undefined,
  forecast: { bytesPerDay: number | null; fullAt: string | null } | undefined,
  width = 720,
  height = 260,
): string {
  const series: unknown[] = [
    {
      name: 'size',
      type: 'line',
      step: 'end',
      showSymbol: false,
      sampling: 'lttb',
      data: sizeHistory.map((s) => [Date.parse(s.time), s.bytes]),
      color: COLOURS.size,
      areaStyle: { opacity: 0.15 },
    },
  ];
  const capacity = freeBytes === undefined ? undefined : sizeNow + freeBytes;
  let end = now.getTime() + 30 * DAY_MS;
  if (forecast?.bytesPerDay !== null && forecast?.bytesPerDay !== undefined && capacity !== undefined) {
    const fullAt = forecast.fullAt ? Date.parse(forecast.fullAt) : undefined;
    // A full day years away would squash the history into a sliver: draw at most a year ahead.
    end = Math.min(fullAt ?? end, now.getTime() + 365 * DAY_MS);
    const days = (end - now.getTime()) / DAY_MS;
    series.push({
      name: 'forecast',
      type: 'line',
      showSymbol: false,
      lineStyle: { type: 'dashed', width: 2 },
      color: COLOURS.forecast,
      data: [
        [now.getTime(), sizeNow],
        [end, Math.max(0, sizeNow + forecast.bytesPerDay * days)],
      ],
    });
  }
  if (capacity !== undefined) {
    const first = sizeHistory[0] ? Date.parse(sizeHistory[0].time) : now.getTime();
    series.push({
      name: 'capacity',
      type: 'line',
      showSymbol: false,
      lineStyle: { type: 'dotted' },
      color: COLOURS.free,
      data: [
        [first, capacity],
        [end, capacity],
      ],
    });
  }
  const label = `${output}: size over time, now ${bytesLabel(sizeNow)}${capacity !== undefined ? `, capacity ${bytesLabel(capacity)}` : ''}${forecast?.fullAt ? `, forecast full on ${forecast.fullAt.slice(0, 10)}` : ''}`;
  return renderSvg(
    {
      grid: { left: 72, right: 20, top: 30, bottom: 36 },
      legend: { top: 0, right: 0, textStyle: { fontSize: 11 } },
      xAxis: { type: 'time', axisLabel: { fontSize: 10, hideOverlap: true }, splitLine: { show: false } },
      yAxis: { type: 'value', name: 'bytes', axisLabel: { fontSize: 10, formatter: bytesLabel }, splitNumber: 4 },
      series,
    },
    width,
    height,
    label,
  );
}

/** Colours for the phases, in the order a backup runs them; a phase not named here gets grey. */
const PHASE_COLOURS: Record<string, string> = {
  lock: '#8c8c8c',
  read: '#6a3d9a',
  plan: '#b15928',
  power: '#cab2d6',
  repairs: '#fb9a99',
  freeze: '#33a02c',
  engine: '#1f5fa8',
  checksums: '#ff7f00',
  fsync: '#e31a1c',
  manifest: '#a6cee3',
  prune: '#b2df8a',
  hooks: '#fdbf6f',
  notify: '#ffff99',
};

/**
 * Where each run's time went: one stacked bar per run (oldest left), one colour per phase, in
 * seconds. Only the phases some run spent time in get a series (and a legend entry).
 */
export function renderPhaseChart(
  domain: string,
  runs: ReadonlyArray<{ time: string; label: string; phases: ReadonlyArray<{ name: string; ms: number }> }>,
  width = 560,
  height = 240,
): string {
  const names = [...new Set(runs.flatMap((r) => r.phases.filter((p) => p.ms > 0).map((p) => p.name)))];
  const categories = runs.map((r) => `${r.time.slice(5, 16).replace('T', ' ')}${r.label ? ` ${r.label}` : ''}`);
  const series = names.map((name) => ({
    name,
    type: 'bar',
    stack: 'run',
    barMaxWidth: 28,
    color: PHASE_COLOURS[name] ?? '#999999',
    data: runs.map((r) => Math.round(r.phases.filter((p) => p.name === name).reduce((n, p) => n + p.ms, 0)) / 1000),
  }));
  const longest = runs.reduce(
    (m, r) =>
      Math.max(
        m,
        r.phases.reduce((n, p) => n + p.ms, 0),
      ),
    0,
  );
  const label = `${domain}: where the time of its last ${runs.length} runs went, by phase; the longest took ${(longest / 1000).toFixed(1)} s`;
  return renderSvg(
    {
      grid: { left: 56, right: 16, top: 52, bottom: 48 },
      legend: { top: 0, left: 0, right: 0, itemWidth: 12, itemHeight: 8, textStyle: { fontSize: 11 }, data: names },
      xAxis: { type: 'category', data: categories, axisLabel: { fontSize: 9, rotate: 30, hideOverlap: true } },
      yAxis: { type: 'value', name: 'seconds', nameTextStyle: { fontSize: 10 }, axisLabel: { fontSize: 10 }, splitNumber: 3 },
      series,
    },
    width,
    height,
    label,
  );
}
