/** The report's chart text that has to fit: chain names over their bands, and the phase chart's series. */
import { describe, expect, it } from 'vitest';
import { chainLabels, renderDomainChart, renderPhaseChart, type TimelineChain } from '../../../src/report/charts.js';

const DAY = 86_400_000;
const t0 = Date.parse('2026-10-01T01:30:00Z');
const monthly = (m: number, days: number) => ({ folder: `vmsnap-backup-monthly-2026-${10 + m}`, start: t0 + m * 30 * DAY, end: t0 + (m * 30 + days) * DAY });

describe('chainLabels', () => {
  it('the whole name where the band is wide enough, what sets it apart where it is not, nothing where even that does not fit', () => {
    expect(chainLabels([monthly(0, 29)], 480)).toEqual(['vmsnap-backup-monthly-2026-10']);
    expect(chainLabels([monthly(0, 24), monthly(1, 24), monthly(2, 24)], 320)).toEqual(['2026-10', '2026-11', '2026-12']);
    expect(chainLabels([monthly(0, 24), monthly(1, 24), monthly(2, 24)], 900)).toEqual([
      'vmsnap-backup-monthly-2026-10',
      'vmsnap-backup-monthly-2026-11',
      'vmsnap-backup-monthly-2026-12',
    ]);
    // A year of monthly chains on a phone-sized plot: no name fits, none is drawn over another.
    const year = Array.from({ length: 12 }, (_, m) => ({ folder: `vmsnap-backup-monthly-2026-${m}`, start: t0 + m * 30 * DAY, end: t0 + (m * 30 + 29) * DAY }));
    expect(chainLabels(year, 200).every((l) => l === '')).toBe(true);
  });

  it("the timeline's chain names sit above the plot; the y axis has no name to collide with them", () => {
    const chains: TimelineChain[] = [0, 1].map((m) => ({
      folder: `vmsnap-backup-monthly-2026-${10 + m}`,
      points: Array.from({ length: 20 }, (_, i) => ({
        time: new Date(t0 + (m * 30 + i) * DAY).toISOString(),
        level: i === 0 ? 'full' : 'inc',
        bytes: 1e9,
      })),
    }));
    // Drawn wide enough for both whole names (the default size fits the short ones).
    const svg = renderDomainChart('vm1', chains, [], undefined, { width: 620, height: 230 });
    expect(svg).toContain('>vmsnap-backup-monthly-2026-10<');
    expect(svg).toContain('>vmsnap-backup-monthly-2026-11<');
    // Above the plot (its top is at y=24), inside the chart.
    const placed = [...svg.matchAll(/transform="translate\([\d.]+ ([\d.]+)\)"[^>]*>vmsnap-backup-monthly/g)];
    expect(placed).toHaveLength(2);
    for (const m of placed) {
      expect(Number(m[1])).toBeLessThan(24);
      expect(Number(m[1])).toBeGreaterThan(6);
    }
    expect(svg).not.toContain('>size<');
  });
});

describe('renderDomainChart', () => {
  it('draws a lone incremental as its symbol: a circle is two arcs a tenth apart, kept apart', () => {
    const chains: TimelineChain[] = [
      {
        folder: 'vmsnap-backup-monthly-2026-06',
        points: [
          { time: '2026-06-01T02:00:00Z', level: 'full', bytes: 2.1e6 },
          { time: '2026-06-03T02:00:00Z', level: 'inc', bytes: 2.1e6 },
        ],
      },
    ];
    const svg = renderDomainChart('vm1', chains, ['2026-06-05T02:00:00Z']);
    expect(svg).toMatch(/<path d="M1 0A1 1 0 1 1 1 -0.1A1 1 0 0 1 1 0" transform="matrix\([^)]*\)" fill="#fff" stroke="#3b7d2b"/);
  });
});

describe('renderPhaseChart', () => {
  it('one series per phase some run spent time in, a bar per run, and a description with the longest run', () => {
    const runs = [
      {
        time: '2026-10-01T01:30:00Z',
        label: 'full',
        phases: [
          { name: 'engine', ms: 9000 },
          { name: 'checksums', ms: 1000 },
          { name: 'lock', ms: 0 },
        ],
      },
      {
        time: '2026-10-02T01:30:00Z',
        label: 'inc',
        phases: [
          { name: 'engine', ms: 2000 },
          { name: 'fsync', ms: 500 },
        ],
      },
    ];
    const svg = renderPhaseChart('vm1', runs);
    expect(svg).toMatch(/^<svg role="img" aria-label="vm1: where the time of its last 2 runs went, by phase; the longest took 10.0 s"/);
    for (const name of ['engine', 'checksums', 'fsync']) expect(svg).toContain(`>${name}<`);
    expect(svg).not.toContain('>lock<');
    expect(svg).toContain('10-01 01:30 full');
  });
});
