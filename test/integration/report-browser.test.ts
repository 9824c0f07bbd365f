/**
 * `vmkeep report` made from real backups on a small tmpfs (four domains: virtnbdbackup and push
 * engines, a run that failed for want of space, a verify that found a flipped byte, and the booting
 * test guest proved by a real `verify --boot --screenshot`), opened in Debian's chromium: no
 * console error, no request, every domain with its verdict, the boot proof with its console
 * thumbnail inline, charts with axes, no serious accessibility violation; screenshots of the whole
 * page with every domain's details open at 1280 and 390 px in test-artifacts/. The report written
 * after the verify run takes the config's check.bootMaxAge. The same folder, shrunk, makes
 * `check --min-days-left` go WARNING and CRITICAL, and a run's notification warn of it; the report
 * written after that run judges the folder by the config's check.minDaysLeft. status --json's
 * forecast and next-backup figures, checked against the manifests on disk, and the metrics
 * textfile carrying the same (promtool clean); a folder with one day of history gets no forecast
 * number.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { MiB, backupCli, chainFolders, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { startReceiver, type HttpReceiver } from '../helpers/http-receiver.js';
import { bootTestGuest, type TestGuest } from '../helpers/guest.js';
import { createTestDomain, destroyDomain, virsh, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { promtool } from '../helpers/promtool.js';

const lockDir = useLockDirAndCleanup();
const ARTIFACTS = path.resolve('test-artifacts');
const DAY = (n: number, h = 2) => `2026-06-0${n}T0${h}:00:00Z`;
const NOW = DAY(5, 6);

let fsTmp: Tmpfs;
let out: string;
let html: string;
let nbd: TestDomain;
let push: TestDomain;
let full: TestDomain;
let booted: TestGuest;
/** The report vmkeep wrote after the verify --boot run (config report.html, check.bootMaxAge 2d). */
let afterVerify: string;
/** The evidence folder of the guest's boot proof. */
let bootEvidence: string;
let browser: Browser | undefined;
/** Outside the tmpfs: textfiles, config files and the reports written after runs (they must not eat the folder's room). */
let work: string;
let receiver: HttpReceiver;
const env = () => ({ VMKEEP_LOCK_DIR: lockDir, VMKEEP_NOW: NOW });

async function backup(dom: TestDomain, day: string, extra: string[] = [], code = 0) {
  return expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json', ...extra], { lockDir, now: day }), code);
}

beforeAll(async () => {
  fsTmp = await mountTmpfs(256);
  out = path.join(fsTmp.dir, 'out');
  fs.mkdirSync(out);
  // The booting guest (TCG: a minute or two) boots while the others are backed up.
  const guest = bootTestGuest({ label: 'report', vnc: true });
  [nbd, push, full] = (await Promise.all([1, 2, 3].map(() => createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 64 }] })))) as [
    TestDomain,
    TestDomain,
    TestDomain,
  ];
  for (const [i, day] of [DAY(1), DAY(3), DAY(5)].entries()) {
    for (const d of [nbd!, push!, full!]) await writeGuestData(d, 'vda', { pattern: 0x11 + i, offset: i * 4 * MiB, length: 2 * MiB });
    await backup(nbd!, day);
    await backup(push!, day, ['--engine', 'push']);
    if (i < 2) await backup(full!, day);
  }
  // The third domain's last run meets a full disk: a failed run on record.
  await writeGuestData(full!, 'vda', { pattern: 0x44, offset: 16 * MiB, length: 24 * MiB });
  const used = Math.ceil((256 * MiB - fsTmp.freeBytes()) / MiB);
  await fsTmp.resize(used + 4);
  await backup(full!, DAY(5), [], 2);
  await fsTmp.resize(256);
  // A flipped byte in the first domain's incremental: its verify fails.
  const chain = path.join(out, nbd!.name, chainFolders(out, nbd!.name)[0]!);
  const inc = path.join(chain, 'vda.inc.virtnbdbackup.1.data');
  const buf = fs.readFileSync(inc);
  buf[buf.length >> 1] = buf[buf.length >> 1]! ^ 0x01;
  fs.writeFileSync(inc, buf);
  const v = await runVmkeep(['verify', '--output', out, '--domains', nbd!.name, '--json'], { env: { VMKEEP_LOCK_DIR: lockDir, VMKEEP_NOW: NOW } });
  expect(v.code, v.stderr).not.toBe(0);
  // The booting guest: one push backup, then its point booted in a verify domain, console screenshot kept.
  booted = await guest;
  await backup(booted, DAY(5), ['--engine', 'push']);
  afterVerify = path.join(fsTmp.dir, 'after-verify.html');
  const config = path.join(fsTmp.dir, 'config.yaml');
  fs.writeFileSync(config, `report:\n  html: ${JSON.stringify(afterVerify)}\ncheck:\n  bootMaxAge: 2d\n`);
  const proof = await runVmkeep(
    ['verify', '--boot', '--config', config, '--output', out, '--domains', booted.name, '--check', 'agent', '--boot-timeout', '240', '--screenshot', '--json'],
    { env: { VMKEEP_LOCK_DIR: lockDir, VMKEEP_NOW: NOW }, timeoutMs: 600_000 },
  );
  expect(proof.code, proof.stderr + proof.stdout).toBe(0);
  const proved = parseJsonOutput<{ points: Array<{ result: string; screenshot: boolean; evidence: string }> }>(proof).points;
  expect(proved).toMatchObject([{ result: 'ok', screenshot: true }]);
  bootEvidence = proved[0]!.evidence;
  html = path.join(fsTmp.dir, 'report.html');
  const r = await runVmkeep(['report', '--output', out, '--html', html, '--json'], { env: { VMKEEP_LOCK_DIR: lockDir, VMKEEP_NOW: NOW } });
  expect(r.code, r.stderr).toBe(0);
  browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  work = fs.mkdtempSync('/var/tmp/vmkeep-test-report-');
  receiver = await startReceiver();
}, 900_000);

afterAll(async () => {
  // A verify domain of this file's guest, should a failed assertion have left one.
  for (const name of (await virsh(['list', '--all', '--name']).catch(() => '')).split('\n').map((l) => l.trim())) {
    if (!booted || !name.startsWith(`vmkeep-verify-${booted.name}`)) continue;
    await virsh(['destroy', name]).catch(() => undefined);
    await virsh(['undefine', name, '--nvram']).catch(() => undefined);
  }
  await browser?.close();
  await receiver?.close();
  await fsTmp?.unmount();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

interface Forecast {
  bytesPerDay: number | null;
  freeBytes: number;
  fullAt: string | null;
  daysLeft: number | null;
  basis: string;
  domains: Array<{ domain: string; writtenPerDay: number | null; removedPerDay: number | null; historyDays: number }>;
}
type StatusDoc = Record<string, { backups: { forecast: Forecast; nextBackupBytes: number | null; nextBackupBasis: string } }>;
type CheckDoc = { state: number; line: string; domains: Array<{ domain: string; state: number; problems: string[]; daysLeft?: number }> };

/** status of the named domains only: this host's other domains (other test files') are none of its business. */
async function statusOf(output: string, domains: readonly TestDomain[], extra: string[] = []): Promise<StatusDoc> {
  const run = await runVmkeep(['status', '--output', output, '--domains', domains.map((d) => d.name).join(','), '--json', ...extra], { env: env() });
  expect(run.code, run.stderr).toBe(0);
  return parseJsonOutput<StatusDoc>(run);
}

/**
 * Shrink the tmpfs to what is used plus `days` of the folder's measured growth, run `fn` with the
 * days status then reports, and give the room back.
 */
async function withRoomFor(days: number, fn: (daysLeft: number) => Promise<void>): Promise<void> {
  const rate = (await statusOf(out, [push]))[push.name]!.backups.forecast.bytesPerDay!;
  expect(rate).toBeGreaterThan(0);
  const used = 256 * MiB - fsTmp.freeBytes();
  await fsTmp.resize(Math.ceil((used + days * rate) / MiB));
  try {
    const left = (await statusOf(out, [push]))[push.name]!.backups.forecast.daysLeft!;
    // The premise of every threshold below: a few days left, well clear of 1, 5 and 10.
    expect(left).toBeGreaterThan(days - 0.5);
    expect(left).toBeLessThan(days + 1.5);
    await fn(left);
  } finally {
    await fsTmp.resize(256);
  }
}

/** What docs/REPORT.md says the forecast does, done here from the manifests on disk: each point's file bytes, cumulated; the median slope between every two points (Theil-Sen), bytes a day. */
function measureFromManifests(output: string, domain: string): { writtenPerDay: number | null; historyDays: number } {
  const points = chainFolders(output, domain)
    .flatMap((c) => {
      const m = JSON.parse(fs.readFileSync(path.join(output, domain, c, 'vmkeep-manifest.json'), 'utf8')) as {
        points: Array<{ time: string; files: Array<{ size: number }> }>;
      };
      return m.points.map((p) => ({ t: Date.parse(p.time), bytes: p.files.reduce((n, f) => n + f.size, 0) }));
    })
    .sort((a, b) => a.t - b.t);
  const historyDays = (points.at(-1)!.t - points[0]!.t) / 86_400_000;
  if (historyDays < 2) return { writtenPerDay: null, historyDays };
  let total = 0;
  const xy = points.map((p) => ({ x: (p.t - points[0]!.t) / 86_400_000, y: (total += p.bytes) }));
  const slopes = xy.flatMap((a, i) => xy.slice(i + 1).map((b) => (b.y - a.y) / (b.x - a.x))).sort((a, b) => a - b);
  const mid = slopes.length >> 1;
  return { writtenPerDay: slopes.length % 2 === 1 ? slopes[mid]! : (slopes[mid - 1]! + slopes[mid]!) / 2, historyDays };
}

/** The median of a domain's last five incrementals' guest data bytes, from its manifests. */
function medianOfIncrementals(output: string, domain: string): number {
  const incs = chainFolders(output, domain)
    .flatMap((c) => {
      const m = JSON.parse(fs.readFileSync(path.join(output, domain, c, 'vmkeep-manifest.json'), 'utf8')) as {
        points: Array<{ time: string; level: string; dataBytes: number }>;
      };
      return m.points.filter((p) => p.level === 'inc');
    })
    .sort((a, b) => Date.parse(a.time) - Date.parse(b.time))
    .slice(-5)
    .map((p) => p.dataBytes)
    .sort((a, b) => a - b);
  const mid = incs.length >> 1;
  return incs.length % 2 === 1 ? incs[mid]! : Math.round((incs[mid - 1]! + incs[mid]!) / 2);
}

/** The lines of one metric family in a textfile: its HELP, its TYPE and its samples. */
function family(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`# HELP ${name} `) || l.startsWith(`# TYPE ${name} `) || l.startsWith(`${name}{`));
}

/**
 * A screenshot of the whole page at this width, as it is now (details open): the page's height is
 * read after the layout settled at the new width, and the PNG must be that tall (a full-page
 * shot taken on a height measured before the details opened was cut off under them).
 */
async function shootWholePage(page: Page, width: number, height: number, file: string): Promise<void> {
  await page.setViewport({ width, height });
  // Two frames: the new width's layout is done and painted before the height is read.
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
  const pageHeight = (await page.evaluate('document.documentElement.scrollHeight')) as number;
  expect(pageHeight).toBeGreaterThan(height);
  await page.setViewport({ width, height: pageHeight });
  await page.screenshot({ path: file, fullPage: true });
  const png = fs.readFileSync(file);
  expect([png.readUInt32BE(16), png.readUInt32BE(20)], file).toEqual([width, pageHeight]);
}

describe('vmkeep report in a real browser', () => {
  it('loads with no console error and no request, shows every domain with its verdict, charts with axes, passes axe', async () => {
    const page = await browser!.newPage();
    const url = `file://${html}`;
    const requests: string[] = [];
    const errors: string[] = [];
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      // A data: URI (the thumbnail) is the page's own bytes, not a request to anywhere.
      if (req.url() !== url && !req.url().startsWith('data:')) requests.push(req.url());
      void req.continue();
    });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(url, { waitUntil: 'load' });
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);

    const rows = await page.$$eval('#domains tbody tr', (trs) =>
      trs.map((tr) => ({
        domain: tr.querySelector('th')!.textContent!.trim(),
        verdict: tr.cells[2]!.textContent!.trim(),
        boot: tr.cells[11]!.textContent!.trim(),
      })),
    );
    const verdictOf = (d: TestDomain) => rows.find((r) => r.domain === d.name)?.verdict;
    expect(rows).toHaveLength(4);
    expect(verdictOf(nbd)).toMatch(/^needs attention now.*last verify failed/);
    expect(verdictOf(push)).toBe('OK');
    expect(verdictOf(full)).toMatch(/^needs attention.*last run failed: .*space/);
    expect(verdictOf(booted)).toBe('OK');
    const headline = await page.$eval('.verdict p', (p) => p.textContent);
    expect(headline).toBe('2 domains are fine, 2 need attention.');
    // The last boot proof: the guest's, with its console's thumbnail, loaded from the page itself; "none" elsewhere.
    expect(rows.filter((r) => r.domain !== booted.name).map((r) => r.boot)).toEqual(['none', 'none', 'none']);
    expect(rows.find((r) => r.domain === booted.name)!.boot).toMatch(/^booted 2026-06-05 06:00\s*vmsnap-backup-monthly-2026-06\/vmkeep\.[0-9a-f]+\.0$/);
    const thumbs = await page.$$eval('#domains img', (imgs) =>
      imgs.map((i) => ({
        row: i.closest('tr')!.querySelector('th')!.textContent!.trim(),
        src: i.src,
        alt: i.alt,
        complete: i.complete,
        w: i.naturalWidth,
        h: i.naturalHeight,
      })),
    );
    expect(thumbs).toHaveLength(1);
    expect(thumbs[0]).toMatchObject({ row: booted.name, complete: true, w: 160, h: 89 });
    // The thumbnail verify --boot kept beside the screenshot, inline.
    const kept = fs.readFileSync(path.join(bootEvidence, 'screenshot-thumbnail.png'));
    expect(thumbs[0]!.src).toBe(`data:image/png;base64,${kept.toString('base64')}`);
    expect(thumbs[0]!.alt).toMatch(new RegExp(`^Console screenshot of ${booted.name}, point \\S+, at the end of its boot proof \\(2026-06-05 06:00 UTC\\)$`));
    const details = await page.$$eval('details', (ds) => ds.map((d) => d.textContent ?? ''));
    expect(details.find((d) => d.includes(booted.name))).toMatch(
      /Last boot proof: booted \(first answer after [\d.]+ s\); its evidence is in the domain's folder: vmsnap-backup-monthly-2026-06\/\.boot-verify\/vmkeep\.[0-9a-f]+\.0\//,
    );
    expect(await page.$eval('#domains tbody', (b) => b.textContent)).toContain('push');

    // One chart per domain and one per output folder, each with a time axis and a byte axis.
    const charts = await page.$$eval('.chart svg', (svgs) => svgs.map((s) => ({ label: s.getAttribute('aria-label') ?? '', text: s.textContent ?? '' })));
    // Beside them, per domain whose points recorded their phases, where each run's time went.
    const phaseCharts = charts.filter((c) => / where the time of its last \d+ runs went, by phase/.test(c.label));
    expect(phaseCharts).toHaveLength(4);
    for (const c of phaseCharts) {
      expect(c.text).toContain('seconds');
      expect(c.text).toContain('engine');
      expect(c.text).toContain('checksums');
    }
    const timeCharts = charts.filter((c) => !phaseCharts.includes(c));
    expect(timeCharts).toHaveLength(5);
    for (const c of timeCharts) {
      // A time axis: day numbers or month names (which ones depends on the chart's width).
      expect(c.text).toMatch(/Jun|Jul|0[1-5]/);
      expect(c.text).toMatch(/[KM]B/);
    }
    expect(charts.find((c) => c.label.startsWith(`${push.name}:`))?.label).toMatch(/3 restore points in 1 chains \(1 full\), 0 failed runs/);
    expect(charts.find((c) => c.label.startsWith(`${full.name}:`))?.label).toMatch(/1 failed runs/);

    // Sorting works (the script's only job): by domain, descending on the second click.
    await page.click('#domains thead th:nth-child(2) button');
    await page.click('#domains thead th:nth-child(2) button');
    const sorted = await page.$$eval('#domains tbody th', (ths) => ths.map((t) => t.textContent!.trim()));
    expect(sorted).toEqual([...sorted].sort().reverse());

    const require = createRequire(import.meta.url);
    await page.setBypassCSP(true);
    await page.reload({ waitUntil: 'load' });
    // Every domain's details open, so axe also reads the runs, the boot proof and the charts inside them.
    await page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })");
    await page.addScriptTag({ content: fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8') });
    // A string, so the test's TypeScript needs no DOM types: axe.run() in the page.
    const violations = (await page.evaluate(
      'axe.run().then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))',
    )) as Array<{ id: string; impact: string; nodes: number }>;
    expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await shootWholePage(page, 1280, 900, path.join(ARTIFACTS, 'report-1280.png'));
    await shootWholePage(page, 390, 844, path.join(ARTIFACTS, 'report-390.png'));
    await page.close();
  });

  it('reads with JavaScript off: the table, the verdict and the charts are all in the HTML', async () => {
    const page = await browser!.newPage();
    await page.setJavaScriptEnabled(false);
    await page.goto(`file://${html}`, { waitUntil: 'load' });
    expect(await page.$$eval('#domains tbody tr', (t) => t.length)).toBe(4);
    expect(await page.$$eval('.chart svg', (s) => s.length)).toBe(5 + 4);
    expect(await page.$$eval('#domains img', (i) => i.length)).toBe(1);
    await page.close();
  });

  it("the report written after verify --boot takes the config's check.bootMaxAge: the domains never proved by booting need attention", () => {
    // The verdict's reasons, one per domain that needs attention: "HOST/DOMAIN: problem; problem".
    const reasons = [...fs.readFileSync(afterVerify, 'utf8').matchAll(/<li>([^<]*)<\/li>/g)].map((m) => m[1]!);
    for (const d of [nbd, push, full])
      expect(reasons.find((r) => r.includes(`/${d.name}: `))).toContain('never proved by booting with vmkeep verify --boot (limit 2d)');
    expect(reasons.filter((r) => r.includes(`/${booted.name}: `))).toEqual([]);
  });

  it('bad input: --html into a missing folder, a folder that is not an output folder: one line, exit 64, nothing written', async () => {
    const missing = path.join(fsTmp.dir, 'no-such-folder', 'r.html');
    const a = await runVmkeep(['report', '--output', out, '--html', missing]);
    expect(a.code).toBe(64);
    expect(a.stderr.trim().split('\n')).toEqual([`vmkeep: --html ${missing}: folder ${path.dirname(missing)} does not exist`]);
    expect(fs.existsSync(path.dirname(missing))).toBe(false);
    const notRepo = fs.mkdtempSync(path.join(fsTmp.dir, 'plain-'));
    fs.writeFileSync(path.join(notRepo, 'notes.txt'), 'hello');
    const target = path.join(fsTmp.dir, 'never.html');
    const b = await runVmkeep(['report', '--output', notRepo, '--html', target]);
    expect(b.code).toBe(64);
    expect(b.stderr.trim().split('\n')).toEqual([`vmkeep: --output ${notRepo} is not a vmkeep or VMSnap output folder (no chain folders, no .vmkeep.lock)`]);
    expect(fs.existsSync(target)).toBe(false);
  });

  it('a damaged manifest still renders: that row says what is wrong', async () => {
    const copy = fs.mkdtempSync(path.join(fsTmp.dir, 'damaged-'));
    fs.cpSync(out, copy, { recursive: true });
    const chain = path.join(copy, push.name, chainFolders(copy, push.name)[0]!);
    fs.writeFileSync(path.join(chain, 'vmkeep-manifest.json'), '{"format": "vmkeep-chain/1", "points": [');
    const target = path.join(fsTmp.dir, 'damaged.html');
    const r = await runVmkeep(['report', '--output', copy, '--html', target, '--json'], { env: { VMKEEP_NOW: NOW } });
    expect(r.code, r.stderr).toBe(0);
    const doc = parseJsonOutput<{ domains: Array<{ domain: string; state: string; problems: string[] }> }>(r);
    const row = doc.domains.find((d) => d.domain === push.name)!;
    expect(row.state).toBe('critical');
    expect(row.problems[0]).toMatch(/^cannot read its backups: .*vmkeep-manifest\.json/);
    expect(fs.readFileSync(target, 'utf8')).toContain('cannot read its backups');
    fs.rmSync(copy, { recursive: true, force: true });
  });

  it('check --min-days-left D,C: OK with room to spare; WARNING (exit 1) under D; CRITICAL (exit 2) under C', async () => {
    const args = (days: string, json = true) => [
      'check',
      '--output',
      out,
      '--domains',
      push.name,
      '--warning',
      '1000d',
      '--critical',
      '2000d',
      '--min-days-left',
      days,
      ...(json ? ['--json'] : []),
    ];
    const folderOf = (doc: CheckDoc) => doc.domains.find((d) => d.domain === `output ${out}`)!;
    const roomy = await runVmkeep(args('10,5'), { env: env() });
    expect(roomy.code, roomy.stdout).toBe(0);
    expect(folderOf(parseJsonOutput<CheckDoc>(roomy))).toMatchObject({ state: 0, problems: [], daysLeft: expect.any(Number) });
    expect(folderOf(parseJsonOutput<CheckDoc>(roomy)).daysLeft).toBeGreaterThan(10);
    // Shrink the tmpfs to what is used plus about three days of the measured growth.
    await withRoomFor(3, async (left) => {
      const fills = `output ${out}: fills in ${left} days \\(\\d{4}-\\d\\d-\\d\\d\\)`;
      const warn = await runVmkeep(args('10'), { env: env() });
      expect(warn.code, warn.stdout).toBe(1);
      const w = parseJsonOutput<CheckDoc>(warn);
      expect(w.state).toBe(1);
      expect(w.line).toMatch(new RegExp(`^VMKEEP WARNING - ${fills} \\(warning 10 days\\)`));
      expect(folderOf(w)).toMatchObject({ state: 1, daysLeft: left });
      // A critical level the days left have not reached yet: still WARNING.
      const above = await runVmkeep(args('10,1'), { env: env() });
      expect(above.code, above.stdout).toBe(1);
      expect(parseJsonOutput<CheckDoc>(above).line).toMatch(new RegExp(`^VMKEEP WARNING - ${fills} \\(warning 10 days\\)`));
      // Under C: CRITICAL, exit 2, in the JSON document and in the plugin line Nagios reads (text, first line).
      const crit = await runVmkeep(args('10,5'), { env: env() });
      expect(crit.code, crit.stdout).toBe(2);
      const c = parseJsonOutput<CheckDoc>(crit);
      expect(c.state).toBe(2);
      expect(c.line).toMatch(new RegExp(`^VMKEEP CRITICAL - ${fills} \\(critical 5 days\\)`));
      expect(folderOf(c)).toMatchObject({ state: 2, daysLeft: left, problems: [expect.stringMatching(/\(critical 5 days\)$/)] });
      const text = await runVmkeep(args('10,5', false), { env: env() });
      expect(text.code).toBe(2);
      const first = text.stdout.split('\n')[0]!;
      expect(first).toMatch(new RegExp(`^VMKEEP CRITICAL - ${fills} \\(critical 5 days\\) \\| `));
      expect(first).toContain(`'days_left_${out}'=${left};;;0;`);
      expect(text.stdout.split('\n')).toContain(`output ${out}: CRITICAL - ${folderOf(c).problems[0]}`);
    });
  });
});

describe('the forecast of the same folder, from real runs', () => {
  it('a run whose folder fills sooner than the warning: its notification says so; the report written after it judges the folder by the config', async () => {
    const notify = ['--notify', `${receiver.url}/attention`, '--notify-on', 'partial,failure'];
    const verify = (extra: string[]) => runVmkeep(['verify', '--output', out, '--domains', push.name, '--json', ...notify, ...extra], { env: env() });
    const config = (name: string, body: string) => {
      const file = path.join(work, name);
      fs.writeFileSync(file, body);
      return file;
    };
    await withRoomFor(3, async (left) => {
      // No config: the notice warns under 14 days, the report judges by 14,7 (3 days: critical).
      receiver.requests.length = 0;
      const byDefault = path.join(work, 'after-default.html');
      const run = await verify(['--report-html', byDefault]);
      expect(run.code, run.stderr).toBe(0);
      expect(receiver.requests.map((q) => q.path)).toEqual(['/attention']);
      const body = JSON.parse(receiver.requests[0]!.body) as {
        command: string;
        outcome: string;
        exitCode: number;
        summary: string;
        details: string[];
        forecast: { output: string; daysLeft: number; fullAt: string; warningDays: number; message: string };
      };
      expect(body).toMatchObject({ command: 'verify', outcome: 'success', exitCode: 0 });
      expect(body.forecast).toMatchObject({ output: out, daysLeft: left, warningDays: 14 });
      expect(body.summary).toMatch(new RegExp(`; ${out} full in ${Math.floor(left)} days$`));
      expect(body.details.at(-1)).toBe(body.forecast.message);
      expect(body.forecast.message).toMatch(
        new RegExp(
          `^output folder ${out} will be full in ${Math.floor(left)} days \\(on ${body.forecast.fullAt.slice(0, 10)}\\) at the current rate of .+ a day, under the warning of 14 days`,
        ),
      );
      const defaultReport = fs.readFileSync(byDefault, 'utf8');
      expect(defaultReport).toMatch(new RegExp(`Full in <strong class="critical">${Math.floor(left)} days</strong>`));
      expect(defaultReport).toContain(`output folder ${out} fills in ${Math.floor(left)} days`);

      // The config's check.minDaysLeft 2,1 (fewer days than are left): no notice, so a target that
      // hears only of partial and failed runs hears nothing of this successful one; the config's
      // report.html is written, and it calls the folder fine.
      receiver.requests.length = 0;
      const byConfig = path.join(work, 'after-config.html');
      const relaxed = config('relaxed.yaml', `report:\n  html: ${byConfig}\ncheck:\n  minDaysLeft: "2,1"\n`);
      const calm = await verify(['--config', relaxed]);
      expect(calm.code, calm.stderr).toBe(0);
      expect(receiver.requests).toEqual([]);
      const configReport = fs.readFileSync(byConfig, 'utf8');
      expect(configReport).toMatch(new RegExp(`Full in <strong class="ok">${Math.floor(left)} days</strong>`));
      expect(configReport).not.toContain(`output folder ${out} fills in`);

      // check.minDaysLeft 10,5: 3 days is under both: warned, and critical in the report; a
      // warning-only "10" makes it a warning there (no critical level to reach).
      const strict = path.join(work, 'after-strict.html');
      const warnOnly = config('warn-only.yaml', `report:\n  html: ${strict}\ncheck:\n  minDaysLeft: 10\n`);
      receiver.requests.length = 0;
      const warned = await verify(['--config', warnOnly]);
      expect(warned.code, warned.stderr).toBe(0);
      expect(receiver.requests.map((q) => q.path)).toEqual(['/attention']);
      expect((JSON.parse(receiver.requests[0]!.body) as { forecast: { warningDays: number } }).forecast.warningDays).toBe(10);
      expect(fs.readFileSync(strict, 'utf8')).toMatch(new RegExp(`Full in <strong class="warning">${Math.floor(left)} days</strong>`));
    });
  });

  it('the report after a run: --report-html wins over the config; one the config names in a missing folder is a warning, exit 0', async () => {
    const fromConfig = path.join(work, 'config-named.html');
    const fromFlag = path.join(work, 'flag-named.html');
    const cfg = path.join(work, 'report.yaml');
    fs.writeFileSync(cfg, `report:\n  html: ${fromConfig}\n`);
    const both = await runVmkeep(['verify', '--output', out, '--domains', push.name, '--config', cfg, '--report-html', fromFlag], { env: env() });
    expect(both.code, both.stderr).toBe(0);
    expect(both.stderr).toContain(`report written to ${fromFlag}`);
    expect(fs.readFileSync(fromFlag, 'utf8')).toContain(`>${push.name}</a>`);
    expect(fs.existsSync(fromConfig)).toBe(false);

    const missing = path.join(work, 'no-such-folder', 'index.html');
    fs.writeFileSync(cfg, `report:\n  html: ${missing}\n`);
    const lost = await runVmkeep(['verify', '--output', out, '--domains', push.name, '--config', cfg], { env: env() });
    expect(lost.code, lost.stderr).toBe(0);
    expect(lost.stderr).toContain(`could not write the HTML report ${missing}: folder ${path.dirname(missing)} does not exist; the run itself is not affected`);
    expect(fs.existsSync(path.dirname(missing))).toBe(false);
  });

  it('status --json: the folder forecast and each domain next backup, as the manifests on disk and QEMU say; the textfile carries the same (promtool clean)', async () => {
    // Guest data written since the newest point: push 3 MiB now. full's last run failed, so what
    // it wrote after its day-3 point is still to copy: 2 MiB at 8 MiB (day 5) and 24 MiB at 16 MiB.
    await writeGuestData(push, 'vda', { pattern: 0x66, offset: 40 * MiB, length: 3 * MiB });
    const textDir = path.join(work, 'textfile');
    fs.mkdirSync(textDir);
    const free = fsTmp.freeBytes();
    const status = await statusOf(out, [nbd, push, full], ['--textfile', textDir, '--metrics-host', 'hv-test']);
    expect(fsTmp.freeBytes()).toBe(free);

    const next = { [nbd.name]: 0, [push.name]: 3 * MiB, [full.name]: 26 * MiB };
    for (const d of [nbd, push, full]) {
      expect(status[d.name]!.backups, d.name).toMatchObject({ nextBackupBytes: next[d.name], nextBackupBasis: 'dirty-bitmap' });
    }

    // One forecast for the folder, the same with every domain.
    const f = status[push.name]!.backups.forecast;
    for (const d of [nbd, full]) expect(status[d.name]!.backups.forecast).toEqual(f);
    const measured = [nbd, push, full].map((d) => ({ domain: d.name, ...measureFromManifests(out, d.name) }));
    // Three points over four days for two of them, two points over two days for the third: each is counted.
    expect(measured.map((m) => m.historyDays)).toEqual([4, 4, 2]);
    // The booting guest has one point (its boot proof's): listed, not counted yet.
    expect(f.domains).toHaveLength(4);
    expect(f.domains.find((d) => d.domain === booted.name)).toEqual({ domain: booted.name, writtenPerDay: null, removedPerDay: null, historyDays: 0 });
    for (const m of measured) {
      const got = f.domains.find((d) => d.domain === m.domain)!;
      expect(got.historyDays, m.domain).toBe(m.historyDays);
      expect(got.removedPerDay, m.domain).toBe(0);
      expect(got.writtenPerDay!, m.domain).toBeCloseTo(m.writtenPerDay!, 6);
    }
    const net = measured.reduce((n, m) => n + m.writtenPerDay!, 0);
    expect(f.bytesPerDay).toBe(Math.round(net));
    expect(f.freeBytes).toBe(free);
    const days = free / net;
    expect(f.daysLeft).toBe(Math.floor(days * 10) / 10);
    expect(Math.abs(Date.parse(f.fullAt!) - (Date.parse(NOW) + days * 86_400_000))).toBeLessThan(1000);
    expect(f.basis).toBe(
      `Theil-Sen fit of bytes written over the last 90 days by 3 domain(s), ${Math.round(net)} B/day, less 0 B/day removed by prune; not counted yet (less than 2 days of history): ${booted.name}`,
    );

    // The textfile: both families with HELP and TYPE, the same numbers, labelled by host and output or domain.
    const prom = path.join(textDir, 'vmkeep.prom');
    expect(promtool(prom)).toEqual({ ok: true, out: '' });
    const text = fs.readFileSync(prom, 'utf8');
    // When the folder is full, as a time (a count of days would go stale and fails promtool's lint).
    expect(family(text, 'vmkeep_output_full_timestamp_seconds')).toEqual([
      "# HELP vmkeep_output_full_timestamp_seconds When the output folder's filesystem is full at its current net growth (absent: not enough history, or it does not grow).",
      '# TYPE vmkeep_output_full_timestamp_seconds gauge',
      expect.stringMatching(new RegExp(`^vmkeep_output_full_timestamp_seconds\\{host="hv-test",output="${out}"\\} \\d+(\\.\\d{1,3})?$`)),
    ]);
    const fullAt = Number(family(text, 'vmkeep_output_full_timestamp_seconds')[2]!.split(' ').at(-1));
    expect(fullAt).toBeCloseTo(Date.parse(f.fullAt!) / 1000, 2);
    // The booting guest writes its journal all along: its line is there, its number its own.
    const guestLine = `vmkeep_domain_next_backup_bytes{host="hv-test",domain="${booted.name}"} `;
    const nextLines = family(text, 'vmkeep_domain_next_backup_bytes');
    expect(nextLines.filter((l) => l.startsWith(guestLine))).toEqual([expect.stringMatching(/ \d+$/)]);
    expect(nextLines.filter((l) => !l.startsWith(guestLine))).toEqual([
      "# HELP vmkeep_domain_next_backup_bytes Guest data bytes the domain's next backup is expected to copy (QEMU's dirty bitmaps, else its recent incrementals).",
      '# TYPE vmkeep_domain_next_backup_bytes gauge',
      ...[nbd, push, full]
        .map((d) => d.name)
        .sort()
        .map((n) => `vmkeep_domain_next_backup_bytes{host="hv-test",domain="${n}"} ${next[n]}`),
    ]);

    // Shut off, a domain's next backup is the median of its recent incrementals (its disks do not change until it runs).
    await destroyDomain(nbd);
    const off = await statusOf(out, [nbd], ['--textfile', textDir, '--metrics-host', 'hv-test']);
    const median = medianOfIncrementals(out, nbd.name);
    expect(median).toBeGreaterThan(0);
    expect(off[nbd.name]!.backups).toMatchObject({ nextBackupBytes: median, nextBackupBasis: 'history' });
    const after = fs.readFileSync(prom, 'utf8');
    expect(after).toContain(`vmkeep_domain_next_backup_bytes{host="hv-test",domain="${nbd.name}"} ${median}\n`);
    expect(promtool(prom)).toEqual({ ok: true, out: '' });
  });

  it('a folder with one day of history gets no number: null rate, date and days, "not enough history"; check OK; no full-at metric', async () => {
    const young = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 32 }] });
    const youngOut = path.join(fsTmp.dir, 'young');
    // Before its first backup: no bitmap to ask, no incremental to go by.
    const before = await statusOf(out, [young]);
    expect(before[young.name]!.backups).toMatchObject({ nextBackupBytes: null, nextBackupBasis: 'none' });
    for (const [i, day] of [DAY(4), DAY(5)].entries()) {
      await writeGuestData(young, 'vda', { pattern: 0x71 + i, offset: i * 4 * MiB, length: MiB });
      expectDocument(await backupCli(['--domains', young.name, '--output', youngOut, '--json'], { lockDir, now: day }));
    }
    const textDir = path.join(work, 'young-textfile');
    fs.mkdirSync(textDir);
    const status = await statusOf(youngOut, [young], ['--textfile', textDir, '--metrics-host', 'hv-test']);
    const f = status[young.name]!.backups.forecast;
    expect(f).toEqual({
      bytesPerDay: null,
      freeBytes: fsTmp.freeBytes(),
      fullAt: null,
      daysLeft: null,
      basis: 'not enough history: 1.0 day(s) of restore points, 2 needed',
      domains: [{ domain: young.name, writtenPerDay: null, removedPerDay: null, historyDays: 1 }],
    });
    expect(status[young.name]!.backups).toMatchObject({ nextBackupBytes: 0, nextBackupBasis: 'dirty-bitmap' });

    // check judges no number as OK, with no days in the line or the folder's verdict.
    const check = await runVmkeep(
      ['check', '--output', youngOut, '--domains', young.name, '--warning', '1000d', '--critical', '2000d', '--min-days-left', '10,5', '--json'],
      {
        env: env(),
      },
    );
    expect(check.code, check.stdout).toBe(0);
    const doc = parseJsonOutput<CheckDoc>(check);
    expect(doc.domains.find((d) => d.domain === `output ${youngOut}`)).toEqual({
      domain: `output ${youngOut}`,
      output: true,
      state: 0,
      problems: [],
      ageSeconds: undefined,
    });
    expect(doc.line).not.toContain('days_left');

    const prom = path.join(textDir, 'vmkeep.prom');
    expect(promtool(prom)).toEqual({ ok: true, out: '' });
    const text = fs.readFileSync(prom, 'utf8');
    expect(family(text, 'vmkeep_output_full_timestamp_seconds')).toEqual([]);
    expect(family(text, 'vmkeep_domain_next_backup_bytes').at(-1)).toBe(`vmkeep_domain_next_backup_bytes{host="hv-test",domain="${young.name}"} 0`);
  });
});
