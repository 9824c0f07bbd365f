/**
 * The forecast in a run's notification: decided on the recorded histories the forecast's own
 * tests use (fixtures/forecast), with the free space set so that the folder fills before or after
 * the warning; sent like every notification, to a local HTTP receiver.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DAYS_LEFT_WARNING, buildRunReport, judgeForecastNotice, notifyEnd, resolveTargets } from '../../../src/notify/index.js';
import { listBackedUpDomains, listChains } from '../../../src/repository/chains.js';
import { forecastOutput, type DomainGrowthRecord } from '../../../src/repository/forecast.js';
import { readGrowthRecord } from '../../../src/repository/read-forecast.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { fixturesRoot } from '../../helpers/fixtures.js';
import { startReceiver, type HttpReceiver } from '../../helpers/http-receiver.js';

async function records(name: string): Promise<DomainGrowthRecord[]> {
  const output = join(fixturesRoot, 'forecast', name);
  const domains = await listBackedUpDomains(output);
  return Promise.all(domains.map(async (d) => readGrowthRecord(output, d, await listChains(output, d))));
}
const newest = (rs: readonly DomainGrowthRecord[]) => new Date(Math.max(...rs.flatMap((r) => r.written.map((w) => Date.parse(w.time)))));

/** The steady folder's forecast with the free space that leaves it `days` days at its own rate. */
async function steadyWithDaysLeft(days: number) {
  const rs = await records('steady');
  const now = newest(rs);
  const rate = forecastOutput({ domains: rs, freeBytes: 1, now }).bytesPerDay!;
  return forecastOutput({ domains: rs, freeBytes: Math.round(rate * days), now });
}

describe('judgeForecastNotice', () => {
  it('a folder full in fewer days than the warning gets a notice that says which folder, when, and what to do', async () => {
    const f = await steadyWithDaysLeft(5);
    expect(f.daysLeft).toBeGreaterThan(4);
    expect(f.daysLeft).toBeLessThan(6);
    const n = judgeForecastNotice('/backup', f, 14)!;
    expect(n).toMatchObject({ output: '/backup', daysLeft: f.daysLeft, fullAt: f.fullAt, warningDays: 14 });
    expect(n.message).toMatch(
      new RegExp(
        `^output folder /backup will be full in [45] days \\(on ${f.fullAt!.slice(0, 10)}\\) at the current rate of .+ a day, under the warning of 14 days: free space, or keep fewer restore points \\(prune\\)$`,
      ),
    );
  });

  it('days to spare, not enough history, or a folder that does not grow: no notice', async () => {
    expect(judgeForecastNotice('/backup', await steadyWithDaysLeft(30), 14)).toBeUndefined();
    const little = await records('too-little');
    expect(judgeForecastNotice('/backup', forecastOutput({ domains: little, freeBytes: 1, now: newest(little) }), 14)).toBeUndefined();
    expect(judgeForecastNotice('/backup', { daysLeft: null, fullAt: null, bytesPerDay: -5 }, 14)).toBeUndefined();
    expect(judgeForecastNotice('/backup', undefined, 14)).toBeUndefined();
  });

  it('the edge: exactly the warning days is not under it; a folder full within the day says so', () => {
    const at = '2026-12-20T00:00:00.000Z';
    expect(judgeForecastNotice('/b', { daysLeft: 14, fullAt: at, bytesPerDay: 1e9 }, 14)).toBeUndefined();
    expect(judgeForecastNotice('/b', { daysLeft: 0.4, fullAt: at, bytesPerDay: 1e9 }, DEFAULT_DAYS_LEFT_WARNING)!.message).toMatch(/will be full within a day/);
  });
});

describe('the notification of a run whose folder fills', () => {
  let receiver: HttpReceiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('a successful run with a notice reaches the targets that hear of partial runs too, and says it in the summary and details', async () => {
    const forecast = judgeForecastNotice('/backup', await steadyWithDaysLeft(5), 14);
    const input = {
      command: 'backup',
      host: 'hv1',
      runId: '0b5c3c2e-1111-4222-8333-944455556666',
      outcome: 'ok',
      exitCode: 0,
      startedAt: new Date('2026-11-30T01:30:00Z'),
      finishedAt: new Date('2026-11-30T01:31:00Z'),
      document: { dryRun: false, output: '/backup', results: [{ domain: 'vm1', result: 'done', level: 'inc', chain: 'c' }] },
    };
    const r = buildRunReport({ ...input, forecast });
    expect(r.outcome).toBe('success');
    expect(r.summary).toMatch(/^vmkeep backup on hv1 succeeded \(1 done\); \/backup full in [45] days$/);
    expect(r.details.at(-1)).toBe(forecast!.message);
    const resolved = await resolveTargets(
      {
        targets: [
          { type: 'webhook', url: `${receiver.url}/attention`, on: ['partial', 'failure'] },
          { type: 'webhook', url: `${receiver.url}/failures-only`, on: ['failure'] },
        ],
      },
      {},
    );
    const deps = { fetch, runner: new FakeRunner(), log: createMemoryLogger() };
    receiver.requests.length = 0;
    await notifyEnd(resolved.targets, r, deps, resolved.secrets);
    expect(receiver.requests.map((q) => q.path)).toEqual(['/attention']);
    expect(JSON.parse(receiver.requests[0]!.body)).toMatchObject({ outcome: 'success', forecast: { output: '/backup', warningDays: 14 } });
    // The same run without a notice: neither target hears of a plain success.
    receiver.requests.length = 0;
    await notifyEnd(resolved.targets, buildRunReport(input), deps, resolved.secrets);
    expect(receiver.requests).toEqual([]);
  });
});
