/**
 * Telling people, end to end with the built CLI on real domains and real backups: webhook and
 * healthchecks requests received by a real HTTP server on 127.0.0.1 (success, partial, failure),
 * a receiver that answers 500 or does not listen, a tokenFile secret, --log-file / --log-json /
 * --quiet, syslog read back from a socket the test listens on, the Prometheus textfile checked by
 * promtool, and `vmkeep check` returning 0, 1, 2 and 3 on backups aged with VMKEEP_NOW.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, makeLockDir } from '../helpers/backup-run.js';
import { runVmkeep } from '../helpers/cli.js';
import { closedPort, startReceiver, type HttpReceiver } from '../helpers/http-receiver.js';
import { cleanupAll, createTestDomain, virsh, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { listenSyslog } from '../helpers/syslog-listener.js';
import { promtool } from '../helpers/promtool.js';

const TOKEN = 'tok-3b1f0c9e77a24d5b9d1e';

let lockDir: string;
let receiver: HttpReceiver;
let dom: TestDomain;
let idle: TestDomain;
let out: string;
let work: string;
let notifyConfig: string;

beforeAll(async () => {
  lockDir = makeLockDir();
  receiver = await startReceiver();
  dom = await createTestDomain({ start: true });
  // Known to libvirt, never backed up: `check` must call that CRITICAL.
  idle = await createTestDomain();
  work = path.join(dom.dir, 'work');
  fs.mkdirSync(work);
  out = path.join(dom.dir, 'out');
  fs.writeFileSync(path.join(work, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  notifyConfig = path.join(work, 'notify.yaml');
  fs.writeFileSync(
    notifyConfig,
    [
      'notify:',
      '  timeoutSeconds: 5',
      '  targets:',
      '    - type: webhook',
      `      url: ${receiver.url}/hook`,
      `      tokenFile: ${path.join(work, 'token')}`,
      '      headers: { X-Source: vmkeep-test }',
      '    - type: healthchecks',
      `      url: ${receiver.url}/ping/0c4a7e1b-aaaa-bbbb-cccc-123456789abc`,
      '',
    ].join('\n'),
  );
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
});

interface Report {
  vmkeep: string;
  runId: string;
  startedAt: string;
  outcome: string;
  exitCode: number;
  summary: string;
  result: { results: Array<{ domain: string; result: string }> } | null;
}

function takeRequests() {
  const r = [...receiver.requests];
  receiver.requests.length = 0;
  return r;
}

describe('notifications from real backup runs', () => {
  it('success: healthchecks /start then success ping, webhook with the token header and the result document; textfile written', async () => {
    await writeGuestData(dom, 'vda', { pattern: 0x11, offset: 0, length: 2 * MiB });
    const logFile = path.join(work, 'vmkeep.log');
    const textDir = path.join(work, 'textfile');
    fs.mkdirSync(textDir);
    const run = await backupCli(
      [
        '--domains',
        dom.name,
        '--output',
        out,
        '--notify-config',
        notifyConfig,
        '--log-file',
        logFile,
        '--textfile',
        textDir,
        '--metrics-host',
        'hv-test',
        '--json',
      ],
      { lockDir },
    );
    expect(run.code, run.stderr).toBe(0);
    const reqs = takeRequests();
    const hook = reqs.filter((q) => q.path === '/hook');
    expect(hook).toHaveLength(1);
    expect(hook[0]!.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    expect(hook[0]!.headers['x-source']).toBe('vmkeep-test');
    const body = JSON.parse(hook[0]!.body) as Report;
    expect(body).toMatchObject({ vmkeep: 'run-report/1', outcome: 'success', exitCode: 0, command: 'backup' });
    expect(body.result).toEqual(JSON.parse(run.stdout));
    expect(body.result!.results).toEqual([expect.objectContaining({ domain: dom.name, result: 'done', level: 'full' })]);
    const pings = reqs.filter((q) => q.path.startsWith('/ping/')).map((q) => q.path);
    expect(pings).toEqual([
      `/ping/0c4a7e1b-aaaa-bbbb-cccc-123456789abc/start?rid=${body.runId}`,
      `/ping/0c4a7e1b-aaaa-bbbb-cccc-123456789abc?rid=${body.runId}`,
    ]);
    // the secret went to the receiver and nowhere else
    const log = fs.readFileSync(logFile, 'utf8');
    for (const text of [run.stdout, run.stderr, log]) expect(text).not.toContain(TOKEN);
    // every log-file line carries the run id; no progress bar reaches the file
    const lines = log.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) expect(l).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z vmkeep\\[${body.runId}\\] (info|warning|debug): `));
    expect(log).toContain(`${dom.name}: full backup into`);
    expect(log).not.toMatch(/\r|█|░/);
    // Prometheus textfile, checked by promtool
    const prom = path.join(textDir, 'vmkeep.prom');
    const check = promtool(prom);
    expect(check.out).toBe('');
    expect(check.ok).toBe(true);
    const text = fs.readFileSync(prom, 'utf8');
    const l = `{host="hv-test",domain="${dom.name}"}`;
    expect(text).toContain(`vmkeep_restore_points${l} 1\n`);
    expect(text).toContain(`vmkeep_chains${l} 1\n`);
    expect(text).toContain(`vmkeep_consistent${l} 1\n`);
    expect(text).toContain(`vmkeep_last_run_result{host="hv-test",domain="${dom.name}",result="success"} 1\n`);
    expect(text).toMatch(new RegExp(`vmkeep_last_run_bytes${l.replace(/[{}]/g, '\\$&')} [1-9]\\d*\\n`));
    expect(text).toMatch(new RegExp(`vmkeep_repository_bytes${l.replace(/[{}]/g, '\\$&')} [1-9]\\d*\\n`));
    const lastSuccess = Number(/vmkeep_last_success_timestamp_seconds\{[^}]*\} (\d+(?:\.\d+)?)/.exec(text)![1]);
    expect(Math.abs(lastSuccess * 1000 - Date.parse(body.startedAt))).toBeLessThan(10_000);
    expect(fs.readdirSync(textDir)).toEqual(['vmkeep.prom']);
  });

  it('partial: one real domain done, one unknown; webhook says partial, healthchecks gets /fail with the summary', async () => {
    await writeGuestData(dom, 'vda', { pattern: 0x22, offset: 4 * MiB, length: 1 * MiB });
    const missing = 'vmkeep-test-missing-reporting';
    const run = await backupCli(['--domains', `${dom.name},${missing}`, '--output', out, '--notify-config', notifyConfig], { lockDir });
    expect(run.code, run.stderr).toBe(1);
    const reqs = takeRequests();
    const body = JSON.parse(reqs.find((q) => q.path === '/hook')!.body) as Report;
    expect(body).toMatchObject({ outcome: 'partial', exitCode: 1, summary: expect.stringContaining('partly failed (1 done, 1 failed)') });
    const fail = reqs.find((q) => q.path.includes('/fail'))!;
    expect(fail.path).toBe(`/ping/0c4a7e1b-aaaa-bbbb-cccc-123456789abc/fail?rid=${body.runId}`);
    expect(fail.body.split('\n')[0]).toBe(body.summary);
    expect(fail.body).toContain(`${missing}: failed: unknown domain`);
  });

  it('failure: nothing backed up; --notify with --notify-on failure adds a target for this run', async () => {
    const run = await backupCli(
      [
        '--domains',
        'vmkeep-test-missing-a,vmkeep-test-missing-b',
        '--output',
        out,
        '--notify-config',
        notifyConfig,
        '--notify',
        `${receiver.url}/oneoff`,
        '--notify-on',
        'failure',
      ],
      { lockDir },
    );
    expect(run.code, run.stderr).toBe(2);
    const reqs = takeRequests();
    expect(reqs.map((q) => q.path.replace(/\?rid=.*/, '')).sort()).toEqual([
      '/hook',
      '/oneoff',
      '/ping/0c4a7e1b-aaaa-bbbb-cccc-123456789abc/fail',
      '/ping/0c4a7e1b-aaaa-bbbb-cccc-123456789abc/start',
    ]);
    const oneoff = JSON.parse(reqs.find((q) => q.path === '/oneoff')!.body) as Report;
    expect(oneoff).toMatchObject({ outcome: 'failure', exitCode: 2 });
    expect(oneoff.result!.results.map((r) => r.result)).toEqual(['failed', 'failed']);
  });

  it('a receiver answering 500 leaves exit 0 and logs one warning (JSON log lines, syslog read back)', async () => {
    const sock = await listenSyslog(path.join(work, 'syslog.sock'));
    try {
      receiver.status = 500;
      const run = await backupCli(
        [
          '--domains',
          dom.name,
          '--output',
          out,
          '--notify',
          `${receiver.url}/broken`,
          '--log-json',
          '--syslog',
          '--syslog-socket',
          sock.socket,
          '--syslog-facility',
          'local3',
          '--syslog-tag',
          'vmkeep-it',
        ],
        { lockDir },
      );
      receiver.status = 200;
      expect(run.code, run.stderr).toBe(0);
      expect(takeRequests().map((q) => q.path)).toEqual(['/broken', '/broken']);
      const logLines = run.stderr
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { level: string; message: string; runId: string; time: string });
      const warnings = logLines.filter((l) => l.level === 'warning');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.message).toMatch(/^notification to webhook http:\/\/127\.0\.0\.1:\d+\/\*\*\* failed \(tried twice\): the server answered HTTP 500$/);
      expect(new Set(logLines.map((l) => l.runId)).size).toBe(1);
      // syslog: local3 = 19; <19*8+6> for info, <19*8+4> for warning; tag and pid; run id in front
      await new Promise((r) => setTimeout(r, 200));
      const runId = logLines[0]!.runId;
      expect(sock.messages.some((m) => new RegExp(`^<158>.* vmkeep-it\\[\\d+\\]: \\[${runId}\\] ${dom.name}: inc backup into `).test(m))).toBe(true);
      expect(sock.messages.some((m) => new RegExp(`^<156>.* vmkeep-it\\[\\d+\\]: \\[${runId}\\] notification to webhook .* HTTP 500$`).test(m))).toBe(true);
    } finally {
      receiver.status = 200;
      sock.close();
    }
  });

  it('a receiver that does not listen leaves exit 0; --quiet keeps only the warning on stderr', async () => {
    const port = await closedPort();
    const run = await backupCli(['--domains', dom.name, '--output', out, '--notify', `http://127.0.0.1:${port}/nobody`, '--quiet', '--if-older-than', '1h'], {
      lockDir,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^warning: notification to webhook http:\/\/127\.0\.0\.1:\d+\/\*\*\* failed \(tried twice\): fetch failed \(ECONNREFUSED\)$/),
    ]);
  });
});

describe('status --textfile', () => {
  it('writes the same series from the repository, file name and host label configurable', async () => {
    const textDir = path.join(work, 'status-textfile');
    fs.mkdirSync(textDir);
    const run = await runVmkeep([
      'status',
      '--domains',
      dom.name,
      '--output',
      out,
      '--textfile',
      textDir,
      '--textfile-name',
      'hv-test-out.prom',
      '--metrics-host',
      'hv "test"',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const prom = path.join(textDir, 'hv-test-out.prom');
    const check = promtool(prom);
    expect(check.out).toBe('');
    expect(check.ok).toBe(true);
    const text = fs.readFileSync(prom, 'utf8');
    // the full, the partial run's inc and the 500 run's inc
    expect(text).toContain(`vmkeep_restore_points{host="hv \\"test\\"",domain="${dom.name}"} 3\n`);
    expect(text).toContain(`vmkeep_consistent{host="hv \\"test\\"",domain="${dom.name}"} 1\n`);
    expect(text).not.toContain('vmkeep_last_verify_ok');
  });

  it('refuses --textfile without --output and on other commands', async () => {
    expect((await runVmkeep(['status', '--textfile', work])).code).toBe(64);
    expect((await runVmkeep(['list', '--output', out, '--textfile', work])).code).toBe(64);
  });
});

describe('vmkeep check (Nagios)', () => {
  const at = (hoursFromNow: number) => new Date(Date.now() + hoursFromNow * 3600_000).toISOString();
  const check = (args: string[], now: string) =>
    runVmkeep(['check', '--output', out, '--warning', '1d', '--critical', '2d', ...args], { env: { VMKEEP_NOW: now } });

  it('0 OK for a fresh backup, with perfdata', async () => {
    const run = await check(['--domains', dom.name], at(1));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout.split('\n')[0]).toMatch(
      new RegExp(`^VMKEEP OK - 1 domain, newest backup \\d+m ago, oldest \\d+m ago \\| age_${dom.name}=\\d+s;86400;172800;0;$`),
    );
  });

  it('1 WARNING when it is older than --warning, or never verified with --verify-warning', async () => {
    const old = await check(['--domains', dom.name], at(30));
    expect(old.code, old.stdout).toBe(1);
    expect(old.stdout).toMatch(/^VMKEEP WARNING - 1 of 1 domains need attention: .*last backup 30h ago \(warning 1d\)/);
    const unverified = await check(['--domains', dom.name, '--verify-warning', '8d'], at(1));
    expect(unverified.code).toBe(1);
    expect(unverified.stdout).toContain('never verified');
  });

  it('2 CRITICAL when older than --critical, and for a domain with no backup at all', async () => {
    const old = await check(['--domains', dom.name], at(72));
    expect(old.code, old.stdout).toBe(2);
    expect(old.stdout).toMatch(/^VMKEEP CRITICAL - .*last backup 3d ago \(critical 2d\)/);
    const none = await check(['--domains', `${dom.name},${idle.name}`], at(1));
    expect(none.code).toBe(2);
    expect(none.stdout).toContain(`${idle.name}: no backup at all`);
  });

  it('3 UNKNOWN when the repository cannot be read', async () => {
    const copy = path.join(work, 'damaged-out');
    fs.cpSync(out, copy, { recursive: true });
    const chain = fs.readdirSync(path.join(copy, dom.name))[0]!;
    fs.writeFileSync(path.join(copy, dom.name, chain, 'vmkeep-manifest.json'), '{ not json');
    const run = await runVmkeep(['check', '--output', copy, '--domains', dom.name, '--warning', '1d', '--critical', '2d']);
    expect(run.code).toBe(3);
    expect(run.stdout).toMatch(/^VMKEEP UNKNOWN - 1 of 1 domains need attention: .*cannot judge: .*is not valid JSON/);
    const gone = await runVmkeep(['check', '--output', path.join(work, 'no-such-folder'), '--warning', '1d', '--critical', '2d']);
    expect(gone.code).toBe(3);
    expect(gone.stdout).toMatch(/^VMKEEP UNKNOWN - cannot read output folder .*ENOENT/);
  });
});

describe('a real failed run, recorded in the repository', () => {
  it('webhook and healthchecks hear of the failure; the textfile and check show it', async () => {
    // A chain to record the failure on (the tests above made one; a run of this test alone makes it here).
    expect((await backupCli(['--domains', dom.name, '--output', out, '--if-older-than', '1h'], { lockDir })).code).toBe(0);
    takeRequests();
    // A checkpoint vmkeep did not make: the backup refuses the domain and records the failure on its chain.
    await virsh(['checkpoint-create-as', dom.uuid, 'foreign-cp']);
    try {
      const textDir = path.join(work, 'failed-textfile');
      fs.mkdirSync(textDir);
      const run = await backupCli(
        ['--domains', dom.name, '--output', out, '--notify-config', notifyConfig, '--textfile', textDir, '--metrics-host', 'hv-test'],
        { lockDir },
      );
      expect(run.code, run.stderr).toBe(2);
      const reqs = takeRequests();
      const body = JSON.parse(reqs.find((q) => q.path === '/hook')!.body) as Report & { details: string[] };
      expect(body).toMatchObject({ outcome: 'failure', exitCode: 2 });
      expect(body.result!.results).toEqual([expect.objectContaining({ domain: dom.name, result: 'failed' })]);
      expect(body.details[0]).toMatch(new RegExp(`^${dom.name}: failed: libvirt has checkpoints vmkeep did not make \\(foreign-cp\\)`));
      expect(reqs.find((q) => q.path.includes('/fail'))!.body).toContain('foreign-cp');

      const prom = path.join(textDir, 'vmkeep.prom');
      expect(promtool(prom)).toEqual({ ok: true, out: '' });
      const text = fs.readFileSync(prom, 'utf8');
      expect(text).toContain(`vmkeep_last_run_result{host="hv-test",domain="${dom.name}",result="failure"} 1\n`);
      expect(text).toContain(`vmkeep_last_run_result{host="hv-test",domain="${dom.name}",result="success"} 0\n`);
      expect(text).toContain(`vmkeep_last_run_bytes{host="hv-test",domain="${dom.name}"} 0\n`);
      expect(text).not.toContain(`vmkeep_last_run_duration_seconds{`);
      // the last success is still the earlier point, older than the failed run
      const num = (name: string) => Number(new RegExp(`${name}\\{[^}]*\\} (\\S+)`).exec(text)![1]);
      expect(num('vmkeep_last_run_timestamp_seconds')).toBeGreaterThan(num('vmkeep_last_success_timestamp_seconds'));

      const check = await runVmkeep(['check', '--output', out, '--domains', dom.name, '--warning', '1d', '--critical', '2d']);
      expect(check.code, check.stdout).toBe(1);
      expect(check.stdout).toMatch(/^VMKEEP WARNING - 1 of 1 domains need attention: .*last run failed at /);
    } finally {
      await virsh(['checkpoint-delete', dom.uuid, 'foreign-cp']);
    }
  });
});

describe('verify results in the textfile and check', () => {
  it('after a good run and a verify: last_verify series, and --verify-warning judged on their age', async () => {
    await writeGuestData(dom, 'vda', { pattern: 0x33, offset: 6 * MiB, length: 1 * MiB });
    expect((await backupCli(['--domains', dom.name, '--output', out], { lockDir })).code).toBe(0);
    const verify = await runVmkeep(['verify', '--output', out, '--domains', dom.name]);
    expect(verify.code, verify.stderr).toBe(0);
    const textDir = path.join(work, 'verify-textfile');
    fs.mkdirSync(textDir);
    const status = await runVmkeep(['status', '--domains', dom.name, '--output', out, '--textfile', textDir, '--metrics-host', 'hv-test']);
    expect(status.code, status.stderr).toBe(0);
    const prom = path.join(textDir, 'vmkeep.prom');
    expect(promtool(prom)).toEqual({ ok: true, out: '' });
    const text = fs.readFileSync(prom, 'utf8');
    expect(text).toContain(`vmkeep_last_verify_ok{host="hv-test",domain="${dom.name}"} 1\n`);
    expect(text).toContain(`vmkeep_last_run_result{host="hv-test",domain="${dom.name}",result="success"} 1\n`);
    const verified = Number(/vmkeep_last_verify_timestamp_seconds\{[^}]*\} (\S+)/.exec(text)![1]);
    expect(Math.abs(verified * 1000 - Date.now())).toBeLessThan(120_000);

    const args = ['check', '--output', out, '--domains', dom.name, '--warning', '20d', '--critical', '30d', '--verify-warning', '8d'];
    const fresh = await runVmkeep(args);
    expect(fresh.code, fresh.stdout).toBe(0);
    const later = await runVmkeep(args, { env: { VMKEEP_NOW: new Date(Date.now() + 9 * 86400_000).toISOString() } });
    expect(later.code, later.stdout).toBe(1);
    expect(later.stdout).toMatch(/last verify 9d ago \(warning 8d\)/);
  });
});
