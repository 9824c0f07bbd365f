/**
 * `vmkeep report` made from real backups on a small tmpfs (four domains: virtnbdbackup and push
 * engines, a run that failed for want of space, a verify that found a flipped byte, and the booting
 * test guest proved by a real `verify --boot --screenshot`), opened in Debian's chromium: no
 * console error, no request, every domain with its verdict, the boot proof with its console
 * thumbnail inline, charts with axes, no serious accessibility violation; screenshots of the whole
 * page with every domain's details open at 1280 and 390 px in test-artifacts/. The report written
 * after the verify run takes the config's check.bootMaxAge. The same folder, shrunk, makes
 * `check --min-days-left` go WARNING.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { MiB, backupCli, chainFolders, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { bootTestGuest, type TestGuest } from '../helpers/guest.js';
import { createTestDomain, virsh, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

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
}, 900_000);

afterAll(async () => {
  // A verify domain of this file's guest, should a failed assertion have left one.
  for (const name of (await virsh(['list', '--all', '--name']).catch(() => '')).split('\n').map((l) => l.trim())) {
    if (!booted || !name.startsWith(`vmkeep-verify-${booted.name}`)) continue;
    await virsh(['destroy', name]).catch(() => undefined);
    await virsh(['undefine', name, '--nvram']).catch(() => undefined);
  }
  await browser?.close();
  await fsTmp?.unmount();
});

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

  it('check --min-days-left: OK with room to spare; WARNING once the tmpfs leaves fewer days than asked', async () => {
    const env = { VMKEEP_LOCK_DIR: lockDir, VMKEEP_NOW: NOW };
    const args = ['check', '--output', out, '--domains', push.name, '--warning', '1000d', '--critical', '2000d', '--min-days-left', '10', '--json'];
    const roomy = await runVmkeep(args, { env });
    const before = parseJsonOutput<{ state: number; line: string; domains: Array<{ domain: string; state: number; daysLeft?: number }> }>(roomy);
    const folder = before.domains.find((d) => d.domain === `output ${out}`)!;
    expect(roomy.code, roomy.stdout).toBe(0);
    expect(folder.daysLeft).toBeGreaterThan(10);
    // Shrink the tmpfs to what is used plus about three days of the measured growth.
    const status = parseJsonOutput<Record<string, { backups: { forecast: { bytesPerDay: number; daysLeft: number; freeBytes: number } } }>>(
      await runVmkeep(['status', '--output', out, '--domains', push.name, '--json'], { env }),
    );
    const rate = status[push.name]!.backups.forecast.bytesPerDay;
    expect(rate).toBeGreaterThan(0);
    const used = 256 * MiB - fsTmp.freeBytes();
    await fsTmp.resize(Math.ceil((used + 3 * rate) / MiB));
    try {
      const tight = await runVmkeep(args, { env });
      expect(tight.code, tight.stdout).toBe(1);
      const after = parseJsonOutput<{ line: string; domains: Array<{ domain: string; state: number; daysLeft?: number }> }>(tight);
      expect(after.line).toMatch(new RegExp(`^VMKEEP WARNING - output ${out}: fills in [\\d.]+ days \\(\\d{4}-\\d\\d-\\d\\d\\) \\(warning 10 days\\)`));
      expect(after.domains.find((d) => d.domain === `output ${out}`)!.daysLeft).toBeLessThan(10);
    } finally {
      await fsTmp.resize(256);
    }
  });
});
