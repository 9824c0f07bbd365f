/**
 * The report as one HTML document: inline CSS, inline SVG charts, and a small inline script that
 * only adds sorting (the page reads the same without it). A Content-Security-Policy forbids every
 * request: nothing is fetched from anywhere, not even by a stray URL in a domain name.
 */
import { formatBytes } from './format-bytes.js';
import type { OutputForecast } from '../repository/forecast.js';
import { anchor, folderId, hasTimeline } from './chart-jobs.js';
import { describeAge, type FolderVerdict, type ReportRow, type RowState } from './judge-report.js';

export interface ReportFolderView {
  host: string;
  output: string;
  sizeOnDisk: number;
  sizeHistory: ReadonlyArray<{ at: number; bytes: number }>;
  forecast: OutputForecast | undefined;
  forecastError?: string | undefined;
  verdict: FolderVerdict;
}

export interface ReportDocument {
  generatedAt: Date;
  version: string;
  fleet: { state: RowState; headline: string; reasons: string[] };
  rows: readonly ReportRow[];
  folders: readonly ReportFolderView[];
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Escape text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]!);
}
const e = escapeHtml;
const bytes = formatBytes;
const when = (iso: string) => iso.slice(0, 16).replace('T', ' ');
const WORD: Record<RowState, string> = { ok: 'OK', warning: 'needs attention', critical: 'needs attention now' };

const CSS = `
:root{--ok:#1e6b34;--warn:#8a5300;--crit:#a4161a;--muted:#555;--line:#d5d8dc;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;background:#fff}
body{margin:0 auto;max-width:1400px;padding:1rem}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin-top:1.6rem}h3{font-size:1rem}
.meta{color:var(--muted);font-size:.9rem}
.verdict{border-left:.4rem solid var(--ok);padding:.5rem .9rem;background:#f2f7f3;margin:1rem 0}
.verdict.warning{border-color:var(--warn);background:#fbf5ea}.verdict.critical{border-color:var(--crit);background:#fbeeee}
.verdict p{margin:.2rem 0;font-size:1.1rem;font-weight:600}.verdict ul{margin:.3rem 0;padding-left:1.2rem}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.88rem}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f5f7;position:sticky;top:0}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:inherit}
td.num{text-align:right;white-space:nowrap}
.state{font-weight:600;white-space:nowrap}.ok{color:var(--ok)}.warning{color:var(--warn)}.critical{color:var(--crit)}
.problems{margin:.1rem 0 0;padding-left:1rem;color:#333}
details{border:1px solid var(--line);border-radius:4px;margin:.5rem 0;padding:.3rem .6rem}
summary{cursor:pointer;font-weight:600}
.chart svg{max-width:100%;height:auto;font-family:sans-serif}
.k-full{color:#1f5fa8}.k-inc{color:#3b7d2b;font-weight:700}.k-fail{color:#b3261e}
.runs td{font-size:.82rem}
img.thumb{display:block;margin-top:.25rem;border:1px solid var(--line);background:#000}
@media (max-width:700px){
body{padding:.5rem}table{font-size:.85rem}th,td{padding:.25rem .3rem}details{padding:.3rem .4rem}
.chart svg{width:100%}
.runs td:last-child{overflow-wrap:anywhere}
#domains caption{display:block;text-align:left}
#domains thead{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
#domains,#domains tbody,#domains tr{display:block}
#domains tr{border:1px solid var(--line);border-radius:4px;margin:.5rem 0;padding:.3rem .5rem}
#domains tbody th,#domains td{display:inline-block;border:0;padding:.1rem .9rem .1rem 0;background:none;position:static;text-align:left}
#domains tbody th,#domains td:nth-child(3),#domains td:nth-child(7){display:block}
#domains td:empty{display:none}
#domains td::before{color:var(--muted);margin-right:.3rem}
#domains td:nth-child(1)::before{content:"Host"}#domains td:nth-child(4)::before{content:"Tags"}#domains td:nth-child(5)::before{content:"State"}
#domains td:nth-child(6)::before{content:"Engine"}#domains td:nth-child(7)::before{content:"Last good backup"}#domains td:nth-child(8)::before{content:"Points"}
#domains td:nth-child(9)::before{content:"Chains"}#domains td:nth-child(10)::before{content:"Size"}#domains td:nth-child(11)::before{content:"Last verify"}
#domains td:nth-child(12)::before{content:"Boot proof"}#domains td:nth-child(13)::before{content:"Protected, labels"}
#domains td:nth-child(7) br{display:none}#domains td:nth-child(7) .meta{margin-left:.4rem}
}
`;

/** Sorting by a header's column; numbers sort by their data-sort value. The page needs none of it. */
const SCRIPT = `
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    var b=document.createElement('button');b.type='button';b.textContent=th.textContent;th.textContent='';th.appendChild(b);
    b.addEventListener('click',function(){
      var asc=th.getAttribute('aria-sort')!=='ascending';
      t.querySelectorAll('th').forEach(function(o){o.removeAttribute('aria-sort')});
      th.setAttribute('aria-sort',asc?'ascending':'descending');
      var rows=Array.prototype.slice.call(t.tBodies[0].rows);
      var key=function(r){var c=r.cells[i];var v=c.getAttribute('data-sort');return v!==null&&v!==''&&!isNaN(+v)?+v:(v||c.textContent).toLowerCase()};
      rows.sort(function(x,y){var a=key(x),c=key(y);return (a<c?-1:a>c?1:0)*(asc?1:-1)});
      rows.forEach(function(r){t.tBodies[0].appendChild(r)});
    });
  });
});
`;

/** The page's size that thumbnails never take it over (the report's 5 MB target for a fleet's page). */
export const PAGE_BYTES_FOR_THUMBNAILS = 5_000_000;

function renderBootCell(r: ReportRow, showThumbnail: boolean): string {
  const b = r.bootProof;
  if (!b) return '<td data-sort="0">none</td>';
  const at = e(when(b.time));
  let shot = '';
  if (b.thumbnail && showThumbnail) {
    const alt = `Console screenshot of ${r.domain}, point ${b.point}, at the end of its boot proof (${when(b.time)} UTC)`;
    shot = `<br><img class="thumb" src="${e(b.thumbnail.dataUri)}" width="${b.thumbnail.width}" height="${b.thumbnail.height}" alt="${e(alt)}">`;
  } else if (b.screenshotProblem) shot = `<br><span class="meta">${e(b.screenshotProblem)}</span>`;
  return `<td data-sort="${Date.parse(b.time)}">${b.ok ? '<span class="ok">booted</span>' : '<span class="critical">did not boot</span>'} ${
    b.stale ? `<span class="warning">${at}</span>` : at
  }<br><span class="meta">${e(b.point)}</span>${shot}</td>`;
}

function renderRow(r: ReportRow, showThumbnail: boolean): string {
  const age = r.lastGood;
  return `<tr>
<td>${e(r.host)}</td>
<th scope="row"><a href="#${anchor(r)}">${e(r.domain)}</a></th>
<td data-sort="${r.state === 'ok' ? 0 : r.state === 'warning' ? 1 : 2}"><span class="state ${r.state}">${WORD[r.state]}</span>${
    r.problems.length > 0 ? `<ul class="problems">${r.problems.map((p) => `<li>${e(p)}</li>`).join('')}</ul>` : ''
  }</td>
<td>${r.tags === undefined ? '<span class="meta">unknown</span>' : r.tags.length === 0 ? 'none' : e(r.tags.join(', '))}</td>
<td>${r.libvirtState === undefined ? '<span class="meta">unknown</span>' : e(r.libvirtState)}</td>
<td>${e(r.engine)}</td>
<td data-sort="${age ? age.ageSeconds : 1e12}">${age ? `<span class="${age.state}">${e(when(age.time))}</span><br><span class="meta">${describeAge(age.ageSeconds)} ago</span>` : '<span class="critical">none</span>'}</td>
<td class="num" data-sort="${r.restorePoints}">${r.restorePoints}</td>
<td class="num" data-sort="${r.chains}">${r.chains}</td>
<td class="num" data-sort="${r.sizeOnDisk}">${bytes(r.sizeOnDisk)}</td>
<td data-sort="${r.lastVerify ? Date.parse(r.lastVerify.time) : 0}">${
    r.lastVerify ? `<span class="${r.lastVerify.ok ? 'ok' : 'critical'}">${r.lastVerify.ok ? 'ok' : 'failed'}</span> ${e(when(r.lastVerify.time))}` : 'never'
  }</td>
${renderBootCell(r, showThumbnail)}
<td>${r.protectedPoints > 0 ? `${r.protectedPoints} protected` : ''}${r.labels.length > 0 ? `${r.protectedPoints > 0 ? '<br>' : ''}${e(r.labels.join(', '))}` : ''}</td>
</tr>`;
}

/** The charts of a page, drawn: the SVG of each job by its id. */
export type DrawnCharts = ReadonlyMap<string, string>;

function renderDetails(r: ReportRow, charts: DrawnCharts): string {
  const id = anchor(r);
  const chart = hasTimeline(r) ? `<div class="chart">${charts.get(`${id}-t`)!}</div>` : '<p>No restore points.</p>';
  const runs = r.runs
    .map(
      (x) =>
        `<tr><td>${e(when(x.time))}</td><td class="${x.result === 'success' ? 'ok' : 'critical'}">${x.result}</td><td class="num">${
          x.durationSeconds === null ? '-' : formatRunSeconds(x.durationSeconds)
        }</td><td class="num">${x.bytes === null ? '-' : bytes(x.bytes)}</td><td>${e(x.note)}</td></tr>`,
    )
    .join('');
  return `<details id="${anchor(r)}"><summary>${e(r.host)} / ${e(r.domain)} <span class="state ${r.state}">${WORD[r.state]}</span></summary>
${r.error ? `<p class="critical">${e(r.error)}</p>` : ''}
${renderBootDetails(r)}<h3>Restore points</h3><p class="meta key">Each chain is a shaded band; <span class="k-full">◆</span> fulls, <span class="k-inc">—</span> incrementals, <span class="k-fail">▲</span> failed runs. Pruned and merged points are absent.</p>${chart}
${
  r.phaseRuns.length > 0
    ? `<h3>Where the time went</h3><p class="meta">Each bar is one backup run, oldest left, split into its phases (lock, reading the domain, plan, freeze, the engine's job, checksums, flush, manifest, prune, hooks).</p><div class="chart">${charts.get(`${id}-p`)!}</div>`
    : ''
}
<h3>Last runs</h3>${runs ? `<div class="table-wrap"><table class="runs"><caption class="meta">Newest first</caption><thead><tr><th scope="col">Time (UTC)</th><th scope="col">Result</th><th scope="col">Duration</th><th scope="col">Bytes</th><th scope="col">What</th></tr></thead><tbody>${runs}</tbody></table></div>` : '<p>No runs recorded.</p>'}
</details>`;
}

/** The boot proof in the domain's details: how long the guest took to answer, and where the whole evidence is. */
function renderBootDetails(r: ReportRow): string {
  const b = r.bootProof;
  if (!b) return '';
  const answered = b.firstAnswerSeconds === undefined ? '' : ` (first answer after ${formatRunSeconds(b.firstAnswerSeconds)})`;
  return `<p>Last boot proof: <span class="${b.ok ? 'ok' : 'critical'}">${b.ok ? 'booted' : 'did not boot'}</span>${answered}; its evidence is in the domain's folder: ${e(b.evidence)}</p>
`;
}

function renderFolder(f: ReportFolderView, charts: DrawnCharts): string {
  const fc = f.forecast;
  const free = fc ? bytes(fc.freeBytes) : 'unknown';
  const outlook = !fc
    ? `Free space unknown: ${e(f.forecastError ?? 'not read')}`
    : fc.daysLeft !== null && fc.fullAt
      ? `Full in <strong class="${f.verdict.state}">${Math.floor(fc.daysLeft)} days</strong>, on ${e(fc.fullAt.slice(0, 10))}, at ${bytes(Math.max(0, fc.bytesPerDay ?? 0))} a day.`
      : fc.bytesPerDay === null
        ? 'No forecast yet: not enough history.'
        : `Does not fill at the current rate (${fc.bytesPerDay <= 0 ? 'prune removes as much as is written' : 'growing slowly'}).`;
  return `<section aria-labelledby="${folderId(f)}"><h3 id="${folderId(f)}">${e(f.host)}: ${e(f.output)}</h3>
<p>Size on disk ${bytes(f.sizeOnDisk)}, free ${free}. ${outlook}</p>
${fc ? `<p class="meta">How: ${e(fc.basis)}.</p>` : ''}
<div class="chart">${charts.get(`${folderId(f)}-c`)!}</div></section>`;
}

/**
 * The whole report page around its charts, already drawn (every job of chart-jobs.ts, by id): the
 * charts are drawn while the domains are read, on worker threads (see chart-pool.ts).
 *
 * The boot proofs' thumbnails fill the room the page has under PAGE_BYTES_FOR_THUMBNAILS: those of
 * failed proofs first (what the console showed is why it failed), then the others in the table's
 * order. A fleet's page that would go over shows the rest as "not shown"; a smaller one shows all.
 */
export function renderReportHtml(doc: ReportDocument, charts: DrawnCharts, pageBytes = PAGE_BYTES_FOR_THUMBNAILS): string {
  const withThumbnail = doc.rows.filter((r) => r.bootProof?.thumbnail !== undefined);
  const bare = renderPage(doc, charts, { shown: new Set(), hidden: withThumbnail.length, pageBytes });
  if (withThumbnail.length === 0) return bare;
  let room = pageBytes - Buffer.byteLength(bare);
  const shown = new Set<ReportRow>();
  for (const r of [...withThumbnail.filter((x) => !x.bootProof!.ok), ...withThumbnail.filter((x) => x.bootProof!.ok)]) {
    const cost = Buffer.byteLength(renderBootCell(r, true)) - Buffer.byteLength(renderBootCell(r, false));
    if (cost > room) continue;
    shown.add(r);
    room -= cost;
  }
  return shown.size === 0 ? bare : renderPage(doc, charts, { shown, hidden: withThumbnail.length - shown.size, pageBytes });
}

/** Which rows show their thumbnail, how many do not for want of room, and that room. */
interface ThumbnailChoice {
  shown: ReadonlySet<ReportRow>;
  hidden: number;
  pageBytes: number;
}

function renderPage(doc: ReportDocument, charts: DrawnCharts, thumbnails: ThumbnailChoice): string {
  const { fleet } = doc;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vmkeep backup report</title><style>${CSS}</style></head>
<body><main>
<h1>vmkeep backup report</h1>
<p class="meta">Made ${e(doc.generatedAt.toISOString().slice(0, 19).replace('T', ' '))} UTC by vmkeep ${e(doc.version)}. Times are UTC.</p>
<section class="verdict ${fleet.state}" aria-label="Verdict"><p>${e(fleet.headline)}</p>${
    fleet.reasons.length > 0 ? `<ul>${fleet.reasons.map((r) => `<li>${e(r)}</li>`).join('')}</ul>` : ''
  }</section>
<h2>Domains</h2>
<div class="table-wrap"><table class="sortable" id="domains"><caption class="meta">One row per host and domain; sort by a column with its header. Ages are coloured by the warning and critical thresholds.${
    thumbnails.hidden > 0
      ? ` ${thumbnails.hidden} boot proof screenshot${thumbnails.hidden === 1 ? ' is' : 's are'} not shown: the page keeps under ${bytes(thumbnails.pageBytes)} (those of failed proofs are shown first).`
      : ''
  }</caption>
<thead><tr><th scope="col">Host</th><th scope="col">Domain</th><th scope="col">Verdict</th><th scope="col">Tags</th><th scope="col">State</th><th scope="col">Engine</th><th scope="col">Last good backup</th><th scope="col">Points</th><th scope="col">Chains</th><th scope="col">Size on disk</th><th scope="col">Last verify</th><th scope="col">Last boot proof</th><th scope="col">Protected, labels</th></tr></thead>
<tbody>
${doc.rows.map((r) => renderRow(r, thumbnails.shown.has(r))).join('\n')}
</tbody></table></div>
<h2>Output folders</h2>
${doc.folders.map((f) => renderFolder(f, charts)).join('\n')}
<h2>Per domain</h2>
${doc.rows.map((r) => renderDetails(r, charts)).join('\n')}
</main><script>${SCRIPT}</script></body></html>
`;
}

/** A run's duration: tenths under 10 s (a push incremental takes well under a second; "0 s" said nothing). */
export function formatRunSeconds(s: number): string {
  return s < 10 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`;
}
