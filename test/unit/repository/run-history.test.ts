import { describe, expect, it } from 'vitest';
import type { ChainView } from '../../../src/repository/chains.js';
import type { ChainManifest } from '../../../src/repository/manifest.js';
import { judgeCheck } from '../../../src/check/judge-check.js';
import { pickDomainVerify, summarizeRunHistory } from '../../../src/repository/run-history.js';
import { parseDuration } from '../../../src/retention/duration.js';

/** A chain view as listChains returns it, built in memory. */
function chain(
  folder: string,
  points: Array<{ cp: string; time: string; bytes: number; ms: number }>,
  events: ChainManifest['events'] = [],
  extra: Partial<ChainManifest> = {},
): ChainView {
  const manifest: ChainManifest = {
    format: 'vmkeep-chain/1',
    domain: 'vm1',
    engine: 'virtnbdbackup',
    toolVersions: {},
    createdAt: points[0]?.time ?? '2026-11-01T00:00:00.000Z',
    updatedAt: '2026-11-30T00:00:00.000Z',
    state: 'complete',
    protected: false,
    disks: [],
    points: points.map((p, i) => ({
      checkpoint: p.cp,
      time: p.time,
      level: i === 0 ? 'full' : 'inc',
      protected: false,
      dataBytes: p.bytes,
      durationMs: p.ms,
      files: [],
    })),
    events,
    ...extra,
  };
  return {
    domain: 'vm1',
    folder,
    dir: `/b/vm1/${folder}`,
    manifest,
    legacy: false,
    period: undefined,
    state: manifest.state,
    stateReason: undefined,
    protected: false,
    points: manifest.points.map((p) => ({
      checkpoint: p.checkpoint,
      time: p.time,
      level: p.level,
      label: undefined,
      dataBytes: p.dataBytes,
      protected: false,
    })),
    sizeOnDisk: 100 * points.length,
  };
}

describe('summarizeRunHistory', () => {
  const oct = chain('vmsnap-backup-monthly-2026-10', [{ cp: 'virtnbdbackup.0', time: '2026-10-01T01:30:00.000Z', bytes: 500, ms: 9000 }]);
  const nov = chain('vmsnap-backup-monthly-2026-11', [
    { cp: 'virtnbdbackup.0', time: '2026-11-01T01:30:00.000Z', bytes: 400, ms: 8000 },
    { cp: 'virtnbdbackup.1', time: '2026-11-02T01:30:00.000Z', bytes: 20, ms: 1500 },
  ]);

  it('the newest point is the last success and the last run when nothing failed after it', () => {
    const h = summarizeRunHistory('vm1', [oct, nov]);
    expect(h).toMatchObject({ chains: 2, restorePoints: 3, repositoryBytes: 300, unhealthyChains: 0 });
    expect(h.lastSuccess).toEqual({ time: '2026-11-02T01:30:00.000Z', durationSeconds: 1.5, bytes: 20, chain: nov.folder, checkpoint: 'virtnbdbackup.1' });
    expect(h.lastRun).toEqual({ time: '2026-11-02T01:30:00.000Z', result: 'success', durationSeconds: 1.5, bytes: 20, message: undefined });
    expect(h.lastVerify).toBeUndefined();
  });

  it('a failure recorded after the newest point is the last run; an older one is not', () => {
    const failedLater = chain(
      nov.folder,
      [{ cp: 'virtnbdbackup.0', time: '2026-11-01T01:30:00.000Z', bytes: 400, ms: 8000 }],
      [
        { time: '2026-10-20T01:31:00.000Z', kind: 'failed', message: 'old failure' },
        { time: '2026-11-03T01:31:00.000Z', kind: 'interrupted', message: 'inc backup: interrupted (SIGINT/SIGTERM)' },
      ],
    );
    const h = summarizeRunHistory('vm1', [oct, failedLater]);
    expect(h.lastRun).toEqual({
      time: '2026-11-03T01:31:00.000Z',
      result: 'interrupted',
      durationSeconds: undefined,
      bytes: undefined,
      message: 'inc backup: interrupted (SIGINT/SIGTERM)',
    });
    expect(h.lastSuccess?.time).toBe('2026-11-01T01:30:00.000Z');
    const older = chain(
      nov.folder,
      [{ cp: 'virtnbdbackup.0', time: '2026-11-01T01:30:00.000Z', bytes: 400, ms: 8000 }],
      [{ time: '2026-10-20T01:31:00.000Z', kind: 'failed', message: 'old' }],
    );
    expect(summarizeRunHistory('vm1', [older]).lastRun?.result).toBe('success');
  });

  it('a full that never finished: no success, a failed last run, an unhealthy chain', () => {
    const broken = chain(
      'vmsnap-backup-monthly-2026-12',
      [],
      [{ time: '2026-12-01T01:31:00.000Z', kind: 'failed', message: 'full backup: virtnbdbackup exited 1' }],
      { state: 'broken' },
    );
    const h = summarizeRunHistory('vm1', [{ ...broken, state: 'broken' }]);
    expect(h.lastSuccess).toBeUndefined();
    expect(h.lastRun?.result).toBe('failure');
    expect(h.unhealthyChains).toBe(1);
  });

  const verified = (folder: string, time: string, result: 'ok' | 'failed') =>
    chain(folder, [], [], { lastVerify: { time, result, deep: false, problems: result === 'ok' ? [] : ['x'] } });

  it('with every chain passing, the newest verify of any chain is the last one', () => {
    const a = verified('a', '2026-11-05T00:00:00.000Z', 'ok');
    const b = verified('b', '2026-11-08T00:00:00.000Z', 'ok');
    expect(summarizeRunHistory('vm1', [a, b]).lastVerify).toEqual({ time: '2026-11-08T00:00:00.000Z', ok: true, chain: 'b' });
  });

  it("a chain still present whose own last verify failed decides, whatever other chains' newer ok verifies say", () => {
    const a = verified('a', '2026-11-05T00:00:00.000Z', 'failed');
    const b = verified('b', '2026-11-08T00:00:00.000Z', 'ok');
    expect(summarizeRunHistory('vm1', [a, b]).lastVerify).toEqual({ time: '2026-11-05T00:00:00.000Z', ok: false, chain: 'a' });
    // Once the failed chain is gone (removed by hand) or verified ok again, the domain is ok.
    expect(summarizeRunHistory('vm1', [b]).lastVerify?.ok).toBe(true);
    expect(summarizeRunHistory('vm1', [verified('a', '2026-11-09T00:00:00.000Z', 'ok'), b]).lastVerify).toEqual({
      time: '2026-11-09T00:00:00.000Z',
      ok: true,
      chain: 'a',
    });
  });

  it('one verify run stamps every chain with the same time: the failed chain wins in any order, and check says CRITICAL naming it', () => {
    // The review's repro: status said ok for .2 although .3 failed at the identical time.
    const time = '2026-11-30T09:00:00.000Z';
    const chains = [verified('m', time, 'ok'), verified('m.2', time, 'ok'), verified('m.3', time, 'failed')];
    for (const order of [chains, [...chains].reverse(), [chains[2]!, chains[0]!, chains[1]!]]) {
      expect(pickDomainVerify(order)).toEqual({ time, result: 'failed', chain: 'm.3' });
    }
    const history = summarizeRunHistory('vm1', chains);
    const thresholds = { warning: parseDuration('1y'), critical: parseDuration('2y'), verifyWarning: undefined, verifyCritical: undefined };
    const verdict = judgeCheck([{ domain: 'vm1', history, consistent: true, error: undefined }], thresholds, new Date(time));
    expect(verdict.state).toBe(2);
    expect(verdict.line).toBe('VMKEEP CRITICAL - 1 of 1 domains need attention: vm1: no backup at all, last verify failed (m.3)');
  });

  it('two failed chains: the newer failure names the domain verdict; on a tie the later chain', () => {
    const a = verified('a', '2026-11-05T00:00:00.000Z', 'failed');
    const b = verified('b', '2026-11-04T00:00:00.000Z', 'failed');
    expect(pickDomainVerify([a, b])).toEqual({ time: '2026-11-05T00:00:00.000Z', result: 'failed', chain: 'a' });
    expect(pickDomainVerify([a, verified('b', '2026-11-05T00:00:00.000Z', 'failed')])?.chain).toBe('b');
    expect(pickDomainVerify([chain('none', [])])).toBeUndefined();
  });
});
