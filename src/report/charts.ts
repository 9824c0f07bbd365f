/**
 * The report's charts: SVG strings drawn while the report is made, by Apache ECharts' server-side
 * SVG renderer (no DOM, no browser, no script in the page). Each chart carries an aria label.
 *
 * A report of a large fleet draws a thousand charts, so the cost of each one counts: only the
 * chart types and components used here are registered (ECharts walks every registered component
 * type on each setOption), one ECharts instance per chart size draws chart after chart (a
 * `ChartPainter`), a fleet's charts are shared out to worker threads (chart-pool.ts), long series
 * are thinned to what the plot's pixels can show, and the markup ECharts writes for mouse hover
 * (classes, a style block) is dropped: the SVG is static.
 */
import * as echarts from 'echarts/core';
import { BarChart, LineChart, ScatterChart } from 'echarts/charts';
import { GridComponent, LegendComponent, MarkAreaComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';
import { formatBytes } from './format-bytes.js';

echarts.use([BarChart, LineChart, ScatterChart, GridComponent, LegendComponent, MarkAreaComponent, SVGRenderer]);

const DAY_MS = 86_400_000;
const COLOURS = {
  full: '#1f5fa8',
  inc: '#3b7d2b',
  failed: '#b3261e',
  band: ['rgba(31,95,168,0.12)', 'rgba(79,154,58,0.14)'],
  size: '#1f5fa8',
  forecast: '#b3261e',
  free: '#6b6b6b',
};

/**
 * The charts' sizes, in the SVG's own pixels. They are drawn narrow, with 11-12 px text, so that a
 * phone (about 360 px for the chart) shows them nearly at their size and the text stays readable;
 * a wide screen shows them side by side at their natural size.
 */
export const CHART_SIZE: Record<ChartJob['kind'], { width: number; height: number }> = {
  domain: { width: 440, height: 230 },
  phases: { width: 440, height: 250 },
  folder: { width: 520, height: 260 },
};

/**
 * Where a chart is drawn: its size, and the prefix of its SVG's element ids (clip paths). Each
 * chart in a page needs ids of its own: a `url(#…)` names the first element with that id in the
 * whole document, and ECharts numbers its instances per process (worker threads would repeat them).
 */
export interface ChartFrame {
  width: number;
  height: number;
  id?: string | undefined;
}

const bytesLabel = (v: number) => (v === 0 ? '0' : formatBytes(v));

/** Draws charts to SVG strings; reuse one for many charts, and dispose of it when done. */
export interface ChartPainter {
  paint(option: echarts.EChartsCoreOption, frame: ChartFrame, label: string): string;
  dispose(): void;
}

/**
 * A painter that keeps one ECharts instance per chart size and replaces its option for each chart
 * (`notMerge`): the instance's set-up is paid once, not per chart. Dispose of it when done (an
 * instance keeps a timer that would hold the process open).
 */
export function createChartPainter(): ChartPainter {
  const charts = new Map<string, echarts.ECharts>();
  return {
    paint(option, { width, height, id = 'chart' }, label) {
      const key = `${width}x${height}`;
      let chart = charts.get(key);
      if (!chart) {
        chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
        charts.set(key, chart);
      }
      // Without clear(), a view keeps elements of the chart drawn before (a line's symbols) and
      // can write them in another order: a chart would depend on which chart its instance drew
      // last, and the threads (which each draw other charts before it) would write other SVGs.
      chart.clear();
      chart.setOption({ animation: false, textStyle: { fontFamily: 'sans-serif' }, ...option }, { notMerge: true });
      return tidySvg(chart.renderToSVGString(), label, id);
    },
    dispose() {
      for (const c of charts.values()) c.dispose();
      charts.clear();
    },
  };
}

/** Draw one chart with a painter of its own (a test, a report of one chart). */
function paintOnce(option: echarts.EChartsCoreOption, frame: ChartFrame, label: string): string {
  const painter = createChartPainter();
  try {
    return painter.paint(option, frame, label);
  } finally {
    painter.dispose();
  }
}

/**
 * The SSR output, made static and small: coordinates in paths (not symbols, not arcs), polygons
 * and translations to the nearest half pixel (a line 0.5 px off its place looks the same; a 1 px line on a .5 stays
 * crisp), other decimals to one place, and without what only an interactive chart uses: hover
 * classes and their style block, `pointer-events`, the `ecmeta_*` attributes ECharts leaves for a
 * browser-side instance to pick the chart up. It carries no accessible name of its own: the chart
 * becomes one image with its description. Its element ids (clip paths) take the chart's own
 * prefix instead of ECharts' instance number, which every chart of a page drawn by one instance
 * shared.
 */
function tidySvg(svg: string, label: string, id: string): string {
  const name = label.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  const half = (n: string) => String(Math.round(Number(n) * 2) / 2);
  return (
    svg
      // A symbol is drawn at unit size and scaled by a matrix (a circle is two arcs 0.1 apart):
      // its own coordinates keep their decimal.
      .replace(/<path d="([^"]*)"([^>]*)>/g, (m, d: string, rest: string) =>
        rest.includes('matrix(') || d.includes('A') ? m : `<path d="${dropStraightRuns(d.replace(/-?\d+\.\d+/g, half))}"${rest}>`,
      )
      .replace(/ points="([^"]*)"/g, (_, v: string) => ` points="${v.replace(/-?\d+\.\d+/g, half)}"`)
      .replace(/transform="translate\(([^)]*)\)"/g, (_, v: string) => `transform="translate(${v.replace(/-?\d+\.\d+/g, half)})"`)
      .replace(/(\d+\.\d)\d+/g, '$1')
      .replace(/ pointer-events="visible"| class="zr\d+-cls-\d+"| ecmeta_\w+="[^"]*"| xml:space="preserve"| stroke="[^"]*" stroke-width="0"/g, '')
      .replace(/<style ?>[\s\S]*?<\/style>\n?/, '')
      // The invisible hit areas of legend items and the transparent background.
      .replace(/<path d="[^"]*"(?: transform="[^"]*")? fill="none"><\/path>\n?|<rect [^>]*fill="none"><\/rect>\n?/g, '')
      // The page's CSS gives every chart its font family (.chart svg): each text keeps its size.
      .replace(/font-family:sans-serif;|style="font: normal normal (\d+)px sans-serif"/g, (m, px?: string) => (px ? `style="font-size:${px}px"` : ''))
      .replace(/ xmlns:xlink="[^"]*" version="1.1" baseProfile="full"/, '')
      .replace(/^<svg /, `<svg role="img" aria-label="${name}" `)
      .replace(/(id="|url\(#)zr\d+-/g, `$1${id}-`)
  );
}

/**
 * A polyline's points in the middle of a straight horizontal or vertical run say nothing: drop
 * them (a flat line of incrementals at the same half pixel is two points, not a hundred). A point
 * where the line turns back is kept.
 */
function dropStraightRuns(d: string): string {
  if (!/^[ML\d .-]+$/.test(d) || d.length < 64) return d;
  const out: string[] = [];
  for (const part of d.split(/(?=M)/)) {
    const points = part
      .slice(1)
      .split('L')
      .map((p) => p.trim());
    const kept = points.filter((p, i) => {
      if (i === 0 || i === points.length - 1) return true;
      const [x0, y0] = points[i - 1]!.split(' ');
      const [x1, y1] = p.split(' ');
      const [x2, y2] = points[i + 1]!.split(' ');
      const between = (a: string, b: string, c: string) => (Number(a) - Number(b)) * (Number(b) - Number(c)) >= 0;
      return !((y0 === y1 && y1 === y2 && between(x0!, x1!, x2!)) || (x0 === x1 && x1 === x2 && between(y0!, y1!, y2!)));
    });
    out.push(`M${kept.join('L')}`);
  }
  return out.join('');
}

/**
 * Thin a time series to what a plot `buckets` pixels wide can show: per bucket of time, the
 * points holding the bucket's lowest and highest value, in time order (a spike or a dip stays
 * drawn; what falls between two pixels does not). Series short enough are returned as they are.
 */
export function thinSeries(data: ReadonlyArray<readonly [number, number]>, buckets: number): Array<[number, number]> {
  if (data.length <= 2 * buckets || data.length < 3) return data.map(([t, v]) => [t, v]);
  const t0 = data[0]![0];
  const span = Math.max(data.at(-1)![0] - t0, 1);
  const out: Array<[number, number]> = [];
  let bucket = -1;
  let lo: readonly [number, number] | undefined;
  let hi: readonly [number, number] | undefined;
  const flush = () => {
    if (!lo || !hi) return;
    if (lo === hi) out.push([lo[0], lo[1]]);
    else for (const p of lo[0] <= hi[0] ? [lo, hi] : [hi, lo]) out.push([p[0], p[1]]);
  };
  for (const p of data) {
    const b = Math.min(buckets - 1, Math.floor(((p[0] - t0) / span) * buckets));
    if (b !== bucket) {
      flush();
      bucket = b;
      lo = hi = p;
    } else {
      if (p[1] < lo![1]) lo = p;
      if (p[1] >= hi![1]) hi = p;
    }
  }
  flush();
  // The last point is the value now: keep it even where its bucket's extremes lie earlier.
  const last = data.at(-1)!;
  if (out.at(-1)![0] !== last[0]) out.push([last[0], last[1]]);
  return out;
}

export interface TimelineChain {
  folder: string;
  points: Array<{ time: string; level: 'full' | 'inc'; bytes: number }>;
}

/**
 * One domain's restore points over time: each chain a band from its first point to its last,
 * fulls and incrementals as their own series (y: the point's size), failed runs marked on the axis.
 * The incrementals are one line, broken between chains, thinned to a low and a high point per 4 px.
 */
export function renderDomainChart(
  domain: string,
  chains: readonly TimelineChain[],
  failures: readonly string[],
  painter?: ChartPainter,
  frame: ChartFrame = CHART_SIZE.domain,
): string {
  const { width } = frame;
  const all = chains.flatMap((c) => c.points);
  const many = all.length > 60;
  const full = all.filter((p) => p.level === 'full').map((p) => [Date.parse(p.time), p.bytes]);
  // No legend in the chart: the page writes one key above it (a line of text costs less to
  // draw and to carry than a legend per domain).
  const grid = { left: 52, right: 10, top: 24, bottom: 30 };
  const plotPx = width - grid.left - grid.right;
  const spans = chains
    .filter((c) => c.points.length > 0)
    .map((c) => {
      const start = Date.parse(c.points[0]!.time);
      return { folder: c.folder, start, end: Math.max(Date.parse(c.points.at(-1)!.time), start + DAY_MS / 4) };
    });
  const failureTimes = failures.map((t) => Date.parse(t));
  const times = [...spans.flatMap((s) => [s.start, s.end]), ...failureTimes];
  const range = Math.max(Math.max(...times) - Math.min(...times), 1);
  // One series for every chain's incrementals: a null between two chains breaks the line there.
  const inc: Array<[number, number | null]> = [];
  for (const c of chains) {
    const points = c.points.filter((p) => p.level === 'inc').map((p): [number, number] => [Date.parse(p.time), p.bytes]);
    if (points.length === 0) continue;
    if (inc.length > 0) inc.push([points[0]![0], null]);
    const chainPx = ((points.at(-1)![0] - points[0]![0]) / range) * plotPx;
    inc.push(...thinSeries(points, Math.max(1, Math.round(chainPx / 4))));
  }
  const names = chainLabels(spans, plotPx, failureTimes);
  // Each chain's name sits on its own row above its band: it covers no point drawn at the top
  // of the plot.
  const bands = spans.map((b, i) => [
    {
      name: names[i],
      xAxis: b.start,
      itemStyle: { color: COLOURS.band[i % 2] },
      label: { show: names[i] !== '', position: 'top', distance: 3, fontSize: 10, color: '#444' },
    },
    { xAxis: b.end },
  ]);
  const label = `${domain}: ${all.length} restore points in ${chains.length} chains (${full.length} full), ${failures.length} failed runs`;
  const option = {
    grid: { ...grid, outerBoundsMode: 'none' },
    xAxis: { type: 'time', axisLabel: { fontSize: 11, hideOverlap: true }, splitLine: { show: false } },
    // The axis labels carry the unit ("2 GB"): no axis name to collide with the chain names.
    yAxis: { type: 'value', axisLabel: { fontSize: 11, formatter: bytesLabel }, splitNumber: 3 },
    series: [
      { name: 'full', type: 'scatter', data: full, symbol: 'diamond', symbolSize: 9, color: COLOURS.full, markArea: { silent: true, data: bands } },
      { name: 'incremental', type: 'line', data: inc, showSymbol: !many, symbolSize: 5, lineStyle: { width: 1 }, color: COLOURS.inc },
      // No failed runs, no series: an empty one draws nothing and costs a series model per chart.
      ...(failureTimes.length > 0
        ? [{ name: 'failed run', type: 'scatter', data: failureTimes.map((t) => [t, 0]), symbol: 'triangle', symbolSize: 9, color: COLOURS.failed }]
        : []),
    ],
  };
  return painter ? painter.paint(option, frame, label) : paintOnce(option, frame, label);
}

/** About how wide one character of a 10 px label is. */
const LABEL_CHAR_PX = 5.8;

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
  sizeHistory: ReadonlyArray<{ at: number; bytes: number }>,
  now: Date,
  sizeNow: number,
  freeBytes: number | undefined,
  forecast: { bytesPerDay: number | null; fullAt: string | null } | undefined,
  painter?: ChartPainter,
  frame: ChartFrame = CHART_SIZE.folder,
): string {
  const { width } = frame;
  const grid = { left: 60, right: 14, top: 34, bottom: 30 };
  // A fleet's folder has a size step for every point written (hundreds of thousands): thinned
  // to the extremes of each pixel pair, the line looks the same and the SVG stays small.
  const history = thinSeries(
    sizeHistory.map((s): [number, number] => [s.at, s.bytes]),
    Math.round((width - grid.left - grid.right) / 2),
  );
  const series: unknown[] = [
    {
      name: 'size',
      type: 'line',
      step: 'end',
      showSymbol: false,
      data: history,
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
    const first = sizeHistory[0]?.at ?? now.getTime();
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
  const option = {
    grid: { ...grid, outerBoundsMode: 'none' },
    legend: { top: 0, right: 0, textStyle: { fontSize: 12 } },
    xAxis: { type: 'time', axisLabel: { fontSize: 11, hideOverlap: true }, splitLine: { show: false } },
    yAxis: { type: 'value', name: 'bytes', nameTextStyle: { fontSize: 11 }, axisLabel: { fontSize: 11, formatter: bytesLabel }, splitNumber: 4 },
    series,
  };
  return painter ? painter.paint(option, frame, label) : paintOnce(option, frame, label);
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
export function renderPhaseChart(domain: string, runs: readonly PhaseRun[], painter?: ChartPainter, frame: ChartFrame = CHART_SIZE.phases): string {
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
  const option = {
    // Room for two rows of legend (a dozen phases at 440 px) above the axis name.
    grid: { left: 44, right: 10, top: 72, bottom: 52, outerBoundsMode: 'none' },
    legend: { top: 0, left: 0, right: 0, itemWidth: 12, itemHeight: 8, itemGap: 8, textStyle: { fontSize: 12 }, data: names },
    xAxis: { type: 'category', data: categories, axisLabel: { fontSize: 10, rotate: 30, hideOverlap: true } },
    yAxis: { type: 'value', name: 'seconds', nameTextStyle: { fontSize: 11 }, axisLabel: { fontSize: 11 }, splitNumber: 3 },
    series,
  };
  return painter ? painter.paint(option, frame, label) : paintOnce(option, frame, label);
}

/** A phase chart's run: when, what kind, and its phases. */
export interface PhaseRun {
  time: string;
  label: string;
  phases: ReadonlyArray<{ name: string; ms: number }>;
}

/**
 * One chart of the report as plain data (a worker thread can be handed it): which chart, its
 * element-id prefix, and what it shows.
 */
export type ChartJob =
  | { kind: 'domain'; id: string; domain: string; chains: readonly TimelineChain[]; failures: readonly string[] }
  | { kind: 'phases'; id: string; domain: string; runs: readonly PhaseRun[] }
  | {
      kind: 'folder';
      id: string;
      output: string;
      /** The folder's size after each write and removal (`at`: ms since the epoch), oldest first. */
      sizeHistory: ReadonlyArray<{ at: number; bytes: number }>;
      /** The report's time, in ms since the epoch. */
      now: number;
      sizeNow: number;
      freeBytes: number | undefined;
      forecast: { bytesPerDay: number | null; fullAt: string | null } | undefined;
    };

/** Draw one chart job with the painter (the same drawing in the main thread or in a worker). */
export function drawChart(job: ChartJob, painter: ChartPainter): string {
  const frame = { ...CHART_SIZE[job.kind], id: job.id };
  switch (job.kind) {
    case 'domain':
      return renderDomainChart(job.domain, job.chains, job.failures, painter, frame);
    case 'phases':
      return renderPhaseChart(job.domain, job.runs, painter, frame);
    case 'folder':
      return renderFolderChart(job.output, job.sizeHistory, new Date(job.now), job.sizeNow, job.freeBytes, job.forecast, painter, frame);
  }
}
