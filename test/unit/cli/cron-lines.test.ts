/** contrib/cron/vmkeep: every entry is a well-formed cron.d line whose vmkeep arguments the CLI accepts. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { EXIT_CODE } from '../../../src/errors.js';
import { FakeRunner } from '../../helpers/fake-runner.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkeep-cron-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('contrib/cron/vmkeep', () => {
  const entries = fs
    .readFileSync('contrib/cron/vmkeep', 'utf8')
    .split('\n')
    .filter((l) => /^\d/.test(l));

  it('has the nightly backup, the weekly verify and the nightly boot proof, as root', () => {
    expect(entries).toHaveLength(3);
    expect(entries[2]).toContain('vmkeep verify --boot ');
    for (const e of entries) expect(e).toMatch(/^(\S+\s+){5}root\s+vmkeep (backup|verify) /);
  });

  it.each(entries.map((e, i) => [i, e]))('entry %i parses and starts running (paths moved to a temp folder)', async (_i, entry) => {
    const m = /^(?:\S+\s+){5}root\s+vmkeep (.*?)(?: >\/dev\/null)?$/.exec(entry)!;
    // Split the command as cron's /bin/sh does; then point the paths into a scratch folder.
    const argv = execFileSync('sh', ['-c', `for a in ${m[1]}; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' })
      .split('\0')
      .filter(Boolean)
      .map((a) => (a === '/backups' ? path.join(dir, 'backups') : a === '/var/log/vmkeep.log' ? path.join(dir, 'vmkeep.log') : a));
    fs.mkdirSync(path.join(dir, 'backups'), { recursive: true });
    const err: string[] = [];
    // A runner that expects nothing: the first tool call ends the run, after parsing succeeded.
    const code = await main(argv, {
      stdout: () => undefined,
      stderr: (t) => err.push(t),
      env: { VMKEEP_LOCK_DIR: dir },
      interactive: false,
      runner: new FakeRunner(),
    });
    expect(code, err.join('')).not.toBe(EXIT_CODE.usage);
    if (argv[0] === 'backup') expect(err.join('')).toContain('FakeRunner: unexpected call');
    expect(fs.existsSync(path.join(dir, 'vmkeep.log'))).toBe(true);
  });
});

describe('the shipped nightly backup lines', () => {
  // --groupBy with no config file makes a run VMSnap-compatible, and engine auto then writes every
  // new chain with virtnbdbackup, while status tells the admin "next backup: push".
  const lines = [
    fs
      .readFileSync('contrib/cron/vmkeep', 'utf8')
      .split('\n')
      .find((l) => /^\d.*vmkeep backup /.test(l))!,
    fs
      .readFileSync('contrib/systemd/vmkeep-backup.service', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('ExecStart='))!,
  ];
  it.each(lines)("is vmkeep's own command line, not a VMSnap line: no --groupBy, so auto may pick push (%s)", (line) => {
    expect(line).toMatch(/vmkeep backup /);
    expect(line).not.toMatch(/--groupBy|--group-by/);
  });
});
