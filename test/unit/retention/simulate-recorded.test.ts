/**
 * `prune --simulate` started from a recorded repository: the manifests of a real output folder
 * grown by real `vmkeep backup` runs of the virtnbdbackup engine (fixtures/forecast/README.md),
 * read by the repository reader prune uses. The data files are not in the fixture: each recorded
 * file is stood in for by a sparse file of its recorded size, which is all the reader checks.
 *
 * The first simulated run must be the prune `prune` would make now (planPrune on the same
 * history); later runs must never merge a virtnbdbackup chain's full, and push chains (by
 * --engine) merge theirs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesRoot } from '../../helpers/fixtures.js';
import { readHistories } from '../../../src/prune/history.js';
import { parseDuration, parsePolicy, planPrune, renderSimulation, simulate, type DomainHistory } from '../../../src/retention/index.js';

const DOMAIN = 'vmkeep-scratch-forecast-a';
const CHAIN = 'vmsnap-backup-monthly-2026-08';
let output: string;
let history: DomainHistory;

beforeAll(async () => {
  output = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkeep-simulate-'));
  const dir = path.join(output, DOMAIN, CHAIN);
  fs.mkdirSync(path.join(dir, 'checkpoints'), { recursive: true });
  const manifest = path.join(fixturesRoot, 'forecast', 'steady', DOMAIN, CHAIN, 'vmkeep-manifest.json');
  fs.copyFileSync(manifest, path.join(dir, 'vmkeep-manifest.json'));
  const recorded = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { points: Array<{ files: Array<{ path: string; size: number }> }> };
  for (const f of recorded.points.flatMap((p) => p.files)) fs.truncateSync((fs.writeFileSync(path.join(dir, f.path), ''), path.join(dir, f.path)), f.size);
  history = (await readHistories(output, [DOMAIN])).histories[0]!;
});
afterAll(() => fs.rmSync(output, { recursive: true, force: true }));

describe('prune --simulate from recorded virtnbdbackup chains', () => {
  // The day after the recorded month's last backup (2026-08-29 02:00 UTC).
  const now = new Date('2026-08-30T12:00:00Z');
  const policy = parsePolicy({ keepLast: 2 });

  it('the recorded chain is read whole: nine points of a complete virtnbdbackup chain', () => {
    expect(history.chains).toHaveLength(1);
    expect(history.chains[0]).toMatchObject({ id: CHAIN, state: 'complete', mergeable: 'incrementals' });
    expect(history.chains[0]!.points.map((p) => p.id)).toEqual(Array.from({ length: 9 }, (_, i) => `virtnbdbackup.${i}`));
  });

  it("the first run is the prune that would happen now: planPrune's merges, and what remains", () => {
    const plan = planPrune([history], policy, now, { mergePoints: true });
    const result = simulate({ every: parseDuration('1d'), over: parseDuration('1d'), policy, start: now, mergePoints: true, history, groupBy: 'month' });
    expect(result.runs).toBe(1);
    expect(result.backups).toBe(0);
    expect(result.from).toBe(DOMAIN);
    expect(result.engine).toBe('virtnbdbackup');
    // The full stays (the only stream holding the whole disk); the incrementals no rule keeps go into the next kept one.
    const expected = [{ chain: CHAIN, dropped: [1, 2, 3, 4, 5, 6].map((i) => `virtnbdbackup.${i}`), into: 'virtnbdbackup.7', newParent: 'virtnbdbackup.0' }];
    expect(plan.domains[0]!.merges.map(({ reasons: _r, ...m }) => m)).toEqual(expected);
    expect(result.merges).toEqual(expected.map((m) => ({ time: now.toISOString(), ...m })));
    expect(result.surviving.map((s) => `${s.chain}/${s.point}`)).toEqual([0, 7, 8].map((i) => `${CHAIN}/virtnbdbackup.${i}`));
    const text = renderSimulation(result);
    expect(text).toContain(`from the recorded chains of ${DOMAIN} (chains grouped by month, virtnbdbackup chains)`);
    expect(text).toContain(
      `merge ${CHAIN}: virtnbdbackup.1, virtnbdbackup.2, virtnbdbackup.3, virtnbdbackup.4, virtnbdbackup.5, virtnbdbackup.6 into virtnbdbackup.7 (which then rests on virtnbdbackup.0)`,
    );
  });

  it('later runs back up into the recorded chain, numbered past its names, and never merge a virtnbdbackup full', () => {
    const result = simulate({ every: parseDuration('1d'), over: parseDuration('2m'), policy, start: now, mergePoints: true, history, groupBy: 'month' });
    expect(result.backups).toBe(result.runs - 1);
    expect(result.merges.length).toBeGreaterThan(1);
    expect(result.merges.every((m) => m.newParent !== undefined)).toBe(true);
    // The next backup of the recorded month continues its chain after virtnbdbackup.8.
    expect(result.merges[1]).toMatchObject({ chain: CHAIN, dropped: ['virtnbdbackup.7'], into: 'virtnbdbackup.8', newParent: 'virtnbdbackup.0' });
    // Each chain that survives keeps its full.
    for (const chain of new Set(result.surviving.map((s) => s.chain))) expect(result.surviving.find((s) => s.chain === chain)!.point).toBe('virtnbdbackup.0');
  });

  it('--engine push: chains started later merge their full; the recorded chain still keeps its own', () => {
    const result = simulate({
      every: parseDuration('1d'),
      over: parseDuration('2m'),
      policy,
      start: now,
      mergePoints: true,
      history,
      groupBy: 'month',
      engine: 'push',
    });
    expect(result.engine).toBe('push');
    const fullsMerged = result.merges.filter((m) => m.newParent === undefined);
    expect(fullsMerged.length).toBeGreaterThan(0);
    expect(fullsMerged.every((m) => m.chain !== CHAIN && /^vmkeep\.[0-9a-f]{8}\.\d+$/.test(m.dropped[0]!))).toBe(true);
    expect(result.merges.filter((m) => m.chain === CHAIN).every((m) => m.newParent === 'virtnbdbackup.0')).toBe(true);
  });
});

describe('simulate from nothing: both engines', () => {
  const request = {
    every: parseDuration('1d'),
    over: parseDuration('1m'),
    groupBy: 'month' as const,
    policy: parsePolicy({ keepLast: 3 }),
    start: new Date('2026-05-03T01:00:00'),
    mergePoints: true,
  };

  it('virtnbdbackup (the default) keeps each chain full and merges incrementals into their child; push merges fulls too', () => {
    const nbd = simulate(request);
    const push = simulate({ ...request, engine: 'push' });
    expect(nbd.engine).toBe('virtnbdbackup');
    expect(nbd.merges.some((m) => m.newParent === undefined)).toBe(false);
    expect(push.merges.some((m) => m.newParent === undefined && m.dropped[0] === 'vmkeep.00000000.0')).toBe(true);
    // Every merge folds a run of points into the point right after it, and each dropped point is counted once.
    expect(nbd.merges.flatMap((m) => m.dropped)).toHaveLength(nbd.mergedPoints);
    expect(push.merges.flatMap((m) => m.dropped)).toHaveLength(push.mergedPoints);
    // push: only the three newest survive; virtnbdbackup: those and the full of each chain they are in.
    expect(push.surviving).toHaveLength(3);
    const newest = nbd.surviving.slice(-3);
    const fulls = [...new Set(newest.map((s) => s.chain))].map((chain) => `${chain}/virtnbdbackup.0`);
    expect(nbd.surviving.map((s) => `${s.chain}/${s.point}`).sort()).toEqual([...new Set([...fulls, ...newest.map((s) => `${s.chain}/${s.point}`)])].sort());
  });
});
