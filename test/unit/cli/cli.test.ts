import { describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli/main.js';
import { prettifySizes, serialiseDocument } from '../../../src/cli/output.js';
import { parseBooleanFlag, rewriteVmsnapArgv } from '../../../src/cli/vmsnap-compat.js';
import { EXIT_CODE, ToolError } from '../../../src/errors.js';
import type { Runner } from '../../../src/runner/runner.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { COMMAND_SPECS } from '../../../src/cli/commands/index.js';
import { readVersion } from '../../../src/cli/version.js';
import { parseCommandFlags } from '../../helpers/parse-flags.js';

/** The global options the option builders below take: one local host, output /b, text. */
const GLOBAL = {
  persona: 'vmkeep' as const,
  connect: 'qemu:///system',
  hosts: [{ name: 'local', uri: 'qemu:///system' }],
  verbose: false,
  domains: undefined as string[] | undefined,
  output: '/b',
  format: 'text' as const,
  machine: false,
  pretty: false,
  env: {},
};

const NAMES = [...COMMAND_SPECS.map((c) => c.name), 'version'];

function io(runner: Runner, env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env, interactive: false, runner };
  return { value, out, err };
}

describe("VMSnap's flag form", () => {
  it('maps --status/--backup/--scrub to commands and keeps every other argument', () => {
    expect(rewriteVmsnapArgv(['--domains=vm1', '--status', '--json', '--machine'], NAMES)).toEqual(['status', '--domains=vm1', '--json', '--machine']);
    expect(rewriteVmsnapArgv(['--domains=vm1', '--output=/b', '--backup', '--groupBy', 'month', '--prune'], NAMES)).toEqual([
      'backup',
      '--domains=vm1',
      '--output=/b',
      '--groupBy',
      'month',
      '--prune',
    ]);
    expect(rewriteVmsnapArgv(['--scrub', '--scrubType=both'], NAMES)).toEqual(['scrub', '--scrubType=both']);
  });

  it('leaves an argv that already names a command alone', () => {
    expect(rewriteVmsnapArgv(['status', '--status'], NAMES)).toEqual(['status', '--status']);
    expect(rewriteVmsnapArgv(['--output', '/b', 'list'], NAMES)).toEqual(['--output', '/b', 'list']);
  });

  it('runs status when no command and none of --backup/--scrub is given, as VMSnap does', () => {
    expect(rewriteVmsnapArgv(['--domains=vm1', '--json', '--machine'], NAMES)).toEqual(['status', '--domains=vm1', '--json', '--machine']);
    expect(rewriteVmsnapArgv(['--domains', 'vm1', 'vm2', '--json'], NAMES)).toEqual(['status', '--domains', 'vm1', 'vm2', '--json']);
    expect(rewriteVmsnapArgv(['-c', 'qemu:///session', '--output', '/b'], NAMES)).toEqual(['status', '-c', 'qemu:///session', '--output', '/b']);
    expect(rewriteVmsnapArgv([], NAMES)).toEqual(['status']);
  });

  it('leaves --help, --version and unknown words to yargs', () => {
    expect(rewriteVmsnapArgv(['--help'], NAMES)).toEqual(['--help']);
    expect(rewriteVmsnapArgv(['--version'], NAMES)).toEqual(['--version']);
    expect(rewriteVmsnapArgv(['bakup', '--output', '/b'], NAMES)).toEqual(['bakup', '--output', '/b']);
  });

  it('reads --prune=false as false (VMSnap pruned on it), and refuses nonsense', () => {
    expect(parseBooleanFlag('false')).toBe(false);
    expect(parseBooleanFlag(false)).toBe(false);
    expect(parseBooleanFlag('true')).toBe(true);
    expect(() => parseBooleanFlag('maybe')).toThrow(/not a yes\/no value/);
  });
});

describe('output', () => {
  it('prints compact JSON with --machine and indented otherwise, sizes as numbers', async () => {
    const doc = { d: { virtualSize: 1073741824, name: 'x' } };
    expect(await serialiseDocument(doc, { format: 'json', machine: true, pretty: false })).toBe('{"d":{"virtualSize":1073741824,"name":"x"}}\n');
    expect(await serialiseDocument(doc, { format: 'json', machine: false, pretty: false })).toContain('\n  "d": {');
  });

  it('turns size fields into human strings with --pretty only', () => {
    expect(prettifySizes({ actualSize: 2367488, count: 3, disks: [{ virtualSize: 1073741824 }] })).toEqual({
      actualSize: '2.26 MiB',
      count: 3,
      disks: [{ virtualSize: '1 GiB' }],
    });
  });

  it('prints YAML', async () => {
    expect(await serialiseDocument({ a: [1, 2] }, { format: 'yaml', machine: false, pretty: false })).toBe('a:\n  - 1\n  - 2\n');
  });
});

describe('main: exit codes and error shapes', () => {
  it('prints the version with --version and with the version command, exit 0', async () => {
    expect(readVersion()).toMatch(/^\d+\.\d+\.\d+/);
    for (const argv of [['--version'], ['version']]) {
      const t = io(new FakeRunner());
      expect(await main(argv, t.value)).toBe(EXIT_CODE.ok);
      expect(t.out.join('')).toBe(`${readVersion()}\n`);
    }
  });

  it('prints the version as a JSON document with version --json', async () => {
    for (const argv of [
      ['version', '--json'],
      ['--json', 'version'],
    ]) {
      const t = io(new FakeRunner());
      expect(await main(argv, t.value)).toBe(EXIT_CODE.ok);
      expect(JSON.parse(t.out.join(''))).toEqual({ version: readVersion() });
    }
  });

  it('runs status for the VMSnap form without a command: vmkeep --domains=vm1 --json --machine', async () => {
    const runner = new FakeRunner().expect({ tool: 'virsh', argv: ['-c', 'qemu:///system', 'list', '--all', '--uuid', '--name'], result: { stdout: '' } });
    const t = io(runner);
    expect(await main(['--domains=vm1', '--json', '--machine'], t.value)).toBe(EXIT_CODE.partial);
    expect(JSON.parse(t.out.join(''))).toEqual({ vm1: { name: 'vm1', error: 'unknown domain', overallStatus: 1 } });
  });

  it('exits 64 with one line on an unknown option', async () => {
    const t = io(new FakeRunner());
    expect(await main(['status', '--bogus'], t.value)).toBe(EXIT_CODE.usage);
    expect(t.err.join('')).toMatch(/^vmkeep: Unknown argument: bogus\n$/);
  });

  it('names the option meant when --domain and --domains are mixed up', async () => {
    const t = io(new FakeRunner());
    expect(await main(['backup', '--domain', 'vm1', '--output', '/tmp'], t.value)).toBe(EXIT_CODE.usage);
    expect(t.err.join('')).toBe(
      'vmkeep: Unknown argument: domain (did you mean --domains? backup, status, scrub, list, prune, verify and check take --domains; restore, protect, boot and mount take --domain)\n',
    );
  });

  it('writes errors as JSON on stderr with --json', async () => {
    const t = io(new FakeRunner());
    expect(await main(['status', '--json', '--yaml'], t.value)).toBe(EXIT_CODE.usage);
    const parsed = JSON.parse(t.err.join('')) as { error: { code: string; exitCode: number; message: string } };
    expect(parsed.error).toMatchObject({ code: 'usage', exitCode: 64 });
    expect(t.out).toEqual([]);
  });

  it('exits 69 naming the package when virsh is missing', async () => {
    const runner: Runner = {
      run: async (tool, argv) => {
        throw new ToolError({ tool, argv, missing: true });
      },
    };
    const t = io(runner);
    expect(await main(['status'], t.value)).toBe(EXIT_CODE['tool-missing']);
    expect(t.err.join('')).toMatch(/virsh .* not found \(install the libvirt-clients package\)/);
  });

  it('refuses a bad VMKEEP_NOW with a usage error', async () => {
    const t = io(new FakeRunner(), { VMKEEP_NOW: 'yesterday' });
    expect(await main(['status'], t.value)).toBe(EXIT_CODE.usage);
    expect(t.err.join('')).toMatch(/VMKEEP_NOW is not an ISO 8601 time/);
  });

  it('refuses an empty --domains with one line and exit 64, before any tool runs', async () => {
    const cases = [
      ['tag', '--domains', '', '--add', 'foo'],
      ['scrub', '--domains', '', '--scrubType', 'both'],
      ['scrub', '--domains', ',', '--scrubType', 'both'],
      ['backup', '--domains', ' , ', '--output', '/tmp'],
      ['status', '--domains=', '--domains', ','],
      ['status', '--domains'],
    ];
    for (const argv of cases) {
      // A FakeRunner with no expectations throws on any call: nothing may be asked of virsh.
      const t = io(new FakeRunner());
      expect(await main(argv, t.value), argv.join(' ')).toBe(EXIT_CODE.usage);
      expect(t.err.join('')).toBe(`vmkeep: --domains is empty: name domains (a,b or 'web-*'), or --domains '*' for every domain\n`);
    }
  });

  it('requires --output for backup', async () => {
    const t = io(new FakeRunner());
    expect(await main(['--backup', '--domains=vm1'], t.value)).toBe(EXIT_CODE.usage);
    expect(t.err.join('')).toMatch(/backup needs --output DIR/);
  });

  it('runs the VMSnap form end to end: status for an unknown domain is JSON with exit 1', async () => {
    const runner = new FakeRunner().expect({ tool: 'virsh', argv: ['-c', 'qemu:///system', 'list', '--all', '--uuid', '--name'], result: { stdout: '' } });
    const t = io(runner);
    expect(await main(['--domains=vm1', '--status', '--json', '--machine'], t.value)).toBe(EXIT_CODE.partial);
    expect(JSON.parse(t.out.join(''))).toEqual({ vm1: { name: 'vm1', error: 'unknown domain', overallStatus: 1 } });
  });
});

describe('ToolError', () => {
  it('says what ran and why it failed in one line, with stderr in the detail', () => {
    const e = new ToolError({
      tool: 'virsh',
      argv: ['-c', 'qemu:///system', 'dumpxml', '--domain', 'a b'],
      exitCode: 1,
      stderr: "error: failed to get domain 'a b'\n",
    });
    expect(e.message).toBe('virsh -c qemu:///system dumpxml --domain "a b" exited 1: error: failed to get domain \'a b\'');
    expect(e.message).not.toContain('\n');
    expect(e.detail).toContain('stderr:');
    expect(e.code).toBe('failure');
  });
});

describe('backup --prune takes the same policy as vmkeep prune', () => {
  it("combines VMSnap's period rule for --groupBy with --keep-* and -k", async () => {
    const { backupCommand } = await import('../../../src/cli/commands/backup.js');
    const global = {
      persona: 'vmkeep' as const,
      connect: 'qemu:///system',
      hosts: [{ name: 'local', uri: 'qemu:///system' }],
      verbose: false,
      domains: ['vm1'],
      output: '/b',
      format: 'text' as const,
      machine: false,
      pretty: false,
      env: {},
    };
    const options = (await backupCommand.buildOptions(
      { groupBy: 'quarter', prune: true, 'keep-daily': 7, 'keep-tier': ['1w:1m'], jobs: 1, 'lock-wait': 0 },
      global,
    )) as {
      settingsFor: (
        d: string,
        t: string[],
      ) => { prune: boolean; prunePolicy: { groupBy: string; vmsnapRule: boolean; keepDaily: number; keepTiers: unknown[] } };
    };
    // Run-wide values are the settings of a domain no config section names.
    const base = options.settingsFor('', []);
    expect(base.prune).toBe(true);
    expect(base.prunePolicy).toMatchObject({ groupBy: 'quarter', vmsnapRule: true, keepDaily: 7 });
    expect(base.prunePolicy.keepTiers).toHaveLength(1);
    await expect(async () => backupCommand.buildOptions({ groupBy: 'month', 'keep-daily': -1, jobs: 1, 'lock-wait': 0 }, global)).rejects.toThrow();
  });
});

describe('backup options: flags over the config file over built-in defaults', () => {
  const global = { ...GLOBAL, domains: ['vm1'] };
  type Built = {
    jobs: number;
    lockWaitMs: number;
    settingsFor: (
      d: string,
      t: readonly string[],
    ) => {
      groupBy: string;
      compress: boolean;
      raw: boolean;
      prune: boolean;
      label: string | undefined;
      stop: string;
      stopTimeoutMs: number;
      excludeDisks: readonly string[];
      hooks: Record<string, unknown>;
      layers: readonly string[];
    };
    runHooks: Record<string, unknown>;
    selection: { tags: readonly string[]; exclude: readonly string[] };
    needTags: boolean;
  };

  it('without a config and without flags: the defaults backup always had', async () => {
    const { backupCommand } = await import('../../../src/cli/commands/backup.js');
    const o = (await backupCommand.buildOptions({}, global)) as Built;
    const base = o.settingsFor('', []);
    expect([base.groupBy, base.compress, base.raw, base.prune, o.jobs, o.lockWaitMs, base.label, o.needTags]).toEqual([
      'month',
      false,
      false,
      false,
      1,
      0,
      undefined,
      false,
    ]);
    expect(o.settingsFor('vm1', []).layers).toEqual([]);
    expect(o.runHooks).toEqual({});
  });

  it('a config gives defaults, per tag and per domain; flags win over all of them', async () => {
    const { backupCommand } = await import('../../../src/cli/commands/backup.js');
    const { parseConfigText } = await import('../../../src/config/load-config.js');
    const config = parseConfigText(
      [
        'defaults:',
        '  jobs: 3',
        '  lockWait: 5',
        '  compress: true',
        '  hooks: {preRun: [a], preDomain: [b]}',
        'tags:',
        '  prod: {groupBy: year, stop: stop}',
        'domains:',
        '  "db-*": {excludeDisks: [vdb]}',
        '',
      ].join('\n'),
      'c.yaml',
    );
    const withConfig = { ...global, config: { source: 'c.yaml', config } };
    const o = (await backupCommand.buildOptions({ tag: ['prod'], exclude: ['web-*'] }, withConfig)) as Built;
    expect([o.jobs, o.lockWaitMs, o.settingsFor('', []).compress, o.needTags]).toEqual([3, 5000, true, true]);
    expect(o.runHooks).toEqual({ preRun: ['a'] });
    expect(o.selection).toMatchObject({ tags: ['prod'], exclude: ['web-*'] });
    expect(o.settingsFor('db-1', ['prod'])).toMatchObject({ groupBy: 'year', stop: 'stop', excludeDisks: ['vdb'], hooks: { preDomain: ['b'] } });
    const flags = (await backupCommand.buildOptions(
      { jobs: 2, groupBy: 'quarter', compress: false, 'stop-force': true, 'hook-pre-domain': 'c d', 'hook-timeout': 9 },
      withConfig,
    )) as Built;
    expect(flags.jobs).toBe(2);
    expect(flags.settingsFor('db-1', ['prod'])).toMatchObject({
      groupBy: 'quarter',
      compress: false,
      stop: 'stop-force',
      hooks: { preDomain: { command: 'c d', timeout: 9 } },
    });
    expect(flags.settingsFor('db-1', ['prod']).layers).toEqual(['defaults', 'tag prod', 'domain db-*', 'flags']);
  });

  it('refuses contradicting stop flags', async () => {
    const { backupCommand } = await import('../../../src/cli/commands/backup.js');
    await expect(async () => backupCommand.buildOptions({ stop: true, 'require-stopped': true }, global)).rejects.toThrow(
      '--stop and --require-stopped cannot be used together',
    );
  });

  it('refuses --stop-timeout without --stop/--stop-force, unless the config file stops some domain', async () => {
    const { backupCommand } = await import('../../../src/cli/commands/backup.js');
    const { parseConfigText } = await import('../../../src/config/load-config.js');
    const alone = '--stop-timeout goes with --stop or --stop-force (or a config file that sets stop): alone it changes nothing';
    await expect(async () => backupCommand.buildOptions({ 'stop-timeout': 30 }, global)).rejects.toThrow(alone);
    await expect(async () => backupCommand.buildOptions({ 'stop-timeout': 30, 'require-stopped': true }, global)).rejects.toThrow(alone);
    const stops = (await backupCommand.buildOptions({ 'stop-timeout': 30, stop: true }, global)) as Built;
    expect(stops.settingsFor('vm1', [])).toMatchObject({ stop: 'stop', stopTimeoutMs: 30_000 });
    expect(((await backupCommand.buildOptions({ 'stop-timeout': 5, 'stop-force': true }, global)) as Built).settingsFor('vm1', [])).toMatchObject({
      stopTimeoutMs: 5000,
    });
    const config = parseConfigText(['tags:', '  appliance: {stop: stop-force}', ''].join('\n'), 'c.yaml');
    const fromConfig = (await backupCommand.buildOptions({ 'stop-timeout': 60 }, { ...global, config: { source: 'c.yaml', config } })) as Built;
    expect(fromConfig.settingsFor('vm1', ['appliance'])).toMatchObject({ stop: 'stop-force', stopTimeoutMs: 60_000 });
    const live = parseConfigText(['defaults:', '  stop: live', ''].join('\n'), 'c.yaml');
    await expect(async () => backupCommand.buildOptions({ 'stop-timeout': 60 }, { ...global, config: { source: 'c.yaml', config: live } })).rejects.toThrow(
      alone,
    );
  });

  it('refuses a --label with a newline or control character (it would split the list table), in the config file too', async () => {
    const { backupCommand } = await import('../../../src/cli/commands/backup.js');
    const { parseConfigText } = await import('../../../src/config/load-config.js');
    for (const label of ['two\nlines', 'tab\there', 'esc\u001b[31m', 'cr\r', 'del\u007f']) {
      await expect(async () => backupCommand.buildOptions({ label }, global), JSON.stringify(label)).rejects.toThrow(
        expect.objectContaining({ code: 'usage', message: `--label ${JSON.stringify(label)} holds a newline or control character: give one line of text` }),
      );
    }
    expect(((await backupCommand.buildOptions({ label: 'before upgrade ü' }, global)) as Built).settingsFor('', []).label).toBe('before upgrade ü');
    expect(() => parseConfigText(['defaults:', '  label: "a\\nb"', ''].join('\n'), 'c.yaml')).toThrow(/label.*one line without control characters/);
  });
});

describe("prune options: policy flags, or each domain's policy from the config file", () => {
  const global = GLOBAL;
  type Built = {
    kind: string;
    prune: {
      policy: unknown;
      needTags?: boolean;
      configSource?: string;
      settingsFor?: (d: string, t: readonly string[]) => { retentionSet?: boolean; prunePolicy: Record<string, unknown> };
      selection: { tags: readonly string[]; exclude: readonly string[] };
    };
  };
  const config = async (text: string) => {
    const { parseConfigText } = await import('../../../src/config/load-config.js');
    return { source: 'c.yaml', config: parseConfigText(text, 'c.yaml') };
  };

  it('no flags: the config gives the policy (tags read only when it has tag sections); flags are the whole policy', async () => {
    const { pruneCommand } = await import('../../../src/cli/commands/prune.js');
    const withConfig = { ...global, config: await config('tags:\n  prod: {retention: {keepLast: 2}}\ndomains:\n  "db-*": {retention: {keepLast: 1}}\n') };
    const o = (await pruneCommand.buildOptions({ tag: ['prod'], exclude: ['web-*'] }, withConfig)) as Built;
    expect(o.kind).toBe('prune');
    expect([o.prune.policy, o.prune.needTags, o.prune.configSource]).toEqual([undefined, true, 'c.yaml']);
    expect(o.prune.selection).toMatchObject({ tags: ['prod'], exclude: ['web-*'] });
    expect(o.prune.settingsFor!('db-1', ['prod'])).toMatchObject({ retentionSet: true, prunePolicy: { keepLast: 1 } });
    expect(o.prune.settingsFor!('dev-1', ['dev']).retentionSet).toBe(false);
    const noTags = (await pruneCommand.buildOptions({}, { ...global, config: await config('defaults: {groupBy: year}\n') })) as Built;
    expect(noTags.prune.needTags).toBe(false);
    const flags = (await pruneCommand.buildOptions({ 'keep-last': 3 }, withConfig)) as Built;
    expect(flags.prune.policy).toMatchObject({ keepLast: 3 });
    expect(flags.prune.settingsFor).toBeUndefined();
  });

  it('no flags and no config, --simulate without flags, and --tag or tag sections with several hosts are usage errors', async () => {
    const { pruneCommand } = await import('../../../src/cli/commands/prune.js');
    await expect(async () => pruneCommand.buildOptions({}, global)).rejects.toThrow(/^name a retention policy: .*or set retention in the config file/);
    const withConfig = { ...global, config: await config('tags:\n  prod: {retention: {keepLast: 2}}\n') };
    await expect(async () => pruneCommand.buildOptions({ simulate: '1d:1m' }, withConfig)).rejects.toThrow(
      /--simulate takes its policy from the command line only/,
    );
    const hosts = [
      { name: 'a', uri: 'qemu:///system' },
      { name: 'b', uri: 'qemu+ssh://root@b/system' },
    ];
    await expect(async () => pruneCommand.buildOptions({ 'keep-last': 1, tag: ['prod'] }, { ...global, hosts })).rejects.toThrow(
      /prune --tag reads tags from one host/,
    );
    await expect(async () => pruneCommand.buildOptions({}, { ...withConfig, hosts })).rejects.toThrow(/tag sections reads tags from one host/);
    // Names alone work with several hosts.
    expect(((await pruneCommand.buildOptions({ 'keep-last': 1, exclude: ['x'] }, { ...global, hosts })) as Built).kind).toBe('prune');
  });

  it('--simulate: --engine picks the model, --domains NAME --output DIR starts from its chains; --engine alone, two domains, no output are usage errors', async () => {
    const { pruneCommand } = await import('../../../src/cli/commands/prune.js');
    type Sim = { kind: string; simulate: { engine?: string; from?: unknown; mergePoints: boolean } };
    const build = (argv: Record<string, unknown>, g: { output?: string | undefined; domains?: string[] | undefined } = {}) =>
      pruneCommand.buildOptions({ 'keep-last': 2, ...argv }, { ...global, ...g });
    const plain = (await build({ simulate: '1d:1m', 'merge-points': true, engine: 'push' }, { output: undefined })) as Sim;
    expect([plain.kind, plain.simulate.engine, plain.simulate.from, plain.simulate.mergePoints]).toEqual(['simulate', 'push', undefined, true]);
    const seeded = (await build({ simulate: '1d:1d' }, { output: '/b', domains: ['web1'] })) as Sim;
    expect([seeded.simulate.engine, seeded.simulate.from]).toEqual([undefined, { output: '/b', domain: 'web1' }]);
    await expect(async () => build({ engine: 'push' }, { output: '/b' })).rejects.toThrow(/^--engine is for --simulate/);
    await expect(parseCommandFlags(pruneCommand, ['--simulate', '1d:1d', '--engine', 'pull'])).rejects.toThrow(
      /^--engine must be one of virtnbdbackup, push, got "pull"$/,
    );
    await expect(async () => build({ simulate: '1d:1d' }, { output: '/b', domains: ['a,b'] })).rejects.toThrow(/one --domains NAME/);
    await expect(async () => build({ simulate: '1d:1d' }, { output: undefined, domains: ['a'] })).rejects.toThrow(/give --output DIR/);
  });
});

describe('check options', () => {
  const global = GLOBAL;
  type Built = { thresholds: { warning: { text: string }; critical: { text: string } } };

  it('refuses a warning age at or past the critical one (WARNING could never show), for verify ages too', async () => {
    const { checkCommand } = await import('../../../src/cli/commands/check.js');
    const build = async (argv: Record<string, string>) =>
      checkCommand.buildOptions(
        await parseCommandFlags(
          checkCommand,
          Object.entries(argv).flatMap(([k, v]) => [`--${k}`, v]),
        ),
        global,
      );
    await expect(async () => build({ warning: '50h', critical: '26h' })).rejects.toThrow(
      expect.objectContaining({ code: 'usage', message: '--warning 50h must be shorter than --critical 26h (swapped?)' }),
    );
    await expect(async () => build({ warning: '2d', critical: '48h' })).rejects.toThrow('--warning 2d must be shorter than --critical 48h (swapped?)');
    await expect(async () => build({ warning: '26h', critical: '50h', 'verify-warning': '2w', 'verify-critical': '8d' })).rejects.toThrow(
      '--verify-warning 2w must be shorter than --verify-critical 8d (swapped?)',
    );
    const ok = (await build({ warning: '26h', critical: '50h', 'verify-warning': '8d' })) as Built;
    expect([ok.thresholds.warning.text, ok.thresholds.critical.text]).toEqual(['26h', '50h']);
  });
});

describe("the boot proof's age limit: --boot-max-age over the config's check.bootMaxAge, the same for check and report", () => {
  const global = GLOBAL;
  const config = async (text: string) => {
    const { parseConfigText } = await import('../../../src/config/load-config.js');
    return { source: 'c.yaml', config: parseConfigText(text, 'c.yaml') };
  };
  type Built = { thresholds: { bootMaxAge?: { text: string } } };

  it('the flag wins, the config fills in, neither leaves it unset (boot proofs not expected)', async () => {
    const { checkCommand } = await import('../../../src/cli/commands/check.js');
    const { reportCommand } = await import('../../../src/cli/commands/report.js');
    const withConfig = { ...global, config: await config('check:\n  bootMaxAge: 8d\n') };
    const limit = async (command: typeof checkCommand, words: string[], g: typeof global) =>
      ((await command.buildOptions(await parseCommandFlags(command, words), g)) as Built).thresholds.bootMaxAge?.text;
    const check = ['--warning', '26h', '--critical', '50h'];
    const report = ['--html', '/tmp/r.html'];
    expect(await limit(checkCommand, check, global)).toBeUndefined();
    expect(await limit(checkCommand, check, withConfig)).toBe('8d');
    expect(await limit(checkCommand, [...check, '--boot-max-age', '2d'], withConfig)).toBe('2d');
    expect(await limit(reportCommand, report, global)).toBeUndefined();
    expect(await limit(reportCommand, report, withConfig)).toBe('8d');
    expect(await limit(reportCommand, [...report, '--boot-max-age', '36h'], withConfig)).toBe('36h');
  });
});
