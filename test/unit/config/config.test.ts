import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { VmkeepError } from '../../../src/errors.js';
import { CONFIG_SECTIONS, ConfigSchema } from '../../../src/config/schema.js';
import { loadConfig, parseConfigText } from '../../../src/config/load-config.js';
import { createSettingsResolver, sectionMatches } from '../../../src/config/settings.js';

const EXAMPLE = new URL('../../../examples/config.yaml', import.meta.url);

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VmkeepError);
    expect((e as VmkeepError).code).toBe('usage');
    return (e as VmkeepError).message;
  }
  throw new Error('expected a usage error');
}

describe('examples/config.yaml', () => {
  it('loads, and gives each kind of domain its own settings', () => {
    const config = parseConfigText(readFileSync(EXAMPLE, 'utf8'), 'examples/config.yaml');
    expect(config.defaults?.output).toBe('/srv/backup/vmkeep');
    const settingsFor = createSettingsResolver(config, {});
    const web = settingsFor('web-1', ['prod']);
    expect(web.groupBy).toBe('quarter');
    expect(web.excludeDisks).toEqual(['vdb']);
    expect(web.prunePolicy.keepDaily).toBe(14);
    expect(web.prunePolicy.keepWeekly).toBeUndefined(); // a retention block replaces the one below
    expect(web.layers).toEqual(['defaults', 'tag prod', 'domain web-*']);
    const db = settingsFor('pg', ['db']);
    expect(db.groupBy).toBe('month');
    expect(Object.keys(db.hooks).sort()).toEqual(['onError', 'postDomain', 'preDomain']);
    expect(db.ifOlderThan?.text).toBe('20h');
    const appliance = settingsFor('fw', ['appliance']);
    expect([appliance.stop, appliance.stopTimeoutMs]).toEqual(['stop-force', 300_000]);
    expect(settingsFor('mail', []).label).toBe('mail-nightly');
    // defaults set retention: `vmkeep prune` without flags has a policy for every domain.
    expect(settingsFor('mail', []).retentionSet).toBe(true);
  });
});

describe('config errors name the key path, the line and column, and what is allowed', () => {
  it('an unknown key', () => {
    const text = 'defaults:\n  groupBy: month\n  keepDialy: 7\n';
    expect(usageMessage(() => parseConfigText(text, 'c.yaml'))).toMatch(
      /^config c\.yaml:3:3: defaults\.keepDialy: unknown key "keepDialy"; allowed here: .*groupBy.*retention/,
    );
  });

  it('an unknown key deep in a domain section', () => {
    const text = 'domains:\n  "web-*":\n    hooks:\n      preDomian: [true]\n';
    expect(usageMessage(() => parseConfigText(text, 'c.yaml'))).toMatch(
      /^config c\.yaml:4:7: domains\.web-\*\.hooks\.preDomian: unknown key "preDomian"; allowed here: preDomain, postDomain, onError/,
    );
  });

  it('a bad value', () => {
    const text = 'tags:\n  prod:\n    groupBy: fortnight\n';
    expect(usageMessage(() => parseConfigText(text, 'c.yaml'))).toBe('config c.yaml:3:14: tags.prod.groupBy: expected one of month, quarter, bi-annual, year');
  });

  it('report.html and check.minDaysLeft: read as given; days that are not DAYS or D,C are refused with the key', () => {
    const c = parseConfigText('report:\n  html: /var/www/backups/index.html\ncheck:\n  minDaysLeft: "14,7"\n', 'c.yaml');
    expect(c.report).toEqual({ html: '/var/www/backups/index.html' });
    expect(c.check).toEqual({ minDaysLeft: '14,7' });
    expect(parseConfigText('check:\n  minDaysLeft: 10\n', 'c.yaml').check).toEqual({ minDaysLeft: 10 });
    expect(usageMessage(() => parseConfigText('check:\n  minDaysLeft: two weeks\n', 'c.yaml'))).toMatch(
      /^config c\.yaml:2:\d+: check\.minDaysLeft: expected DAYS or WARNING,CRITICAL days/,
    );
    expect(usageMessage(() => parseConfigText('report:\n  htm: /x.html\n', 'c.yaml'))).toMatch(/report/);
  });

  it('check.bootMaxAge: a duration, as --boot-max-age; anything else is refused with the key', () => {
    expect(parseConfigText('check:\n  bootMaxAge: 8d\n', 'c.yaml').check).toEqual({ bootMaxAge: '8d' });
    expect(usageMessage(() => parseConfigText('check:\n  bootMaxAge: weekly\n', 'c.yaml'))).toMatch(
      /^config c\.yaml:2:\d+: check\.bootMaxAge: bad duration "weekly"/,
    );
  });

  it('a bad duration and a bad retention', () => {
    expect(usageMessage(() => parseConfigText('defaults:\n  ifOlderThan: soon\n', 'c.yaml'))).toMatch(
      /^config c\.yaml:2:16: defaults\.ifOlderThan: bad duration "soon"/,
    );
    expect(usageMessage(() => parseConfigText('defaults:\n  retention:\n    keepTiers: [weekly]\n', 'c.yaml'))).toMatch(
      /^config c\.yaml:3:5: defaults\.retention: bad keep tier "weekly"/,
    );
  });

  it('shell: true with an argv list', () => {
    const text = 'defaults:\n  hooks:\n    preRun: {command: [a, b], shell: true}\n';
    expect(usageMessage(() => parseConfigText(text, 'c.yaml'))).toMatch(/^config c\.yaml:3:13: defaults\.hooks\.preRun: /);
  });

  it('YAML syntax and duplicate keys', () => {
    expect(usageMessage(() => parseConfigText('defaults:\n  jobs: [1\n', 'c.yaml'))).toMatch(/^config c\.yaml:\d+:\d+: not valid YAML/);
    expect(usageMessage(() => parseConfigText('defaults:\n  jobs: 1\n  jobs: 2\n', 'c.yaml'))).toMatch(/^config c\.yaml:3:3: not valid YAML: .*unique/i);
  });

  it('JSON (the stdin payload) is read the same way, with positions', () => {
    const ok = parseConfigText('{"defaults": {"groupBy": "year"}, "domains": {"db-*": {"stop": "stop"}}}', 'stdin');
    expect(createSettingsResolver(ok, {})('db-1', []).stop).toBe('stop');
    expect(usageMessage(() => parseConfigText('{\n  "defaults": {"jobs": 0}\n}', 'stdin'))).toBe(
      'config stdin:2:24: defaults.jobs: expected a whole number from 1 to 64',
    );
  });

  it('an empty file is an empty config; a missing default file is no config; a missing named file is an error', async () => {
    expect(parseConfigText('', 'c.yaml')).toEqual({});
    expect(await loadConfig(undefined, {}, async () => '')).toBeUndefined();
    await expect(loadConfig('/nonexistent/vmkeep.yaml', {}, async () => '')).rejects.toThrow(/config file \/nonexistent\/vmkeep\.yaml does not exist/);
    await expect(loadConfig(undefined, { VMKEEP_CONFIG: '/nonexistent/x.yaml' }, async () => '')).rejects.toThrow(/named by VMKEEP_CONFIG/);
    const fromStdin = await loadConfig('-', {}, async () => '{"defaults": {"jobs": 3}}');
    expect(fromStdin?.source).toBe('stdin');
    expect(fromStdin?.config.defaults?.jobs).toBe(3);
  });

  it('sections compose: another section can be added to the root schema', () => {
    const Extended = z.strictObject({ ...CONFIG_SECTIONS, extra: z.strictObject({ on: z.boolean() }).optional() });
    expect(() => parseConfigText('extra: {on: true}\n', 'c.yaml')).toThrow(/unknown key "extra"/);
    expect(parseConfigText('extra: {on: true}\n', 'c.yaml', Extended as unknown as typeof ConfigSchema)).toEqual({ extra: { on: true } });
  });
});

describe('settings precedence: flags > domain > tag > defaults', () => {
  const groupBys = ['month', 'quarter', 'bi-annual', 'year'] as const;
  it('the highest layer that sets a key wins, whatever the others say', () => {
    const layer = fc.option(fc.constantFrom(...groupBys), { nil: undefined });
    fc.assert(
      fc.property(layer, layer, layer, layer, (d, t, n, f) => {
        const config = ConfigSchema.parse({
          defaults: d === undefined ? {} : { groupBy: d },
          tags: { prod: t === undefined ? {} : { groupBy: t } },
          domains: { 'vm-*': n === undefined ? {} : { groupBy: n } },
        });
        const s = createSettingsResolver(config, f === undefined ? {} : { groupBy: f })('vm-1', ['prod']);
        expect(s.groupBy).toBe(f ?? n ?? t ?? d ?? 'month');
        // A domain without the tag and outside the glob gets the defaults (or the flags).
        expect(createSettingsResolver(config, f === undefined ? {} : { groupBy: f })('other', []).groupBy).toBe(f ?? d ?? 'month');
      }),
    );
  });

  it('hooks merge hook by hook', () => {
    const config = ConfigSchema.parse({ defaults: { hooks: { preDomain: 'a', postDomain: 'b' } }, tags: { db: { hooks: { preDomain: 'c' } } } });
    expect(createSettingsResolver(config, {})('x', ['db']).hooks).toEqual({ preDomain: 'c', postDomain: 'b' });
    expect(createSettingsResolver(config, { hooks: { postDomain: 'd' } })('x', ['db']).hooks).toEqual({ preDomain: 'c', postDomain: 'd' });
  });

  it('retentionSet: only a layer that says retention, groupBy or prune: true gives vmkeep prune a policy', () => {
    const config = ConfigSchema.parse({
      defaults: { output: '/srv', jobs: 2, prune: false },
      tags: { prod: { retention: { keepDaily: 7 } }, web: { groupBy: 'quarter' }, nightly: { prune: true } },
      domains: { 'db-*': { retention: { keepLast: 2 } }, 'tmp-*': { label: 'x' } },
    });
    const resolve = createSettingsResolver(config, {});
    expect(resolve('tmp-1', []).retentionSet).toBe(false);
    expect(resolve('other', ['dev']).retentionSet).toBe(false);
    expect(resolve('other', ['prod'])).toMatchObject({ retentionSet: true, prunePolicy: { keepDaily: 7, groupBy: 'month', vmsnapRule: true } });
    expect(resolve('other', ['web'])).toMatchObject({ retentionSet: true, prunePolicy: { groupBy: 'quarter', vmsnapRule: true } });
    expect(resolve('other', ['nightly']).retentionSet).toBe(true);
    // The domain section's retention block replaces the tag's (the layers' usual precedence).
    const db = resolve('db-1', ['prod']);
    expect([db.retentionSet, db.prunePolicy.keepLast, db.prunePolicy.keepDaily]).toEqual([true, 2, undefined]);
    expect(createSettingsResolver(undefined, {})('x', []).retentionSet).toBe(false);
  });

  it('domain sections match names literally and globs as globs', () => {
    expect(sectionMatches('web-1', 'web-1')).toBe(true);
    expect(sectionMatches('web-*', 'web-1')).toBe(true);
    expect(sectionMatches('web-*', 'db-1')).toBe(false);
    expect(sectionMatches('web', 'web-1')).toBe(false);
  });
});

describe('the notify section', () => {
  const text = [
    'notify:',
    '  timeoutSeconds: 5',
    '  targets:',
    '    - type: webhook',
    '      url: https://hooks.example.net/backup/s3cr3t-t0ken-in-the-path',
    '      on: [failure, partial]',
    '    - type: healthchecks',
    '      urlFile: /etc/vmkeep/hc-url',
    '',
  ].join('\n');

  it('is part of the config file, validated with the notification schema', () => {
    const config = parseConfigText(text, 'c.yaml');
    expect(config.notify?.targets.map((t) => t.type)).toEqual(['webhook', 'healthchecks']);
    expect(usageMessage(() => parseConfigText('notify:\n  targets:\n    - type: pager\n', 'c.yaml'))).toMatch(/^config c\.yaml:3:\d+: notify\.targets\.0/);
  });

  it('never shows an inline URL beyond its scheme and host in config check', async () => {
    const { redactNotifySettings } = await import('../../../src/util/mask-secrets.js');
    const shown = JSON.stringify(redactNotifySettings(parseConfigText(text, 'c.yaml').notify!));
    expect(shown).not.toContain('s3cr3t');
    expect(shown).toContain('https://hooks.example.net/***');
    expect(shown).toContain('/etc/vmkeep/hc-url');
  });
});

describe('engine per domain', () => {
  it('no engine forced means auto (undefined); a tag or domain section may name push; --engine wins', () => {
    const config = parseConfigText(
      'defaults:\n  engine: virtnbdbackup\ntags:\n  fast: {engine: push}\ndomains:\n  "db-*": {engine: virtnbdbackup}\n',
      'c.yaml',
    );
    const resolve = createSettingsResolver(config, {});
    expect(resolve('web-1', []).engine).toBe('virtnbdbackup');
    expect(resolve('web-1', ['fast']).engine).toBe('push');
    expect(resolve('db-1', ['fast']).engine).toBe('virtnbdbackup');
    expect(createSettingsResolver(config, { engine: 'push' })('db-1', []).engine).toBe('push');
    expect(createSettingsResolver(undefined, {})('x', []).engine).toBeUndefined();
    expect(usageMessage(() => parseConfigText('defaults:\n  engine: rsync\n', 'c.yaml'))).toBe(
      'config c.yaml:2:11: defaults.engine: expected auto, virtnbdbackup or push',
    );
  });
});

describe('hosts and restic in the config file', () => {
  it('hosts: name → URI stands for repeated --connect NAME=URI; a --connect flag wins; not together with defaults.connect', async () => {
    const { buildGlobalOptions } = await import('../../../src/cli/global-options.js');
    const config = parseConfigText('hosts:\n  hv1: qemu+ssh://root@hv1/system\n  hv2: qemu+ssh://root@hv2/system\n', 'c.yaml');
    const loaded = { source: 'c.yaml', config };
    expect(buildGlobalOptions({}, loaded).hosts).toEqual([
      { name: 'hv1', uri: 'qemu+ssh://root@hv1/system' },
      { name: 'hv2', uri: 'qemu+ssh://root@hv2/system' },
    ]);
    expect(buildGlobalOptions({ connect: ['qemu:///system'] }, loaded).hosts.map((h) => h.uri)).toEqual(['qemu:///system']);
    const both = { source: 'c.yaml', config: parseConfigText('defaults:\n  connect: qemu:///system\nhosts:\n  hv1: qemu+ssh://root@hv1/system\n', 'c.yaml') };
    expect(usageMessage(() => buildGlobalOptions({}, both))).toBe('config c.yaml: give either defaults.connect or hosts, not both');
    expect(usageMessage(() => parseConfigText('hosts:\n  "bad name": qemu:///system\n', 'c.yaml'))).toMatch(/^config c\.yaml:2:\d+: hosts/);
  });

  it('restic: the repository and the password file for replicate, restore --from and verify --from; flags and RESTIC_PASSWORD_FILE win', async () => {
    const { repoFrom } = await import('../../../src/cli/commands/replicate.js');
    const restic = parseConfigText('restic:\n  repository: /srv/restic\n  passwordFile: /etc/vmkeep/restic-pw\n', 'c.yaml').restic;
    expect(repoFrom({}, undefined, 'replicate --to', {}, restic)).toMatchObject({ repository: '/srv/restic', passwordFile: '/etc/vmkeep/restic-pw' });
    expect(
      repoFrom({ 'password-file': '/root/pw' }, 'rest:http://127.0.0.1:8000/', 'replicate --to', { RESTIC_PASSWORD_FILE: '/env/pw' }, restic),
    ).toMatchObject({
      repository: 'rest:http://127.0.0.1:8000/',
      passwordFile: '/root/pw',
    });
    expect(repoFrom({}, undefined, 'replicate --to', { RESTIC_PASSWORD_FILE: '/env/pw' }, restic).passwordFile).toBe('/env/pw');
    expect(usageMessage(() => repoFrom({}, undefined, 'replicate --to', {}, undefined))).toMatch(/^replicate --to needs a restic repository/);
    expect(usageMessage(() => parseConfigText('restic:\n  password: hunter2\n', 'c.yaml'))).toMatch(/restic\.password: unknown key/);
  });
});
