/**
 * The config's `verify.boot` (checks, timeout, maxMemory) per defaults, tag and domain, and the
 * verify --boot flags over it: what a nightly `vmkeep verify --boot` of a fleet applies to each
 * domain.
 */
import { describe, expect, it } from 'vitest';
import { VmkeepError } from '../../../src/errors.js';
import { parseConfigText } from '../../../src/config/load-config.js';
import { createSettingsResolver } from '../../../src/config/settings.js';
import { verifyCommand, type VerifyCliOptions } from '../../../src/cli/commands/verify.js';
import type { GlobalOptions } from '../../../src/cli/global-options.js';
import { parseCommandFlags } from '../../helpers/parse-flags.js';

const FLEET = [
  'defaults:',
  '  verify:',
  '    boot: {timeout: 600}',
  'tags:',
  '  db:',
  '    verify:',
  '      boot:',
  '        checks: [agent, "exec:/usr/bin/pg_isready -q"]',
  '        maxMemory: 1G',
  'domains:',
  '  "acc-*":',
  '    verify:',
  '      boot: {timeout: 900}',
  '',
].join('\n');

const global = {
  persona: 'vmkeep',
  connect: 'qemu:///system',
  hosts: [{ name: 'local', uri: 'qemu:///system' }],
  verbose: false,
  domains: undefined,
  output: '/b',
  format: 'text',
  machine: false,
  pretty: false,
} as unknown as GlobalOptions;

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof VmkeepError && e.code === 'usage') return e.message;
    throw e;
  }
  throw new Error('expected a usage error');
}

/** The usage error a promise rejects with (verify's buildOptions is async: it loads the settings resolver for --boot). */
async function usageRejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof VmkeepError && e.code === 'usage') return e.message;
    throw e;
  }
  throw new Error('expected a usage error');
}

async function bootOptions(args: string[], configText?: string) {
  const withConfig = configText === undefined ? global : { ...global, config: { source: 'c.yaml', config: parseConfigText(configText, 'c.yaml') } };
  const o = (await verifyCommand.buildOptions(await parseCommandFlags(verifyCommand, ['--boot', ...args]), withConfig)) as VerifyCliOptions;
  if (o.kind !== 'boot') throw new Error(`expected boot options, got ${o.kind}`);
  return o.options;
}

describe('verify.boot in the config: defaults < tag < domain, key by key', () => {
  const resolve = createSettingsResolver(parseConfigText(FLEET, 'c.yaml'), {});

  it('without any layer: the saved XML decides the checks, 300 s, 2G', () => {
    expect(createSettingsResolver(undefined, {})('web-1', []).bootVerify).toEqual({ checks: undefined, timeoutMs: 300_000, maxMemoryKiB: 2 * 1024 * 1024 });
  });

  it('a domain with no tag gets the defaults; a tag adds its checks and memory; a domain section its timeout', () => {
    expect(resolve('web-1', []).bootVerify).toEqual({ checks: undefined, timeoutMs: 600_000, maxMemoryKiB: 2 * 1024 * 1024 });
    expect(resolve('prod-db', ['db']).bootVerify).toEqual({
      checks: [{ kind: 'agent' }, { kind: 'exec', argv: ['/usr/bin/pg_isready', '-q'] }],
      timeoutMs: 600_000,
      maxMemoryKiB: 1024 * 1024,
    });
    // The domain section changes the timeout only: the tag's checks and memory stay.
    expect(resolve('acc-db', ['db']).bootVerify).toEqual({
      checks: [{ kind: 'agent' }, { kind: 'exec', argv: ['/usr/bin/pg_isready', '-q'] }],
      timeoutMs: 900_000,
      maxMemoryKiB: 1024 * 1024,
    });
    expect(resolve('acc-db', ['db']).layers).toEqual(['defaults', 'tag db', 'domain acc-*']);
  });

  it('bad values are refused where they are written, with the key path and what is allowed', () => {
    const bad = (yaml: string) => usageMessage(() => parseConfigText(yaml, 'c.yaml'));
    expect(bad('tags:\n  db:\n    verify:\n      boot:\n        checks: [ping]\n')).toMatch(
      /^config c\.yaml:5:\d+: tags\.db\.verify\.boot\.checks\.0: "ping": unknown kind "ping"; use agent, console:REGEX or exec:CMD ARGS/,
    );
    expect(bad('defaults:\n  verify:\n    boot: {checks: ["exec:/bin/sh -c \'x"]}\n')).toMatch(/a quote is not closed/);
    expect(bad('defaults:\n  verify:\n    boot: {checks: []}\n')).toMatch(/defaults\.verify\.boot\.checks: needs at least one check/);
    expect(bad('defaults:\n  verify:\n    boot: {timeout: 0}\n')).toMatch(/defaults\.verify\.boot\.timeout: expected whole seconds from 1 to 86400/);
    expect(bad('defaults:\n  verify:\n    boot: {maxMemory: 16M}\n')).toMatch(/defaults\.verify\.boot\.maxMemory: expected a size of at least 32M/);
    expect(bad('defaults:\n  verify:\n    boot: {timout: 60}\n')).toMatch(/defaults\.verify\.boot\.timout: unknown key "timout"/);
    expect(bad('defaults:\n  verify:\n    deep: true\n')).toMatch(/defaults\.verify\.deep: unknown key "deep"/);
  });
});

describe('verify --boot: its flags win over the config, each one alone', () => {
  it('no flag: every domain gets its own config settings, and tags are read because a tag section sets verify.boot', async () => {
    const o = await bootOptions([], FLEET);
    expect(o.needTags).toBe(true);
    expect(o.bootSettingsFor('acc-db', ['db'])).toMatchObject({ timeoutMs: 900_000, maxMemoryKiB: 1024 * 1024 });
    expect(o.bootSettingsFor('acc-db', ['db']).checks).toHaveLength(2);
  });

  it('--boot-timeout replaces the timeout for every domain and leaves the config checks and memory', async () => {
    const o = await bootOptions(['--boot-timeout', '120'], FLEET);
    expect(o.bootSettingsFor('acc-db', ['db'])).toEqual({
      checks: [{ kind: 'agent' }, { kind: 'exec', argv: ['/usr/bin/pg_isready', '-q'] }],
      timeoutMs: 120_000,
      maxMemoryKiB: 1024 * 1024,
    });
  });

  it('--check replaces the config checks; --max-memory the memory', async () => {
    const o = await bootOptions(['--check', 'console:login:', '--max-memory', '512M'], FLEET);
    expect(o.bootSettingsFor('acc-db', ['db'])).toEqual({ checks: [{ kind: 'console', pattern: 'login:' }], timeoutMs: 900_000, maxMemoryKiB: 512 * 1024 });
  });

  it('without a config: the flags, or the built-in values; no tags are read', async () => {
    const o = await bootOptions([]);
    expect(o.needTags).toBe(false);
    expect(o.bootSettingsFor('x', [])).toEqual({ checks: undefined, timeoutMs: 300_000, maxMemoryKiB: 2 * 1024 * 1024 });
    expect(await usageRejection(Promise.resolve(verifyCommand.buildOptions({ boot: true, check: ['ping'] }, global)))).toMatch(/unknown kind "ping"/);
    await expect(bootOptions(['--boot-timeout', '0'])).rejects.toThrow(/^--boot-timeout needs seconds from 1 to 86400, got "0"$/);
  });
});
