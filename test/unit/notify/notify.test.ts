import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmkeepError } from '../../../src/errors.js';
import {
  NotifySettingsSchema,
  buildRunReport,
  loadNotifySettings,
  maskSecrets,
  notifyEnd,
  notifyStart,
  parseNotifyFlag,
  parseNotifyOn,
  pingUrl,
  renderReportText,
  resolveTargets,
  type RunReport,
} from '../../../src/notify/index.js';
import type { BootVerifyDocument } from '../../../src/verify/boot-verify.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { closedPort, startReceiver, type HttpReceiver } from '../../helpers/http-receiver.js';

let dir: string;
let receiver: HttpReceiver;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkeep-notify-'));
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const backupDoc = {
  dryRun: false,
  output: '/b',
  results: [
    { domain: 'vm1', result: 'done', level: 'full', chain: 'vmsnap-backup-monthly-2026-11' },
    { domain: 'vm2', result: 'failed', reason: 'virtnbdbackup exited 1' },
  ],
};

function report(outcome: string, exitCode: number): RunReport {
  return buildRunReport({
    command: 'backup',
    host: 'hv1',
    runId: '0b5c3c2e-1111-4222-8333-944455556666',
    outcome,
    exitCode,
    startedAt: new Date('2026-11-30T01:30:00Z'),
    finishedAt: new Date('2026-11-30T01:31:00Z'),
    document: backupDoc,
  });
}

describe('--notify flags', () => {
  it('picks the target type from the scheme', () => {
    expect(parseNotifyFlag('https://example.org/hook', undefined)).toEqual({ type: 'webhook', url: 'https://example.org/hook' });
    expect(parseNotifyFlag('hc+https://hc-ping.com/abc', ['failure'])).toEqual({ type: 'healthchecks', url: 'https://hc-ping.com/abc', on: ['failure'] });
    expect(parseNotifyFlag('ntfy+http://127.0.0.1:8080/backups', undefined)).toEqual({ type: 'ntfy', url: 'http://127.0.0.1:8080/backups' });
    expect(parseNotifyFlag('mailto:ops@example.org,me@example.org', undefined)).toEqual({ type: 'email', to: ['ops@example.org', 'me@example.org'] });
  });

  it('refuses commands and unknown schemes without echoing the value', () => {
    expect(() => parseNotifyFlag('cmd:/usr/bin/true', undefined)).toThrow(/notify-config/);
    let err: unknown;
    try {
      parseNotifyFlag('ftp://secret-key-1234567890@host/x', undefined);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VmkeepError);
    expect((err as VmkeepError).code).toBe('usage');
    expect((err as Error).message).not.toContain('secret-key');
  });

  it('--notify-on takes comma lists and refuses other words', () => {
    expect(parseNotifyOn(['failure,partial', 'failure'])).toEqual(['failure', 'partial']);
    expect(parseNotifyOn(undefined)).toBeUndefined();
    expect(() => parseNotifyOn(['sometimes'])).toThrow(/failure, partial and success/);
  });
});

describe('notify schema', () => {
  it('is strict: an unknown key or two URL sources are refused', () => {
    expect(NotifySettingsSchema.safeParse({ targets: [{ type: 'webhook', url: 'https://x/y', tokenfile: '/t' }] }).success).toBe(false);
    expect(NotifySettingsSchema.safeParse({ targets: [{ type: 'webhook', url: 'https://x/y', urlEnv: 'HOOK' }] }).success).toBe(false);
    expect(NotifySettingsSchema.safeParse({ targets: [{ type: 'command', argv: 'mail -s x root' }] }).success).toBe(false);
    expect(
      NotifySettingsSchema.safeParse({ timeoutSeconds: 5, targets: [{ type: 'command', argv: ['/usr/bin/logger', '-t', 'x'], on: ['failure'] }] }).success,
    ).toBe(true);
  });

  it('loads the notify section of a YAML file and names the bad path in errors', async () => {
    const good = path.join(dir, 'good.yaml');
    fs.writeFileSync(good, 'notify:\n  targets:\n    - type: healthchecks\n      urlFile: /etc/vmkeep/hc-url\n');
    expect((await loadNotifySettings(good)).targets).toEqual([{ type: 'healthchecks', urlFile: '/etc/vmkeep/hc-url' }]);
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'targets:\n  - type: ntfy\n    url: https://ntfy.sh/x\n    priority: 9\n');
    await expect(loadNotifySettings(bad)).rejects.toThrow(/targets\.0/);
  });
});

describe('healthchecks ping URLs', () => {
  it('appends /start or /fail and the run id', () => {
    expect(pingUrl('https://hc-ping.com/uuid-1/', 'start', 'r1')).toBe('https://hc-ping.com/uuid-1/start?rid=r1');
    expect(pingUrl('https://hc-ping.com/uuid-1', 'success', 'r1')).toBe('https://hc-ping.com/uuid-1?rid=r1');
    expect(pingUrl('https://hc-ping.com/uuid-1', 'fail', 'r1')).toBe('https://hc-ping.com/uuid-1/fail?rid=r1');
  });
});

describe('run report', () => {
  it('summarises a backup document and keeps it whole', () => {
    const r = report('partial', 1);
    expect(r.outcome).toBe('partial');
    expect(r.summary).toBe('vmkeep backup on hv1 partly failed (1 done, 1 failed)');
    expect(r.details).toEqual(['vm2: failed: virtnbdbackup exited 1']);
    expect(r.result).toEqual(backupDoc);
  });

  it('a run that threw has no document but says why', () => {
    const r = buildRunReport({
      command: 'backup',
      host: 'h',
      runId: 'r',
      outcome: 'locked',
      exitCode: 75,
      startedAt: new Date(0),
      finishedAt: new Date(0),
      document: undefined,
      error: 'output folder /b is locked',
    });
    expect(r.outcome).toBe('failure');
    expect(r.result).toBeNull();
    expect(r.summary).toBe('vmkeep backup on h FAILED: output folder /b is locked');
  });
});

/** A verify --boot document as runBootVerify returns it (typed by it, so the two cannot drift apart). */
function bootDoc(points: BootVerifyDocument['points'], extra: Partial<BootVerifyDocument> = {}): BootVerifyDocument {
  return { output: '/b', time: '2026-12-07T02:00:00.000Z', boot: true, domainType: 'qemu', points, failures: [], leftoversRemoved: [], ...extra };
}

function bootPoint(domain: string, result: 'ok' | 'failed', more: Partial<BootVerifyDocument['points'][number]> = {}): BootVerifyDocument['points'][number] {
  return {
    domain,
    point: 'vmsnap-backup-monthly-2026-12/virtnbdbackup.1',
    chain: 'vmsnap-backup-monthly-2026-12',
    checkpoint: 'virtnbdbackup.1',
    engine: 'virtnbdbackup',
    disks: 'scratch-restore',
    verifyDomain: `vmkeep-verify-${domain}-vmsnap-backup-monthly-2026-12_virtnbdbackup.1`,
    result,
    durationMs: 54_100,
    checks: [],
    consoleTail: [],
    evidence: undefined,
    screenshot: false,
    notes: [],
    ...more,
  };
}

function bootReport(outcome: string, exitCode: number, document: BootVerifyDocument): RunReport {
  return buildRunReport({
    command: 'verify',
    host: 'hv1',
    runId: 'r',
    outcome,
    exitCode,
    startedAt: new Date(0),
    finishedAt: new Date(0),
    document,
  });
}

describe('verify --boot run report', () => {
  const passed = bootPoint('web-1', 'ok', {
    firstAnswerMs: 43_900,
    checks: [
      { check: 'agent', ok: true, ms: 43_900 },
      { check: 'exec:/data/check-journal', ok: true, ms: 51_000, exitCode: 0, stdout: 'journal: 114 lines, every checksum valid\n', stderr: '' },
    ],
  });
  const failed = bootPoint('acc-db', 'failed', {
    reason: 'no answer from the guest agent in 300 s',
    checks: [{ check: 'agent', ok: false, ms: 300_000, reason: 'no answer from the guest agent in 300 s' }],
    consoleTail: ['SeaBIOS (version 1.16.2-debian-1.16.2-1)', 'Booting from Hard Disk...', 'Boot failed: not a bootable disk'],
  });

  it('success: which points booted and which checks passed', () => {
    const r = bootReport('ok', 0, bootDoc([passed]));
    expect(r.outcome).toBe('success');
    expect(r.summary).toBe('vmkeep verify --boot on hv1 succeeded (1 booted)');
    expect(r.details).toEqual([
      'web-1: point vmsnap-backup-monthly-2026-12/virtnbdbackup.1: booted: agent, exec:/data/check-journal passed, first answer after 43.9 s',
    ]);
  });

  it('failure: the point that did not boot, why, and the last console line; the points that booted are left out', () => {
    const r = bootReport('partial', 1, bootDoc([passed, failed], { failures: [{ domain: 'old-vm', reason: 'no restore points in /b' }] }));
    expect(r.outcome).toBe('partial');
    expect(r.summary).toBe('vmkeep verify --boot on hv1 partly failed (1 booted, 1 did not boot, 1 not verified)');
    expect(r.details).toEqual([
      'acc-db: point vmsnap-backup-monthly-2026-12/virtnbdbackup.1: did not boot: no answer from the guest agent in 300 s; last console line: Boot failed: not a bootable disk',
      'old-vm: not verified: no restore points in /b',
    ]);
    expect(renderReportText(r).split('\n')[0]).toBe(r.summary);
  });

  it('a guest that printed nothing says so; leftovers of a killed run are told too', () => {
    const silent = bootPoint('acc-db', 'failed', { reason: 'interrupted' });
    const removed =
      'removed verify domain vmkeep-verify-acc-db-x and its scratch folder /b/.vmkeep-boot-verify/run-1, left by an interrupted verify --boot (pid 1)';
    const r = bootReport('failure', 2, bootDoc([silent], { leftoversRemoved: [removed] }));
    expect(r.summary).toBe('vmkeep verify --boot on hv1 FAILED (1 did not boot)');
    expect(r.details).toEqual(['acc-db: point vmsnap-backup-monthly-2026-12/virtnbdbackup.1: did not boot: interrupted; the console printed nothing', removed]);
  });
});

describe('sending', () => {
  it('a tokenFile token goes into the header and is masked in log lines', async () => {
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, 's3cr3t-t0ken-value\n');
    const resolved = await resolveTargets({ targets: [{ type: 'webhook', url: `${receiver.url}/hook`, tokenFile }] }, {});
    expect(resolved.problems).toEqual([]);
    expect(resolved.secrets).toContain('s3cr3t-t0ken-value');
    receiver.requests.length = 0;
    const log = createMemoryLogger();
    await notifyEnd(resolved.targets, report('ok', 0), { fetch, runner: new FakeRunner(), log }, resolved.secrets);
    expect(receiver.requests).toHaveLength(1);
    const req = receiver.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/hook');
    expect(req.headers['authorization']).toBe('Bearer s3cr3t-t0ken-value');
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.body)).toMatchObject({ vmkeep: 'run-report/1', outcome: 'success', result: backupDoc });
    expect(maskSecrets('token s3cr3t-t0ken-value here', resolved.secrets)).toBe('token *** here');
  });

  it('a webhook URL is masked as a whole, not by its short path (a script named hook.sh stays readable)', async () => {
    const url = 'https://hooks.example.org/hook';
    const resolved = await resolveTargets({ targets: [{ type: 'webhook', url }] }, {});
    expect(resolved.problems).toEqual([]);
    expect(maskSecrets('running /tmp/nu/hook.sh before the backup', resolved.secrets)).toBe('running /tmp/nu/hook.sh before the backup');
    expect(maskSecrets(`POST ${url} failed`, resolved.secrets)).toBe('POST *** failed');
    // A key in the path or the query is still masked wherever it shows up on its own.
    const keyed = await resolveTargets({ targets: [{ type: 'webhook', url: 'https://hooks.example.org/hook/T0123456789abcdef?token=s3cr3t-query' }] }, {});
    expect(maskSecrets('key T0123456789abcdef, token=s3cr3t-query, /tmp/hook.sh', keyed.secrets)).toBe('key ***, ***, /tmp/hook.sh');
  });

  it('a missing tokenFile leaves the target out with a masked problem line', async () => {
    const resolved = await resolveTargets(
      { targets: [{ type: 'webhook', url: `${receiver.url}/k3y-in-the-path-0123456789`, tokenFile: path.join(dir, 'nope') }] },
      {},
    );
    expect(resolved.targets).toEqual([]);
    expect(resolved.problems).toHaveLength(1);
    expect(resolved.problems[0]).toMatch(/cannot read its token file .*nope \(ENOENT\)/);
  });

  it('only targets whose on: lists the outcome are sent to; healthchecks gets /start and /fail', async () => {
    const resolved = await resolveTargets(
      {
        targets: [
          { type: 'healthchecks', url: `${receiver.url}/ping/abc` },
          { type: 'ntfy', url: `${receiver.url}/topic` },
          { type: 'webhook', url: `${receiver.url}/only-failures`, on: ['failure'] },
        ],
      },
      {},
    );
    receiver.requests.length = 0;
    const deps = { fetch, runner: new FakeRunner(), log: createMemoryLogger() };
    const r = report('partial', 1);
    await notifyStart(resolved.targets, r.runId, deps, resolved.secrets);
    await notifyEnd(resolved.targets, r, deps, resolved.secrets);
    const paths = receiver.requests.map((q) => q.path).sort();
    expect(paths).toEqual([`/ping/abc/fail?rid=${r.runId}`, `/ping/abc/start?rid=${r.runId}`, '/topic']);
    const ntfy = receiver.requests.find((q) => q.path === '/topic')!;
    expect(ntfy.headers['title']).toBe(r.summary);
    expect(ntfy.headers['priority']).toBe('4');
    expect(ntfy.body).toContain('vm2: failed: virtnbdbackup exited 1');
    const fail = receiver.requests.find((q) => q.path.includes('/fail'))!;
    expect(fail.body.split('\n')[0]).toBe(r.summary);
  });

  it('HTTP 500 is tried twice and ends as one warning; so is a closed port', async () => {
    const port = await closedPort();
    const resolved = await resolveTargets(
      {
        targets: [
          { type: 'webhook', url: `${receiver.url}/down` },
          { type: 'webhook', url: `http://127.0.0.1:${port}/x` },
        ],
      },
      {},
    );
    receiver.requests.length = 0;
    receiver.status = 500;
    const log = createMemoryLogger();
    try {
      await notifyEnd(resolved.targets, report('ok', 0), { fetch, runner: new FakeRunner(), log, retryDelayMs: 10 }, resolved.secrets);
    } finally {
      receiver.status = 200;
    }
    expect(receiver.requests.map((q) => q.path)).toEqual(['/down', '/down']);
    const warnings = log.lines.filter((l) => l.startsWith('warning:')).sort();
    expect(warnings).toHaveLength(2);
    expect(warnings.some((w) => /HTTP 500/.test(w))).toBe(true);
    expect(warnings.some((w) => /ECONNREFUSED/.test(w))).toBe(true);
  });

  it('a command gets the report on stdin as argv, and sendmail a mail with To: from the config', async () => {
    const runner = new FakeRunner();
    let stdin: string | undefined;
    let mail: string | undefined;
    runner.expect({ tool: '/usr/local/bin/hook', argv: ['--from', 'vmkeep'], effect: (o) => void (stdin = o?.input) });
    runner.expect({ tool: '/usr/sbin/sendmail', argv: ['-oi', '-t'], effect: (o) => void (mail = o?.input) });
    const resolved = await resolveTargets(
      {
        targets: [
          { type: 'command', argv: ['/usr/local/bin/hook', '--from', 'vmkeep'] },
          { type: 'email', to: ['ops@example.org'] },
        ],
      },
      {},
    );
    const r = report('failure', 2);
    await notifyEnd(resolved.targets, r, { fetch, runner, log: createMemoryLogger() }, []);
    expect(runner.unmet()).toEqual([]);
    expect(JSON.parse(stdin!)).toMatchObject({ outcome: 'failure', exitCode: 2 });
    expect(mail).toMatch(/^From: root@hv1\nTo: ops@example.org\nSubject: vmkeep backup on hv1 FAILED \(1 done, 1 failed\)\n/);
  });

  it('a missing sendmail is a warning, not an error', async () => {
    const log = createMemoryLogger();
    const resolved = await resolveTargets({ targets: [{ type: 'email', to: ['ops@example.org'], sendmail: path.join(dir, 'no-sendmail') }] }, {});
    const { createExecaRunner } = await import('../../../src/runner/runner.js');
    await notifyEnd(resolved.targets, report('failure', 2), { fetch, runner: createExecaRunner(), log, retryDelayMs: 1 }, []);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatch(/^warning: notification to email to ops@example.org failed \(tried twice\): .*no-sendmail/);
  });
});

describe('printing settings', () => {
  it('redactNotifySettings keeps file paths and variable names, hides inline URL paths', async () => {
    const { redactNotifySettings } = await import('../../../src/notify/index.js');
    const shown = redactNotifySettings({
      targets: [
        { type: 'healthchecks', url: 'https://hc-ping.com/0c4a7e1b-aaaa-bbbb-cccc-123456789abc' },
        { type: 'webhook', urlFile: '/etc/vmkeep/hook-url', tokenEnv: 'HOOK_TOKEN' },
      ],
    });
    expect(shown.targets).toEqual([
      { type: 'healthchecks', url: 'https://hc-ping.com/***' },
      { type: 'webhook', urlFile: '/etc/vmkeep/hook-url', tokenEnv: 'HOOK_TOKEN' },
    ]);
  });
});
