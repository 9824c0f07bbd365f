/**
 * The output folder's forecast on recorded histories: the manifests and prune's removal records
 * of a real output folder grown by real `vmkeep backup --prune` runs (fixtures/forecast/README.md).
 * Expected rates are worked out from the capture's own run log (runs.jsonl: what each run
 * copied and what its prune removed), not from the code under test.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { fixture, fixturesRoot } from '../../helpers/fixtures.js';
import { listBackedUpDomains, listChains } from '../../../src/repository/chains.js';
import { readGrowthRecord } from '../../../src/repository/read-forecast.js';
import {
  estimateNextBackup,
  forecastOutput,
  measureDomainGrowth,
  theilSenSlope,
  fitSamples,
  type DomainGrowthRecord,
} from '../../../src/repository/forecast.js';

const DAY = 86_400_000;
const GiB = 1024 ** 3;

interface RunLine {
  time: string;
  domain: string;
  exit: number;
  results?: Array<{ level: string; chain: string; dataBytes: number; prune?: { removed: string[] } }>;
}
const runs: RunLine[] = fixture('forecast/runs.jsonl')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as RunLine);

async function records(name: string): Promise<DomainGrowthRecord[]> {
  const output = join(fixturesRoot, 'forecast', name);
  const domains = await listBackedUpDomains(output);
  return Promise.all(domains.map(async (d) => readGrowthRecord(output, d, await listChains(output, d))));
}

/** The newest point time of a snapshot: the capture's "now" when it was copied. */
function newestTime(rs: readonly DomainGrowthRecord[]): Date {
  return new Date(Math.max(...rs.flatMap((r) => r.written.map((w) => Date.parse(w.time)))));
}

/**
 * Guest data bytes a day the run log says a domain's runs copied up to `until`, after its first
 * run (whose full is where the cumulative line starts): incrementals and the fulls of new months.
 */
function loggedRate(domain: string, until: Date): number {
  const mine = runs.filter((r) => r.domain === domain && r.exit === 0 && Date.parse(r.time) <= until.getTime());
  const later = mine.slice(1).flatMap((r) => (r.results ?? []).map((x) => ({ t: Date.parse(r.time), b: x.dataBytes })));
  const span = (later.at(-1)!.t - Date.parse(mine[0]!.time)) / DAY;
  return later.reduce((n, x) => n + x.b, 0) / span;
}

describe('theilSenSlope', () => {
  it('is the median of the pairwise slopes: one wild sample does not move it', () => {
    const line = [0, 1, 2, 3, 4, 5, 6].map((x) => ({ x, y: 10 * x }));
    expect(theilSenSlope(line)).toBe(10);
    expect(theilSenSlope([...line.slice(0, 6), { x: 6, y: 10_000 }])).toBe(10);
    expect(theilSenSlope([{ x: 1, y: 5 }])).toBeNull();
  });
});

describe('fitSamples', () => {
  it('keeps every sample of a daily history, and the first and the last of each day of an hourly one', () => {
    const daily = Array.from({ length: 91 }, (_, d) => ({ x: d + 0.01 * (d % 3), y: d }));
    expect(fitSamples(daily, 90.02)).toBe(daily);
    const hourly = Array.from({ length: 90 * 24 + 1 }, (_, h) => ({ x: h / 24, y: 5 * h }));
    const kept = fitSamples(hourly, 90);
    // Day 0 keeps its first sample (where the line starts) and its last; every later day its last.
    expect(kept.length).toBe(92);
    expect(kept[0]).toBe(hourly[0]);
    expect(kept.at(-1)).toBe(hourly.at(-1));
    expect(kept.slice(1, -1).every((s) => Math.round(s.x * 24) % 24 === 23)).toBe(true);
    // A straight hourly line keeps its slope: 120 a day.
    expect(theilSenSlope(kept)).toBeCloseTo(120, 9);
  });
});

describe('forecastOutput on recorded histories', () => {
  it('too little history (two runs on the first day): no number, and says why', async () => {
    const rs = await records('too-little');
    const f = forecastOutput({ domains: rs, freeBytes: GiB, now: newestTime(rs) });
    expect(rs.flatMap((r) => r.written)).toHaveLength(2);
    expect(f.bytesPerDay).toBeNull();
    expect(f.fullAt).toBeNull();
    expect(f.daysLeft).toBeNull();
    expect(f.basis).toMatch(/^not enough history: 0\.5 day\(s\) of restore points, 2 needed/);
  });

  it('steady growth (one domain, one chain, nothing pruned): the rate the runs wrote, and the day free space runs out', async () => {
    const rs = await records('steady');
    const now = newestTime(rs);
    const f = forecastOutput({ domains: rs, freeBytes: GiB, now });
    const logged = loggedRate('vmkeep-scratch-forecast-a', now);
    // Files on disk hold the guest data plus a little metadata per point; the full of the first day sits at x=0.
    expect(f.bytesPerDay).toBeGreaterThan(logged * 0.8);
    expect(f.bytesPerDay).toBeLessThan(logged * 1.5);
    expect(f.domains[0]!.removedPerDay).toBe(0);
    expect(f.daysLeft).toBeCloseTo(GiB / f.bytesPerDay!, 0);
    expect(Date.parse(f.fullAt!)).toBeCloseTo(now.getTime() + (GiB / f.bytesPerDay!) * DAY, -5);
    expect(f.basis).toMatch(/Theil-Sen fit of bytes written over the last 90 days by 1 domain/);
  });

  it("growth with monthly pruning: prune's removals bring the net rate down, and the full day moves out", async () => {
    const rs = await records('pruned');
    const now = newestTime(rs);
    // The record names exactly the chains the runs' prunes said they removed.
    const loggedRemovals = runs.flatMap((r) => (r.results ?? []).flatMap((x) => x.prune?.removed ?? [])).sort();
    const recorded = rs.flatMap((r) => r.removed.map(() => r.domain));
    expect(recorded).toHaveLength(loggedRemovals.length);
    expect(loggedRemovals.length).toBeGreaterThanOrEqual(2);
    const f = forecastOutput({ domains: rs, freeBytes: GiB, now });
    const noPrune = forecastOutput({ domains: rs.map((r) => ({ ...r, removed: [] })), freeBytes: GiB, now });
    const a = f.domains.find((d) => d.domain.endsWith('-a'))!;
    expect(a.removedPerDay).toBeGreaterThan(0);
    expect(f.bytesPerDay!).toBeLessThan(noPrune.bytesPerDay!);
    // Written minus removed: each removal gives back a whole month's chain (a full and its incrementals).
    const written = f.domains.reduce((n, d) => n + d.writtenPerDay!, 0);
    const removed = f.domains.reduce((n, d) => n + d.removedPerDay!, 0);
    expect(f.bytesPerDay).toBe(Math.round(written - removed));
    if (f.daysLeft !== null) expect(f.daysLeft).toBeGreaterThan(noPrune.daysLeft!);
    else expect(f.basis).toMatch(/does not grow/);
  });

  it('a VM added mid-way counts at its own rate from its first backup, not averaged over the days before it existed', async () => {
    const rs = await records('pruned');
    const now = newestTime(rs);
    const b = rs.find((r) => r.domain.endsWith('-b'))!;
    const a = rs.find((r) => r.domain.endsWith('-a'))!;
    const firstB = Math.min(...b.written.map((w) => Date.parse(w.time)));
    const firstA = Math.min(...a.written.map((w) => Date.parse(w.time)));
    expect(firstB - firstA).toBeGreaterThan(30 * DAY);
    const gb = measureDomainGrowth(b, now);
    const ga = measureDomainGrowth(a, now);
    expect(gb.historyDays).toBeLessThan(ga.historyDays);
    // b's writes over its own days, as the run log has them (a median slope sits below the mean
    // when a month's full is one big step among small incrementals).
    const loggedB = loggedRate('vmkeep-scratch-forecast-b', now);
    expect(gb.writtenPerDay).toBeGreaterThan(loggedB * 0.5);
    expect(gb.writtenPerDay).toBeLessThan(loggedB * 1.5);
    const f = forecastOutput({ domains: rs, freeBytes: GiB, now });
    expect(f.domains.map((d) => d.domain).sort()).toEqual([a.domain, b.domain]);
    expect(f.bytesPerDay).toBe(Math.round(ga.writtenPerDay! + gb.writtenPerDay! - ga.removedPerDay! - gb.removedPerDay!));
    // One day of b alone is too little: counted out, and named.
    const early = forecastOutput({
      domains: [a, { ...b, written: b.written.filter((w) => Date.parse(w.time) <= firstB), removed: [] }],
      freeBytes: GiB,
      now: new Date(firstB),
    });
    expect(early.basis).toContain(`not counted yet (less than 2 days of history): ${b.domain}`);
  });
});

describe('estimateNextBackup', () => {
  it("takes QEMU's dirty bytes when there are any, else the median of the last five incrementals", () => {
    expect(estimateNextBackup(4096, [1, 2, 3])).toEqual({ bytes: 4096, basis: 'dirty-bitmap' });
    expect(estimateNextBackup(undefined, [9_999, 1, 5, 3, 2, 100])).toEqual({ bytes: 3, basis: 'history' });
    expect(estimateNextBackup(undefined, [])).toEqual({ bytes: null, basis: 'none' });
  });
});
