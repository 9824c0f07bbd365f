/** `vmkeep report`: read the output folders, judge, render one HTML file, write it atomically. */
import { availableParallelism, hostname, loadavg } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { stat } from 'node:fs/promises';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { selectAmong, type SelectionRequest } from '../domain/select-by-tags.js';
import { usageError } from '../errors.js';
import type { Duration } from '../retention/types.js';
import { findHostFolders, listBackedUpDomains, requireOutputFolder } from '../repository/chains.js';
import { isBackupRepository, summarizeReportFolder } from '../repository/read-report-data.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { DEFAULT_REPORT_THRESHOLDS, judgeFolder, summarizeFleet, type ReportRow, type ReportThresholds } from './judge-report.js';
import { folderChartJob } from './chart-jobs.js';
import { renderReportHtml, type ReportFolderView } from './render-html.js';

export interface ReportOptions {
  outputs: readonly string[];
  html: string;
  selection: SelectionRequest;
  thresholds: ReportThresholds;
  version: string;
  /** The host name for a one-host output folder (default: this machine's). */
  host?: string | undefined;
  /** Ask libvirt for the domains' state and tags (the CLI's report; not the report written after a run). */
  libvirt: boolean;
}

/**
 * Refuse bad input before anything is read or written: the HTML file's folder, each output folder.
 * `flag` names where the file came from; null for the report after a run, whose warning names the
 * file itself (and which may come from the config, not a flag).
 */
export async function checkReportInput(outputs: readonly string[], html: string, flag: string | null = '--html'): Promise<void> {
  const dir = dirname(html);
  const named = flag === null ? '' : `${flag} ${html}: `;
  const s = await stat(dir).catch(() => undefined);
  if (!s?.isDirectory()) throw usageError(`${named}folder ${dir} does not exist`);
  if (basename(html) === '' || (await stat(html).catch(() => undefined))?.isDirectory())
    throw usageError(`${flag === null ? '' : `${flag} `}${html} is a folder; name a file`);
  for (const o of outputs) {
    await requireOutputFolder(o);
    if (!(await isBackupRepository(o))) throw usageError(`--output ${o} is not a vmkeep or VMSnap output folder (no chain folders, no .vmkeep.lock)`);
  }
}

/** Make the report's HTML (no writing). */
export async function buildReport(ctx: AppContext, options: ReportOptions): Promise<{ html: string; rows: ReportRow[]; folders: ReportFolderView[] }> {
  const now = ctx.now();
  const hosts = await listReportHosts(ctx, options);
  const tasks = hosts.flatMap((h) => h.domains.map((domain) => ({ host: h.host, output: h.dir, domain, libvirt: h.libvirt.get(domain) })));
  // Imported here, not at the top: the bundler puts the pool (reading, charts, ECharts) in a
  // chunk of its own, which is all a report thread loads.
  const { openReportPool, threadsFor } = await import('./chart-pool.js');
  const pool = openReportPool(threadsFor(tasks.length, chartThreads(availableParallelism(), loadavg()[0]!)));
  const charts = new Map<string, string>();
  const rows: ReportRow[] = [];
  const views: ReportFolderView[] = [];
  try {
    const done = await pool.reportDomains(tasks, { thresholds: options.thresholds, now });
    let at = 0;
    for (const h of hosts) {
      const mine = done.slice(at, (at += h.domains.length));
      for (const d of mine) {
        rows.push(d.row);
        for (const [id, svg] of d.charts) charts.set(id, svg);
      }
      const folder = await summarizeReportFolder(
        h.dir,
        h.host,
        now,
        mine.map((d) => d.contribution),
      );
      views.push({ ...folder, verdict: judgeFolder(folder, options.thresholds) });
    }
    const folderJobs = views.map((v) => folderChartJob(v, now));
    const svgs = await pool.drawCharts(folderJobs);
    folderJobs.forEach((j, i) => charts.set(j.id, svgs[i]!));
  } finally {
    await pool.close();
  }
  const fleet = summarizeFleet(
    rows,
    views.map((v) => v.verdict),
  );
  const doc = { generatedAt: now, version: options.version, fleet, rows, folders: views };
  return { html: renderReportHtml(doc, charts), rows, folders: views };
}

/** One host's output folder of the report: the domains selected in it and, for this host's, libvirt's facts about them. */
interface ReportHost {
  host: string;
  dir: string;
  domains: string[];
  libvirt: Map<string, { state: string | undefined; tags: readonly string[] | undefined }>;
}

/** The host folders of the output folders, each with its selected domains (asking libvirt when told to). */
async function listReportHosts(ctx: AppContext, options: ReportOptions): Promise<ReportHost[]> {
  let defined: Set<string> | undefined;
  if (options.libvirt)
    defined = await ctx.virsh.listDomainNames().then(
      (n) => new Set(n),
      () => undefined,
    );
  if (options.selection.tags.length > 0 && defined === undefined) throw usageError('--tag needs libvirt to read the tags, and libvirt could not be asked');
  const out: ReportHost[] = [];
  for (const output of options.outputs) {
    const hostDirs = await findHostFolders(output);
    const hosts =
      hostDirs.length > 0
        ? hostDirs.map((h) => ({ host: h, dir: join(output, h), local: false }))
        : [{ host: options.host ?? hostname(), dir: output, local: true }];
    for (const h of hosts) {
      const candidates = await listBackedUpDomains(h.dir);
      // Tags live in this machine's libvirt: other hosts' folders are selected by name only.
      const sel = await selectAmong(ctx, candidates, h.local ? options.selection : { ...options.selection, tags: [] }, {
        needTags: h.local && defined !== undefined,
      });
      const libvirt: ReportHost['libvirt'] = new Map();
      if (h.local && defined !== undefined) {
        for (const d of sel.selected) {
          if (!defined.has(d)) continue;
          const state = await ctx.virsh.domainState(d).catch(() => undefined);
          libvirt.set(d, { state, tags: sel.tagsOf.get(d) });
        }
      }
      out.push({ host: h.host, dir: h.dir, domains: [...sel.selected], libvirt });
    }
  }
  return out;
}

/**
 * How many threads draw the charts: one per core that is free. Each chart thread loads ECharts
 * and warms its code up again (about 2 s of CPU for a fleet's charts), so on a host whose cores
 * are busy (its VMs, a backup) threads cost more than they save, and the charts are drawn in the
 * main thread. The load average counts this process itself, hence the one added back.
 */
export function chartThreads(cores: number, load1: number): number {
  return Math.max(1, Math.min(cores, Math.floor(cores - load1 + 1)));
}

/** The command: check the input, make the report, write it (temp file + rename). */
export async function runReport(ctx: AppContext, options: ReportOptions): Promise<CommandResult> {
  await checkReportInput(options.outputs, options.html);
  const { html, rows, folders } = await buildReport(ctx, options);
  // A web server serving the file sees the old report or the new one, never half of one.
  await writeFileAtomic(options.html, html, 0o644);
  const attention = rows.filter((r) => r.state !== 'ok');
  return {
    document: {
      html: options.html,
      bytes: Buffer.byteLength(html),
      domains: rows.map((r) => ({ host: r.host, domain: r.domain, state: r.state, problems: r.problems })),
      outputs: folders.map((f) => ({ host: f.host, output: f.output, state: f.verdict.state, forecast: f.forecast ?? null })),
    },
    text: `report written to ${options.html}: ${rows.length} domain(s), ${attention.length} need attention`,
    outcome: 'ok',
  };
}

/**
 * Write the report after a run (config `report.html`, `--report-html`): a failure is the caller's
 * warning. `minDaysLeft` is the config's check.minDaysLeft when it has one, so the report judges
 * the output folder as `vmkeep check` does (else the defaults, 14,7, as `vmkeep report`).
 * `bootMaxAge`: the config's check.bootMaxAge (the run has no flag for it).
 */
export async function writeReportAfterRun(
  ctx: AppContext,
  outputs: readonly string[],
  html: string,
  version: string,
  minDaysLeft: ReportThresholds['minDaysLeft'] = DEFAULT_REPORT_THRESHOLDS.minDaysLeft,
  bootMaxAge?: Duration,
): Promise<string> {
  await checkReportInput(outputs, html, null);
  const { html: text } = await buildReport(ctx, {
    outputs,
    html,
    selection: { domains: undefined, tags: [], tagAny: false, exclude: [] },
    thresholds: { ...DEFAULT_REPORT_THRESHOLDS, minDaysLeft, bootMaxAge },
    version,
    libvirt: false,
  });
  await writeFileAtomic(html, text, 0o644);
  return html;
}
