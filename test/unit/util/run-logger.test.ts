import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { maskSecrets } from '../../../src/util/mask-secrets.js';
import { createRunLogger, type LogLevel } from '../../../src/util/log.js';
import { createFileSink, createSyslogSink, syslogArgv } from '../../../src/util/log-sinks.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkeep-log-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const clock = () => new Date('2026-11-30T01:30:00.000Z');

describe('run logger', () => {
  it('--quiet drops info on stderr but the file keeps every line, each with the run id', async () => {
    const file = path.join(dir, 'a.log');
    fs.writeFileSync(file, 'earlier line\n');
    const err: string[] = [];
    const log = createRunLogger({
      stderr: (t) => err.push(t),
      verbose: false,
      quiet: true,
      json: false,
      runId: 'r-1',
      sinks: [createFileSink(file, { json: false, runId: 'r-1' })],
      clock,
    });
    log.info('vm1: full backup into x');
    log.warn('vm2: backup failed');
    log.debug('not shown without --verbose');
    await log.close();
    expect(err).toEqual(['warning: vm2: backup failed\n']);
    expect(fs.readFileSync(file, 'utf8')).toBe(
      'earlier line\n2026-11-30T01:30:00.000Z vmkeep[r-1] info: vm1: full backup into x\n2026-11-30T01:30:00.000Z vmkeep[r-1] warning: vm2: backup failed\n',
    );
  });

  it('--log-json: one JSON object per line; secrets masked everywhere', async () => {
    const file = path.join(dir, 'b.log');
    const err: string[] = [];
    const log = createRunLogger({
      stderr: (t) => err.push(t),
      verbose: true,
      quiet: false,
      json: true,
      runId: 'r-2',
      sinks: [createFileSink(file, { json: true, runId: 'r-2' })],
      mask: (m) => maskSecrets(m, ['hunter2-token']),
      clock,
    });
    log.info('sent with hunter2-token');
    log.debug('detail');
    await log.close();
    const lines = err.map((l) => JSON.parse(l) as { level: LogLevel; message: string });
    expect(lines).toEqual([
      { time: '2026-11-30T01:30:00.000Z', level: 'info', runId: 'r-2', message: 'sent with ***' },
      { time: '2026-11-30T01:30:00.000Z', level: 'debug', runId: 'r-2', message: 'detail' },
    ]);
    expect(
      fs
        .readFileSync(file, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(lines);
  });

  it('sideOnly writes to the sinks and not to the terminal (lines drawn above progress bars)', async () => {
    const file = path.join(dir, 'c.log');
    const err: string[] = [];
    const log = createRunLogger({
      stderr: (t) => err.push(t),
      verbose: false,
      quiet: false,
      json: false,
      runId: 'r-3',
      sinks: [createFileSink(file, { json: false, runId: 'r-3' })],
      clock,
    });
    log.sideOnly!.info('drawn by the bar');
    await log.close();
    expect(err).toEqual([]);
    expect(fs.readFileSync(file, 'utf8')).toContain('info: drawn by the bar');
  });

  it('an unwritable log file is a usage error naming it', () => {
    expect(() => createFileSink(path.join(dir, 'no-such-folder', 'x.log'), { json: false, runId: 'r' })).toThrow(
      /cannot open --log-file .*x\.log for appending: ENOENT/,
    );
  });
});

describe('syslog sink', () => {
  const options = { socket: '/dev/log', facility: 'local3' as const, tag: 'vmkeep', runId: 'r-4', pid: 42 };

  it('builds logger argv with the message after --', () => {
    expect(syslogArgv(options, 'warning', '-rf / is just text')).toEqual([
      '--socket',
      '/dev/log',
      '--udp',
      '--socket-errors=on',
      '--tag',
      'vmkeep',
      '--priority',
      'local3.warning',
      '--id=42',
      '--',
      '[r-4] -rf / is just text',
    ]);
  });

  it('sends in order and reports a failing socket once', async () => {
    const sent: string[][] = [];
    const errors: string[] = [];
    let n = 0;
    const sink = createSyslogSink(
      options,
      async (argv) => {
        n += 1;
        if (n >= 2) throw new Error('logger exited 1');
        sent.push(argv);
      },
      (m) => errors.push(m),
    );
    sink.write('info', 'one', clock());
    sink.write('info', 'two', clock());
    sink.write('info', 'three', clock());
    await sink.close();
    expect(sent.map((a) => a.at(-1))).toEqual(['[r-4] one']);
    expect(errors).toEqual(['syslog: cannot write to /dev/log: logger exited 1']);
  });
});
