/**
 * The shipped schedules and shell completion: `systemd-analyze verify` on contrib/systemd (with
 * ExecStart pointed at this build, since /usr/local/bin/vmkeep is not installed here), and the
 * bash completion script driving the built CLI.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VMKEEP_BIN, runVmkeep } from '../helpers/cli.js';

const UNITS = [
  'vmkeep-backup.service',
  'vmkeep-backup.timer',
  'vmkeep-verify.service',
  'vmkeep-verify.timer',
  'vmkeep-boot-verify.service',
  'vmkeep-boot-verify.timer',
];
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkeep-contrib-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function verify(unitDir: string, units: readonly string[]) {
  // systemd-analyze reports bad values on stderr and still exits 0: both are checked.
  return spawnSync('systemd-analyze', ['verify', '--man=no', ...units.map((u) => `./${u}`)], { cwd: unitDir, encoding: 'utf8' });
}

function copyUnits(to: string): void {
  fs.mkdirSync(to);
  for (const u of UNITS) {
    const text = fs.readFileSync(path.join('contrib/systemd', u), 'utf8');
    fs.writeFileSync(path.join(to, u), text.replaceAll('/usr/local/bin/vmkeep', VMKEEP_BIN));
  }
}

describe('contrib/systemd', () => {
  it('systemd-analyze verify passes on the shipped units', () => {
    const d = path.join(dir, 'units');
    copyUnits(d);
    const r = verify(d, UNITS);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the units say what the issue asks: oneshot, idle I/O, persistent randomized timers, weekly verify', () => {
    const backup = fs.readFileSync('contrib/systemd/vmkeep-backup.service', 'utf8');
    expect(backup).toMatch(/^Type=oneshot$/m);
    expect(backup).toMatch(/^Nice=\d+$/m);
    expect(backup).toMatch(/^IOSchedulingClass=idle$/m);
    const timer = fs.readFileSync('contrib/systemd/vmkeep-backup.timer', 'utf8');
    expect(timer).toMatch(/^OnCalendar=/m);
    expect(timer).toMatch(/^Persistent=true$/m);
    expect(timer).toMatch(/^RandomizedDelaySec=/m);
    const weekly = spawnSync(
      'systemd-analyze',
      ['calendar', /^OnCalendar=(.*)$/m.exec(fs.readFileSync('contrib/systemd/vmkeep-verify.timer', 'utf8'))![1]!, '--iterations=2'],
      { encoding: 'utf8' },
    );
    const next = [...weekly.stdout.matchAll(/(?:Next elapse|Iter\. #2): \w+ (\d{4}-\d\d-\d\d)/g)].map((m) => Date.parse(m[1]!));
    expect(next).toHaveLength(2);
    expect(next[1]! - next[0]!).toBe(7 * 86400_000);
  });

  it('the check can fail: a unit with a bad value is reported', () => {
    const d = path.join(dir, 'broken');
    copyUnits(d);
    const f = path.join(d, 'vmkeep-backup.service');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('IOSchedulingClass=idle', 'IOSchedulingClass=sleepy'));
    expect(verify(d, ['vmkeep-backup.service']).stderr).toMatch(/Failed to parse IO scheduling class, ignoring: sleepy/);
  });
});

describe('vmkeep completion', () => {
  function complete(line: string[]): string[] {
    const script = execFileSync(process.execPath, [VMKEEP_BIN, 'completion', 'bash'], { encoding: 'utf8' });
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'vmkeep'), `#!/bin/sh\nexec "${process.execPath}" "${VMKEEP_BIN}" "$@"\n`, { mode: 0o755 });
    const words = line.map((w) => `'${w}'`).join(' ');
    const out = execFileSync(
      'bash',
      ['-c', `${script}\nCOMP_WORDS=(${words}); COMP_CWORD=${line.length - 1}; _vmkeep_complete; printf '%s\\n' "\${COMPREPLY[@]}"`],
      {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` },
      },
    );
    return out.split('\n').filter(Boolean).sort();
  }

  it('bash: commands, then the options of the chosen command', () => {
    expect(complete(['vmkeep', 'ch'])).toEqual(['check']);
    expect(complete(['vmkeep', 'backup', '--notify-c'])).toEqual(['--notify-config']);
    expect(complete(['vmkeep', 'check', '--verify-'])).toEqual(['--verify-critical', '--verify-warning']);
  });

  it('zsh: a script with compdef', async () => {
    const run = await runVmkeep(['completion', 'zsh']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^#compdef vmkeep\n/);
    expect(run.stdout).toContain('compdef _vmkeep vmkeep');
    expect((await runVmkeep(['completion', 'fish'])).code).toBe(64);
  });
});
