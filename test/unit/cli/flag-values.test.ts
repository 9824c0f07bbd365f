/**
 * Flag values are checked where each flag is declared (cli/flag-values.ts), while yargs reads the
 * line: a bad one is exit 64 and one line naming the flag, what it takes and what it got, before
 * any tool runs (the fake runner expects no call). --help lists every enumeration.
 */
import { describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli/main.js';
import { EXIT_CODE } from '../../../src/errors.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { parseCommandFlags } from '../../helpers/parse-flags.js';
import { backupCommand } from '../../../src/cli/commands/backup.js';
import { verifyCommand } from '../../../src/cli/commands/verify.js';
import { restoreCommand } from '../../../src/cli/commands/restore.js';
import { reportCommand } from '../../../src/cli/commands/report.js';

async function usageLine(args: string[]): Promise<string> {
  const err: string[] = [];
  const runner = new FakeRunner();
  const io: CliIo = { stdout: () => undefined, stderr: (t) => err.push(t), env: {}, interactive: false, runner };
  expect(await main(args, io), args.join(' ')).toBe(EXIT_CODE.usage);
  expect(runner.unmet()).toEqual([]);
  const text = err.join('');
  expect(text.split('\n'), args.join(' ')).toHaveLength(2);
  return text.trimEnd();
}

const B = ['backup', '--domains', 'vm1', '--output', '/nonexistent/b'];

describe('flag values: one line, exit 64, nothing run', () => {
  it.each([
    [[...B, '--engine', 'pull'], 'vmkeep: --engine must be one of auto, virtnbdbackup, push, got "pull"'],
    [[...B, '--jobs', '2x'], 'vmkeep: --jobs must be a whole number from 1 to 64, got "2x"'],
    [[...B, '--groupBy', 'week'], 'vmkeep: --groupBy must be one of month, quarter, bi-annual, year, got "week"'],
    [[...B, '--lock-wait', 'Infinity'], 'vmkeep: --lock-wait needs seconds from 0 to 604800, got "Infinity"'],
    [[...B, '--stop', '--stop-timeout', '-1'], 'vmkeep: --stop-timeout needs seconds from 0 to 86400, got "-1"'],
    [[...B, '--hook-timeout', '0'], 'vmkeep: --hook-timeout needs seconds above 0, at most 86400, got "0"'],
    [[...B, '--if-older-than', '-1d'], 'vmkeep: --if-older-than needs a duration, e.g. 3d or 1d12h (no value given, or one starting with -)'],
    [[...B, '--if-older-than', 'soon'], 'vmkeep: bad --if-older-than "soon": use a number and a unit h, d, w, m (month) or y, e.g. 3d or 1d12h'],
    [['verify', '--boot', '--output', '/b', '--jobs', '0'], 'vmkeep: --jobs must be a whole number from 1 to 64, got "0"'],
    [['verify', '--boot', '--output', '/b', '--boot-timeout', '1.5'], 'vmkeep: --boot-timeout needs seconds from 1 to 86400, got "1.5"'],
    [['verify', '--boot', '--output', '/b', '--max-memory', '16M'], 'vmkeep: --max-memory needs a size of at least 32M, like 2G or 1536M; got "16M"'],
    [['verify', '--boot', '--output', '/b', '--domain-type', 'xen'], 'vmkeep: --domain-type must be one of kvm, qemu, got "xen"'],
    [['mount', '--domain', 'vm1', '--output', '/b', '--partition', '129', '/mnt'], 'vmkeep: --partition must be a whole number from 1 to 128, got "129"'],
    [
      ['restore', '--domain', 'vm1', '--output', '/b', '--in-place', '--shutdown-timeout', ''],
      'vmkeep: --shutdown-timeout needs seconds from 0 to 86400, got ""',
    ],
    [['scrub', '--domains', 'vm1', '--scrubType', 'all'], 'vmkeep: --scrubType must be one of checkpoint, bitmap, both, *, got "all"'],
    [['replicate', '--output', '/b', '--to', '/r', '--chains', 'some'], 'vmkeep: --chains must be one of all, complete, got "some"'],
    [['prune', '--simulate', '1d:1m', '--keep-last', '1', '--engine', 'auto'], 'vmkeep: --engine must be one of virtnbdbackup, push, got "auto"'],
    [
      ['check', '--output', '/b', '--warning', '1d', '--critical', 'later'],
      'vmkeep: bad --critical "later": use a number and a unit h, d, w, m (month) or y, e.g. 3d or 1d12h',
    ],
  ])('%j', async (args, line) => {
    expect(await usageLine(args)).toBe(line);
  });

  it('--help lists the choices of every enumerated flag', async () => {
    const out: string[] = [];
    const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => out.push(t), env: {}, interactive: false, runner: new FakeRunner() };
    await main(['backup', '--help'], io);
    const help = out.join('');
    expect(help).toContain('[choices: "auto", "virtnbdbackup", "push"]');
    expect(help).toContain('[choices: "month", "quarter", "bi-annual", "year"]');
  });
});

describe('flag values: what buildOptions gets', () => {
  it('numbers as numbers, seconds as milliseconds in the options, VMSnap spellings as the word they stand for', async () => {
    const argv = await parseCommandFlags(backupCommand, ['--jobs', ' 3 ', '--lock-wait', '1.5', '--groupBy', 'bi-annually', '--engine', 'push']);
    expect([argv['jobs'], argv['lock-wait'], argv['groupBy'], argv['engine']]).toEqual([3, 1.5, 'bi-annual', 'push']);
    const boot = await parseCommandFlags(verifyCommand, ['--boot', '--max-memory', '1G', '--boot-timeout', '60', '--domain-type', 'qemu']);
    expect([boot['max-memory'], boot['boot-timeout'], boot['domain-type']]).toEqual([1024 * 1024, 60, 'qemu']);
  });

  it('defaults go through the same check: restore --shutdown-timeout 120 s, report --warning 26h', async () => {
    expect((await parseCommandFlags(restoreCommand, ['--in-place']))['shutdown-timeout']).toBe(120);
    expect((await parseCommandFlags(reportCommand, []))['warning']).toMatchObject({ text: '26h' });
  });
});
