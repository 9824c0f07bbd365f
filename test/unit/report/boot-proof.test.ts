/**
 * The report's boot proof column and verdict, on boot proofs recorded by real `verify --boot`
 * runs (fixtures/boot-proof: a push chain's manifest with its bootVerify records and each point's
 * evidence folder). Its data files were not kept, so every chain reads as damaged: the tests look
 * at what the boot proof adds. fixtures/forecast/pruned is a folder with no boot proof at all.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DEFAULT_REPORT_THRESHOLDS, judgeRow, type ReportRow, type ReportThresholds } from '../../../src/report/judge-report.js';
import { renderReportHtml, type ReportDocument } from '../../../src/report/render-html.js';
import { MAX_THUMBNAIL_BYTES, makeThumbnail, ThumbnailError } from '../../../src/util/png-thumbnail.js';
import { readBootScreenshot, writeBootEvidence } from '../../../src/repository/boot-evidence.js';
import type { BootVerifyRecord } from '../../../src/repository/manifest.js';
import { readReportDomain } from '../../../src/repository/read-report-data.js';
import { parseDuration } from '../../../src/retention/duration.js';

const FIXTURES = join(import.meta.dirname, '../../../fixtures/boot-proof');
const DOMAIN = 'vmkeep-scratch-bootproof';
const CHAIN = 'vmsnap-backup-monthly-2026-12';
const chainDir = (capture: string) => join(FIXTURES, capture, DOMAIN, CHAIN);
const screenshot = (capture: string, checkpoint: string) => readFileSync(join(chainDir(capture), '.boot-verify', checkpoint, 'screenshot.png'));
/** The kernel's console (the ok proof) and SeaBIOS's "No bootable device." (the failed one), 720×400 each. */
const KERNEL = screenshot('ok', 'vmkeep.f9042576.0');
const BIOS = screenshot('failed', 'vmkeep.f9042576.1');
/** The ok proof ran at 23:57:25, the failed one at 23:57:51, the ok one again (no screenshot) at 23:58:02. */
const SOON = new Date('2026-12-08T12:00:00Z');
const LATER = new Date('2026-12-20T00:00:00Z');
const withLimit: ReportThresholds = { ...DEFAULT_REPORT_THRESHOLDS, bootMaxAge: parseDuration('8d') };

async function rowOf(capture: string, t: ReportThresholds, now: Date, output = join(FIXTURES, capture), domain = DOMAIN): Promise<ReportRow> {
  return judgeRow({ host: 'h', output }, await readReportDomain(output, domain), t, now);
}
const bootProblems = (r: ReportRow) => r.problems.filter((p) => /boot/.test(p));

/** A grey PNG's samples (colour type 0, unfiltered rows, as the thumbnail writes them), read back. */
function greyLevels(png: Buffer): { width: number; height: number; at: (x: number, y: number) => number } {
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const bits = png[24]!;
  expect(png[25]).toBe(0);
  const idat = png.subarray(41, 41 + png.readUInt32BE(33));
  const raw = inflateSync(idat);
  const stride = Math.ceil((width * bits) / 8);
  return {
    width,
    height,
    at: (x, y) => {
      const bit = x * bits;
      return (raw[y * (stride + 1) + 1 + (bit >> 3)]! >> (8 - bits - (bit & 7))) & ((1 << bits) - 1);
    },
  };
}

describe('thumbnail of a recorded console screenshot', () => {
  it('shrinks 720×400 to 160×89 in a few hundred bytes, letters where the console has them', () => {
    const kernel = makeThumbnail(KERNEL);
    const bios = makeThumbnail(BIOS);
    expect([kernel.width, kernel.height, bios.width, bios.height]).toEqual([160, 89, 160, 89]);
    expect(kernel.png.length).toBeLessThan(KERNEL.length / 8);
    expect(kernel.png.length).toBeLessThanOrEqual(MAX_THUMBNAIL_BYTES);
    // The BIOS wrote four lines at the top and one further down; the rest of its screen is black.
    expect(bios.png.length).toBeLessThan(600);
    const g = greyLevels(bios.png);
    const lit = (y0: number, y1: number) => {
      let n = 0;
      for (let y = y0; y < y1; y++) for (let x = 0; x < g.width; x++) n += g.at(x, y) > 0 ? 1 : 0;
      return n;
    };
    expect(lit(0, 13)).toBeGreaterThan(100); // "SeaBIOS ...", "Machine UUID ...", "Booting from Hard Disk...", "Boot failed: ..."
    expect(lit(30, 89)).toBe(0); // below the cursor: nothing
    // The kernel's log fills the screen from top to bottom.
    const k = greyLevels(kernel.png);
    for (const y of [5, 40, 80])
      expect(
        [...Array(k.width).keys()].some((x) => k.at(x, y) > 0),
        `row ${y}`,
      ).toBe(true);
  });

  it('is itself a PNG the decoder reads back, at the same size', () => {
    const t = makeThumbnail(BIOS);
    expect(makeThumbnail(t.png)).toMatchObject({ width: 160, height: 89 });
  });

  it('refuses what is not a whole PNG, saying why', () => {
    const tail = readFileSync(join(chainDir('ok'), '.boot-verify', 'vmkeep.f9042576.0', 'console-tail.txt'));
    expect(() => makeThumbnail(tail)).toThrow(new ThumbnailError('not a PNG file'));
    // The recorded screenshot, cut in the middle of its image data.
    expect(() => makeThumbnail(KERNEL.subarray(0, KERNEL.length >> 1))).toThrow(ThumbnailError);
  });
});

describe('the screenshot of a proof, kept and read back', () => {
  it('evidence kept before thumbnails: the point’s own screenshot.png; none when the proof was made without --screenshot', async () => {
    const shot = await readBootScreenshot(chainDir('failed'), 'vmkeep.f9042576.1');
    expect(shot && 'png' in shot && shot.png.equals(BIOS)).toBe(true);
    expect(await readBootScreenshot(chainDir('no-screenshot'), 'vmkeep.f9042576.0')).toBeUndefined();
  });

  it('verify --boot keeps the thumbnail beside the screenshot; the report reads it instead of the screenshot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmkeep-boot-evidence-'));
    try {
      const manifest = JSON.parse(readFileSync(join(chainDir('failed'), 'vmkeep-manifest.json'), 'utf8')) as { bootVerify: Record<string, BootVerifyRecord> };
      const shot = join(chainDir('failed'), '.boot-verify', 'vmkeep.f9042576.1', 'screenshot.png');
      await writeBootEvidence(dir, 'vmkeep.f9042576.1', { record: manifest.bootVerify['vmkeep.f9042576.1']!, consoleTail: '', exec: [], screenshotFile: shot });
      const kept = join(dir, '.boot-verify', 'vmkeep.f9042576.1');
      expect(readdirSync(kept).sort()).toEqual(['console-tail.txt', 'result.json', 'screenshot-thumbnail.png', 'screenshot.png']);
      expect(readFileSync(join(kept, 'screenshot-thumbnail.png')).equals(makeThumbnail(BIOS).png)).toBe(true);
      // Read back: the thumbnail, not the screenshot.
      const read = await readBootScreenshot(dir, 'vmkeep.f9042576.1');
      expect(read && 'thumbnail' in read && read.thumbnail.equals(makeThumbnail(BIOS).png)).toBe(true);
      // A thumbnail that is not one (here the whole screenshot under its name) is passed over for the screenshot.
      copyFileSync(shot, join(kept, 'screenshot-thumbnail.png'));
      const fallback = await readBootScreenshot(dir, 'vmkeep.f9042576.1');
      expect(fallback && 'png' in fallback && fallback.png.equals(BIOS)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the report's boot proof", () => {
  it('an ok proof: when, which point, booted, a thumbnail; no problem without a limit, nor within it', async () => {
    const r = await rowOf('ok', DEFAULT_REPORT_THRESHOLDS, SOON);
    expect(r.bootProof).toMatchObject({
      time: '2026-12-07T23:57:25.898Z',
      ok: true,
      point: `${CHAIN}/vmkeep.f9042576.0`,
      firstAnswerSeconds: 18.759,
      stale: false,
    });
    expect(r.bootProof!.thumbnail).toMatchObject({ width: 160, height: 89, bytes: makeThumbnail(KERNEL).png.length });
    expect(r.bootProof!.thumbnail!.dataUri).toBe(`data:image/png;base64,${makeThumbnail(KERNEL).png.toString('base64')}`);
    expect(bootProblems(r)).toEqual([]);
    expect(bootProblems(await rowOf('ok', withLimit, SOON))).toEqual([]);
  });

  it('older than the limit: a warning in the verdict, and only with a limit', async () => {
    const stale = await rowOf('ok', withLimit, LATER);
    expect(stale.bootProof!.stale).toBe(true);
    expect(bootProblems(stale)).toEqual(['boot proof older than the limit: the last one is 12 days old (limit 8d)']);
    expect(bootProblems(await rowOf('ok', DEFAULT_REPORT_THRESHOLDS, LATER))).toEqual([]);
  });

  it('a failed proof is the newest: did not boot, why, the BIOS screen as thumbnail; critical with or without a limit', async () => {
    for (const t of [DEFAULT_REPORT_THRESHOLDS, withLimit]) {
      const r = await rowOf('failed', t, SOON);
      expect(r.bootProof).toMatchObject({
        ok: false,
        point: `${CHAIN}/vmkeep.f9042576.1`,
        evidence: `${CHAIN}/.boot-verify/vmkeep.f9042576.1/`,
        reason: 'no answer from the guest agent in 20 s',
        firstAnswerSeconds: undefined,
      });
      expect(r.bootProof!.thumbnail!.dataUri).toBe(`data:image/png;base64,${makeThumbnail(BIOS).png.toString('base64')}`);
      expect(bootProblems(r)).toEqual([`last boot proof failed (${CHAIN}/vmkeep.f9042576.1: no answer from the guest agent in 20 s)`]);
      expect(r.state).toBe('critical');
    }
  });

  it('the newest proof kept no screenshot: no thumbnail and nothing to say about one', async () => {
    const r = await rowOf('no-screenshot', DEFAULT_REPORT_THRESHOLDS, SOON);
    expect(r.bootProof).toMatchObject({ ok: true, point: `${CHAIN}/vmkeep.f9042576.0`, time: '2026-12-07T23:58:02.171Z' });
    expect(r.bootProof!.thumbnail).toBeUndefined();
    expect(r.bootProof!.screenshotProblem).toBeUndefined();
  });

  it('a domain never proved by booting: "none"; a warning only when a limit is set', async () => {
    const output = join(import.meta.dirname, '../../../fixtures/forecast/pruned');
    const none = await rowOf('', DEFAULT_REPORT_THRESHOLDS, SOON, output, 'vmkeep-scratch-forecast-a');
    expect(none.bootProof).toBeUndefined();
    expect(bootProblems(none)).toEqual([]);
    const expected = await rowOf('', withLimit, SOON, output, 'vmkeep-scratch-forecast-a');
    expect(bootProblems(expected)).toEqual(['never proved by booting with vmkeep verify --boot (limit 8d)']);
  });
});

describe("the report page's boot proof column", () => {
  const doc = (rows: ReportRow[]): ReportDocument => ({
    generatedAt: SOON,
    version: 'test',
    fleet: { state: 'ok', headline: '', reasons: [] },
    rows,
    folders: [],
  });
  const cells = (html: string) => [...html.matchAll(/<tr>\n<td>h<\/td>[\s\S]*?<\/tr>/g)].map((m) => m[0].split('\n').at(-3)!);

  it('shows the thumbnail inline with its alt text, the result, time and point; "none" without a proof', async () => {
    const failed = await rowOf('failed', DEFAULT_REPORT_THRESHOLDS, SOON);
    const none = await rowOf('', DEFAULT_REPORT_THRESHOLDS, SOON, join(import.meta.dirname, '../../../fixtures/forecast/pruned'), 'vmkeep-scratch-forecast-a');
    const html = renderReportHtml(doc([failed, none]), new Map());
    const [a, b] = cells(html);
    expect(a).toContain(
      '<span class="critical">did not boot</span> 2026-12-07 23:57<br><span class="meta">vmsnap-backup-monthly-2026-12/vmkeep.f9042576.1</span>',
    );
    expect(a).toContain(
      `<img class="thumb" src="${failed.bootProof!.thumbnail!.dataUri}" width="160" height="89" alt="Console screenshot of ${DOMAIN}, point ${CHAIN}/vmkeep.f9042576.1, at the end of its boot proof (2026-12-07 23:57 UTC)">`,
    );
    expect(b).toBe('<td data-sort="0">none</td>');
    // Its details say where the whole evidence is.
    expect(html).toContain(
      `<p>Last boot proof: <span class="critical">did not boot</span>; its evidence is in the domain's folder: ${CHAIN}/.boot-verify/vmkeep.f9042576.1/</p>`,
    );
    // The page allows images from data: URIs only.
    expect(html).toMatch(/Content-Security-Policy" content="default-src 'none'; [^"]*img-src data:"/);
  });

  it('keeps a fleet page under its size with thumbnails: those of failed proofs first, the others say they are not shown', async () => {
    const failed = await rowOf('failed', DEFAULT_REPORT_THRESHOLDS, SOON);
    const ok = await rowOf('ok', DEFAULT_REPORT_THRESHOLDS, SOON);
    const rows = [ok, failed];
    const all = renderReportHtml(doc(rows), new Map());
    expect(all.match(/<img class="thumb"/g)).toHaveLength(2);
    // One byte short of room for both: either would fit alone, the failed proof's is shown though its row comes second.
    const pageBytes = Buffer.byteLength(all) - 1;
    const tight = renderReportHtml(doc(rows), new Map(), pageBytes);
    const [okCell, failedCell] = cells(tight);
    expect(failedCell).toContain('<img class="thumb"');
    expect(okCell).not.toContain('<img');
    expect(tight).toMatch(/1 boot proof screenshot is not shown: the page keeps under [\d.]+ kB \(those of failed proofs are shown first\)\.<\/caption>/);
    expect(Buffer.byteLength(tight)).toBeLessThanOrEqual(pageBytes);
  });
});
