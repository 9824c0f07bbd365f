import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { escapeLabelValue, renderMetrics } from '../../../src/metrics/render-metrics.js';
import { listBackedUpDomains, listChains } from '../../../src/repository/chains.js';
import { forecastOutput } from '../../../src/repository/forecast.js';
import { estimateNextBackupOf, readGrowthRecord } from '../../../src/repository/read-forecast.js';
import { summarizeRunHistory, type RunHistory } from '../../../src/repository/run-history.js';
import { fixturesRoot } from '../../helpers/fixtures.js';

const ok: RunHistory = {
  domain: 'vm1',
  chains: 2,
  unhealthyChains: 0,
  restorePoints: 5,
  repositoryBytes: 123456,
  lastSuccess: { time: '2026-11-30T01:30:00.000Z', durationSeconds: 12.5, bytes: 4096, chain: 'c', checkpoint: 'virtnbdbackup.4' },
  lastRun: { time: '2026-11-30T01:30:00.000Z', result: 'success', durationSeconds: 12.5, bytes: 4096, message: undefined },
  lastVerify: { time: '2026-11-29T03:00:00.000Z', ok: true, chain: 'c' },
  lastBootVerify: { time: '2026-11-29T04:00:00.000Z', result: 'failed', chain: 'c', checkpoint: 'virtnbdbackup.3', durationSeconds: 301.5 },
};
const failed: RunHistory = {
  domain: 'we"ird\\vm\nname',
  chains: 1,
  unhealthyChains: 1,
  restorePoints: 0,
  repositoryBytes: 0,
  lastSuccess: undefined,
  lastRun: { time: '2026-11-30T02:00:00.000Z', result: 'failure', durationSeconds: undefined, bytes: undefined, message: 'x' },
  lastVerify: undefined,
};

function promtool(text: string): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }) };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

describe('renderMetrics', () => {
  const text = renderMetrics({ host: 'hv1', now: new Date('2026-11-30T06:00:00Z'), domains: [ok, failed], consistent: new Map([['vm1', true]]) });

  it('has HELP and TYPE for each family and the expected samples', () => {
    const lines = text.trimEnd().split('\n');
    expect(lines).toContain('# TYPE vmkeep_last_success_timestamp_seconds gauge');
    expect(lines).toContain('vmkeep_last_success_timestamp_seconds{host="hv1",domain="vm1"} 1796002200');
    expect(lines).toContain('vmkeep_last_run_duration_seconds{host="hv1",domain="vm1"} 12.5');
    expect(lines).toContain('vmkeep_last_run_result{host="hv1",domain="vm1",result="success"} 1');
    expect(lines).toContain('vmkeep_last_run_result{host="hv1",domain="vm1",result="failure"} 0');
    expect(lines).toContain('vmkeep_last_run_result{host="hv1",domain="we\\"ird\\\\vm\\nname",result="failure"} 1');
    expect(lines).toContain('vmkeep_last_run_bytes{host="hv1",domain="we\\"ird\\\\vm\\nname"} 0');
    expect(lines).toContain('vmkeep_consistent{host="hv1",domain="vm1"} 1');
    expect(lines).toContain('vmkeep_last_verify_ok{host="hv1",domain="vm1"} 1');
    expect(lines).toContain('vmkeep_textfile_timestamp_seconds{host="hv1"} 1796018400');
    expect(lines).toContain('vmkeep_boot_verify_success{host="hv1",domain="vm1"} 0');
    expect(lines).toContain('vmkeep_boot_verify_timestamp_seconds{host="hv1",domain="vm1"} 1795924800');
    expect(lines).toContain('vmkeep_boot_verify_seconds{host="hv1",domain="vm1"} 301.5');
    // a domain never proved by booting has no boot sample
    expect(lines.filter((l) => l.startsWith('vmkeep_boot_verify_success{'))).toHaveLength(1);
    // no consistency known, no verify, no success: no sample rather than a made-up one
    expect(lines.filter((l) => l.startsWith('vmkeep_consistent{'))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('vmkeep_last_success_timestamp_seconds{'))).toHaveLength(1);
    // every TYPE line follows the HELP line of the same family
    lines.forEach((l, i) => {
      if (l.startsWith('# TYPE ')) expect(lines[i - 1]).toMatch(new RegExp(`^# HELP ${l.split(' ')[2]} \\S`));
    });
  });

  it('passes promtool check metrics', () => {
    const r = promtool(text);
    expect(r.out).toBe('');
    expect(r.ok).toBe(true);
  });

  it('promtool does catch a broken file (the check can fail)', () => {
    const r = promtool(`${text}vmkeep_bad{domain="x} 1\n`);
    expect(r.ok).toBe(false);
  });

  it('escapes label values', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
  });
});

describe('renderMetrics: replication', () => {
  it('one series per domain and repository: last send, lag, points not sent; promtool accepts it', () => {
    const withCopies: RunHistory = {
      ...ok,
      replication: [
        {
          repository: 'rest:http://vault:8000/',
          lastReplicated: '2026-11-30T03:00:00.000Z',
          pointsReplicated: 4,
          pointsNotReplicated: 1,
          pointsForgotten: 0,
          lagSeconds: 86_400,
        },
      ],
    };
    const text = renderMetrics({ host: 'hv1', now: new Date('2026-11-30T06:00:00Z'), domains: [withCopies], consistent: new Map() });
    const l = '{host="hv1",domain="vm1",repository="rest:http://vault:8000/"}';
    expect(text).toContain(`vmkeep_replication_last_timestamp_seconds${l} ${Date.parse('2026-11-30T03:00:00Z') / 1000}`);
    expect(text).toContain(`vmkeep_replication_lag_seconds${l} 86400`);
    expect(text).toContain(`vmkeep_replication_points_not_sent${l} 1`);
    const checked = promtool(text);
    expect(checked.ok, checked.out).toBe(true);
  });
});

describe('renderMetrics: the forecast of a recorded output folder', () => {
  // fixtures/forecast/steady: four weeks of real backups of one domain, nothing pruned (it grows).
  const output = join(fixturesRoot, 'forecast', 'steady');

  async function metricsOf(freeBytes: number) {
    const domains = await listBackedUpDomains(output);
    const chains = new Map(await Promise.all(domains.map(async (d) => [d, await listChains(output, d)] as const)));
    const points = [...chains.values()].flat().flatMap((c) => c.points);
    const now = new Date(Math.max(...points.map((p) => Date.parse(p.time))));
    const forecast = forecastOutput({
      domains: await Promise.all(domains.map((d) => readGrowthRecord(output, d, chains.get(d)!))),
      freeBytes,
      now,
    });
    // A shut-off domain (no dirty bitmap to ask): its next backup from its recorded incrementals.
    const next = new Map(domains.map((d) => [d, estimateNextBackupOf(chains.get(d)!, undefined).bytes!] as const));
    const text = renderMetrics({
      host: 'hv1',
      now,
      domains: domains.map((d) => summarizeRunHistory(d, chains.get(d)!)),
      consistent: new Map(),
      output: { path: '/backup', fullAt: forecast.fullAt },
      nextBackupBytes: next,
    });
    return { text, forecast, next, domain: domains[0]! };
  }

  it('when the folder is full (a time, in seconds) and each domain next backup bytes; promtool accepts both families', async () => {
    const { text, forecast, next, domain } = await metricsOf(10 * 1024 ** 3);
    expect(forecast.fullAt).not.toBeNull();
    expect(next.get(domain)).toBeGreaterThan(0);
    const lines = text.trimEnd().split('\n');
    expect(lines).toContain('# TYPE vmkeep_output_full_timestamp_seconds gauge');
    expect(lines).toContain(`vmkeep_output_full_timestamp_seconds{host="hv1",output="/backup"} ${Date.parse(forecast.fullAt!) / 1000}`);
    expect(lines).toContain('# TYPE vmkeep_domain_next_backup_bytes gauge');
    expect(lines).toContain(`vmkeep_domain_next_backup_bytes{host="hv1",domain="${domain}"} ${next.get(domain)}`);
    expect(promtool(text)).toEqual({ ok: true, out: '' });
  });

  it('promtool refuses a metric named in days: the reason the folder metric is a time', () => {
    const r = promtool('# HELP vmkeep_output_days_left x\n# TYPE vmkeep_output_days_left gauge\nvmkeep_output_days_left{output="/b"} 3\n');
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/use base unit "seconds" instead of "days"/);
  });
});
