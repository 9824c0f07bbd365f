/**
 * The spellings people bring from VMSnap, do-snapshot, timewarp and s3snapshot: each either does
 * what the old tool meant or stops with one line that says what to type instead.
 */
import { describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli/main.js';
import { dropBackupOnlyForStatus, rewriteVmsnapArgv } from '../../../src/cli/vmsnap-compat.js';
import { buildGlobalOptions } from '../../../src/cli/global-options.js';
import { EXIT_CODE } from '../../../src/errors.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { COMMAND_SPECS } from '../../../src/cli/commands/index.js';
import { parseHostList } from '../../../src/app/hosts.js';

const NAMES = [...COMMAND_SPECS.map((c) => c.name), 'version'];

function io(persona?: 'vmkeep' | 'vmsnap') {
  const out: string[] = [];
  const err: string[] = [];
  // No tool may run for any case here: the fake runner throws on the first call.
  const value: CliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env: {},
    interactive: false,
    runner: new FakeRunner(),
    ...(persona ? { persona } : {}),
  };
  return { value, out, err };
}

const backupGlobal = (persona: 'vmkeep' | 'vmsnap' = 'vmkeep') => ({ ...buildGlobalOptions({ output: '/b', domains: ['vm1'] }, undefined, persona) });

async function buildBackup(argv: Record<string, unknown>, persona: 'vmkeep' | 'vmsnap' = 'vmkeep') {
  const { backupCommand } = await import('../../../src/cli/commands/backup.js');
  return (await backupCommand.buildOptions({ jobs: 1, ...argv }, backupGlobal(persona))) as {
    settingsFor: (d: string, t: string[]) => { stop: string; engine: string };
  };
}

describe("VMSnap's status line carries backup options (its README: try with --status, then swap in --backup)", () => {
  it('drops --groupBy, --prune and --raw with their values for status, and says which', () => {
    const argv = rewriteVmsnapArgv(['--domains=vm1', '--output=/b', '--status', '--groupBy', 'quarter', '--prune=true', '--raw'], NAMES);
    expect(dropBackupOnlyForStatus(argv, NAMES)).toEqual({ args: ['status', '--domains=vm1', '--output=/b'], ignored: ['--groupBy', '--prune', '--raw'] });
    // No command at all is status too, with the option's value as a separate word.
    const bare = rewriteVmsnapArgv(['--groupBy', 'month', '--prune', 'true', '--domains=vm1'], NAMES);
    expect(dropBackupOnlyForStatus(bare, NAMES)).toEqual({ args: ['status', '--domains=vm1'], ignored: ['--groupBy', '--prune'] });
  });

  it('leaves the same options alone for backup', () => {
    const argv = rewriteVmsnapArgv(['--domains=vm1', '--output=/b', '--backup', '--groupBy', 'quarter', '--prune=true', '--raw'], NAMES);
    expect(dropBackupOnlyForStatus(argv, NAMES).args).toEqual(['backup', '--domains=vm1', '--output=/b', '--groupBy', 'quarter', '--prune=true', '--raw']);
  });

  it('is no longer a usage error, and --verbose names what status ignored', async () => {
    const t = io();
    // --json with a malformed --output check happens before any tool: a missing folder is exit 64,
    // so use --help-free parsing through main with a bad VMKEEP_NOW to stop right after parsing.
    const code = await main(['--domains=vm1', '--status', '--groupBy=month', '--prune=true', '--raw', '--verbose', '--connect', 'nouri'], t.value);
    // The line parsed (the options were accepted); what stopped it is the bad --connect, not them.
    expect(code).toBe(EXIT_CODE.usage);
    expect(t.err.join('')).toContain('status ignores --groupBy, --prune, --raw');
    expect(t.err.join('')).not.toMatch(/Unknown argument/);
  });
});

describe('output flags as VMSnap has them', () => {
  it('--yml is --yaml', () => {
    expect(buildGlobalOptions({ yaml: true, yml: true }).format).toBe('yaml');
  });

  it('--machine alone keeps the text (VMSnap prints its status text), with --json it is one line', () => {
    expect(buildGlobalOptions({ machine: true })).toMatchObject({ format: 'text', machine: true });
    expect(buildGlobalOptions({ machine: true, json: true })).toMatchObject({ format: 'json', machine: true });
  });

  it('yargs takes --yml and --dryrun as spellings of --yaml and --dry-run', async () => {
    for (const argv of [
      ['status', '--yml', '--connect', 'nouri'],
      ['scrub', '--dryrun', '--connect', 'nouri'],
    ]) {
      const t = io();
      expect(await main(argv, t.value), argv.join(' ')).toBe(EXIT_CODE.usage);
      expect(t.err.join(''), argv.join(' ')).not.toMatch(/Unknown argument/);
    }
  });
});

describe("do-snapshot's spellings", () => {
  it('-k/--keep without --prune is refused with the hint, since backup would prune nothing', async () => {
    for (const argv of [{ 'keep-tier': ['1d:1w'] }, { keep: ['1d:1w'], 'keep-tier': ['1d:1w'] }, { 'keep-daily': 7 }]) {
      await expect(buildBackup(argv)).rejects.toThrow(
        expect.objectContaining({ code: 'usage', message: expect.stringContaining('add --prune, or run vmkeep prune') }),
      );
    }
    await expect(buildBackup({ 'keep-tier': ['1d:1w'], prune: true })).resolves.toBeDefined();
  });

  it('--dryrun reaches backup as --dry-run', async () => {
    const t = io();
    const code = await main(['backup', '--dryrun', '--domains', 'vm1', '--output', '/nonexistent-parent/x', '--keep', '1d:1w'], t.value);
    expect(code).toBe(EXIT_CODE.usage);
    // Parsed as far as the policy check: --keep is known, and the missing --prune is what stops it.
    expect(t.err.join('')).toContain('add --prune, or run vmkeep prune');
  });
});

describe('--stop --stop-force', () => {
  it('is accepted: the force implies the stop', async () => {
    const o = await buildBackup({ stop: true, 'stop-force': true });
    expect(o.settingsFor('vm1', []).stop).toBe('stop-force');
    await expect(buildBackup({ stop: true, 'require-stopped': true })).rejects.toThrow(/cannot be used together/);
  });
});

describe("timewarp's -c", () => {
  it('asks whether --checkpoint-current was meant when the word after -c is not a URI', () => {
    expect(() => parseHostList(['restore'])).toThrow(/did you mean --checkpoint-current\?/);
    expect(() => parseHostList([''])).toThrow(/did you mean --checkpoint-current\?/);
    expect(() => parseHostList(['qemu:///system'])).not.toThrow();
  });
});

describe('the vmsnap command', () => {
  it('backs up with virtnbdbackup, as VMSnap did, unless --engine says otherwise', async () => {
    expect((await buildBackup({}, 'vmsnap')).settingsFor('', []).engine).toBe('virtnbdbackup');
    expect((await buildBackup({ engine: 'push' }, 'vmsnap')).settingsFor('', []).engine).toBe('push');
  });

  it('names itself vmsnap in its help', async () => {
    const t = io('vmsnap');
    expect(await main(['--help'], t.value)).toBe(EXIT_CODE.ok);
    expect(t.out.join('')).toMatch(/^vmsnap <command>/);
  });
});
