import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { judgeCheck, worst, type CheckState, type CheckThresholds, type DomainCheckInput } from '../../../src/check/judge-check.js';
import type { RunHistory } from '../../../src/repository/run-history.js';
import { parseDuration } from '../../../src/retention/duration.js';

const now = new Date('2026-11-30T12:00:00Z');
const t: CheckThresholds = { warning: parseDuration('1d'), critical: parseDuration('2d'), verifyWarning: undefined, verifyCritical: undefined };
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3600_000).toISOString();

function history(fields: Partial<RunHistory> & { ageHours?: number } = {}): RunHistory {
  const time = hoursAgo(fields.ageHours ?? 5);
  return {
    domain: 'vm1',
    chains: 1,
    unhealthyChains: 0,
    restorePoints: 3,
    repositoryBytes: 1000,
    lastSuccess: { time, durationSeconds: 2, bytes: 10, chain: 'c', checkpoint: 'virtnbdbackup.2' },
    lastRun: { time, result: 'success', durationSeconds: 2, bytes: 10, message: undefined },
    lastVerify: undefined,
    ...fields,
  };
}
const input = (h: RunHistory | undefined, extra: Partial<DomainCheckInput> = {}): DomainCheckInput => ({
  domain: h?.domain ?? 'vm1',
  history: h,
  consistent: true,
  error: undefined,
  ...extra,
});

describe('judgeCheck --boot-max-age', () => {
  const tb: CheckThresholds = { ...t, bootMaxAge: parseDuration('8d') };
  const proof = (ageHours: number, result: 'ok' | 'failed', reason?: string) => ({
    time: hoursAgo(ageHours),
    result,
    chain: 'c',
    checkpoint: 'virtnbdbackup.2',
    durationSeconds: 12,
    ...(reason ? { reason } : {}),
  });

  it('OK with a young passing proof; WARNING when it is older or there is none; CRITICAL when it failed', () => {
    expect(judgeCheck([input(history({ lastBootVerify: proof(24, 'ok') }))], tb, now).state).toBe(0);
    const old = judgeCheck([input(history({ lastBootVerify: proof(24 * 9, 'ok') }))], tb, now);
    expect(old.state).toBe(1);
    expect(old.line).toContain('vm1: last boot proof 9d ago (--boot-max-age 8d)');
    const none = judgeCheck([input(history())], tb, now);
    expect(none.state).toBe(1);
    expect(none.line).toContain('never proved by booting');
    const failed = judgeCheck([input(history({ lastBootVerify: proof(2, 'failed', 'no answer from the guest agent in 300 s') }))], tb, now);
    expect(failed.state).toBe(2);
    expect(failed.line).toContain('c/virtnbdbackup.2 did not boot at');
    expect(failed.line).toContain('no answer from the guest agent in 300 s');
  });

  it('without --boot-max-age a failed proof is still CRITICAL (that point does not boot); its age and a missing proof do not count', () => {
    const failed = judgeCheck([input(history({ lastBootVerify: proof(2, 'failed', 'no answer from the guest agent in 300 s') }))], t, now);
    expect(failed.state).toBe(2);
    expect(failed.line).toContain('c/virtnbdbackup.2 did not boot at');
    expect(judgeCheck([input(history({ lastBootVerify: proof(24 * 30, 'ok') }))], t, now).state).toBe(0);
    expect(judgeCheck([input(history())], t, now).state).toBe(0);
  });
});

describe('judgeCheck', () => {
  it('OK with ages and perfdata', () => {
    const v = judgeCheck([input(history()), input(history({ domain: 'web 1', ageHours: 20 }))], t, now);
    expect(v.state).toBe(0);
    expect(v.line).toBe("VMKEEP OK - 2 domains, newest backup 5h ago, oldest 20h ago | age_vm1=18000s;86400;172800;0; 'age_web 1'=72000s;86400;172800;0;");
  });

  it('WARNING past --warning, CRITICAL past --critical, CRITICAL with no backup', () => {
    expect(judgeCheck([input(history({ ageHours: 25 }))], t, now).state).toBe(1);
    expect(judgeCheck([input(history({ ageHours: 49 }))], t, now).state).toBe(2);
    const none = judgeCheck([input(history({ lastSuccess: undefined, lastRun: undefined, restorePoints: 0 }))], t, now);
    expect(none.state).toBe(2);
    expect(none.line).toBe('VMKEEP CRITICAL - 1 of 1 domains need attention: vm1: no backup at all');
  });

  it('a failed last run, a broken chain or an inconsistent domain is a WARNING while the backup is young', () => {
    expect(
      judgeCheck([input(history({ lastRun: { time: hoursAgo(1), result: 'failure', durationSeconds: undefined, bytes: undefined, message: 'x' } }))], t, now)
        .line,
    ).toContain('last run failed at');
    expect(judgeCheck([input(history({ unhealthyChains: 1 }))], t, now).state).toBe(1);
    expect(judgeCheck([input(history(), { consistent: false })], t, now).state).toBe(1);
  });

  it('a damaged chain is CRITICAL without any verify, naming the missing file', () => {
    const v = judgeCheck([input(history({ unhealthyChains: 1, damagedChains: [{ chain: 'c', problems: ['vda.full.data is missing'] }] }))], t, now);
    expect(v.state).toBe(2);
    expect(v.line).toBe('VMKEEP CRITICAL - 1 of 1 domains need attention: vm1: chain c is damaged: vda.full.data is missing | age_vm1=18000s;86400;172800;0;');
  });

  it('a point dated in the future is a WARNING; the last recorded point decides the age, never negative', () => {
    const future = new Date(now.getTime() + 40 * 86_400_000).toISOString();
    const v = judgeCheck([input(history({ latestDated: { time: future, chain: 'c2', checkpoint: 'virtnbdbackup.1' } }))], t, now);
    expect(v.state).toBe(1);
    expect(v.line).toContain(`c2/virtnbdbackup.1 is dated in the future (${future})`);
    const behind = judgeCheck([input(history({ ageHours: -3 }))], t, now);
    expect(behind.domains[0]!.ageSeconds).toBe(0);
  });

  it('verify: a failed one is CRITICAL; none or an old one is judged only when asked', () => {
    const failed = history({ lastVerify: { time: hoursAgo(2), ok: false, chain: 'c' } });
    expect(judgeCheck([input(failed)], t, now).state).toBe(2);
    expect(judgeCheck([input(history())], t, now).state).toBe(0);
    const asked = { ...t, verifyWarning: parseDuration('8d'), verifyCritical: parseDuration('15d') };
    expect(judgeCheck([input(history())], asked, now).line).toContain('never verified');
    expect(judgeCheck([input(history())], asked, now).state).toBe(2);
    expect(judgeCheck([input(history({ lastVerify: { time: hoursAgo(24 * 9), ok: true, chain: 'c' } }))], asked, now).state).toBe(1);
    expect(judgeCheck([input(history({ lastVerify: { time: hoursAgo(24 * 3), ok: true, chain: 'c' } }))], asked, now).state).toBe(0);
  });

  it('UNKNOWN when a domain cannot be read, or is unknown; a pipe in a name cannot cut the perfdata', () => {
    expect(judgeCheck([input(undefined, { error: 'manifest is not valid JSON' })], t, now).state).toBe(3);
    expect(judgeCheck([input(history())], t, now, ['vm9: unknown domain']).state).toBe(3);
    const piped = judgeCheck([input(history({ domain: 'a|b', ageHours: 30 }))], t, now);
    expect(piped.line.split('|')).toHaveLength(2);
  });

  it('the overall state is the worst of the domains (CRITICAL > WARNING > UNKNOWN > OK)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom<CheckState>(0, 1, 2, 3), { minLength: 1, maxLength: 8 }), (states) => {
        const w = worst(states);
        expect(states).toContain(w);
        if (states.includes(2)) expect(w).toBe(2);
        else if (states.includes(1)) expect(w).toBe(1);
        else if (states.includes(3)) expect(w).toBe(3);
        else expect(w).toBe(0);
      }),
    );
  });
});
