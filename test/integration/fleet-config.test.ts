/**
 * One config for a fleet, against the real libvirtd and virtnbdbackup: tags kept in the domains'
 * own metadata, a config file with defaults, a per-tag policy and a per-domain disk exclusion
 * driving one backup of several domains, --tag/--exclude selection in status, backup, scrub,
 * list, prune, verify and check (a domain with backups that libvirt no longer defines has no
 * tags), `vmkeep prune` taking each domain's retention from the config file, and hooks (a
 * failing pre-domain hook, the environment, a timeout, no shell unless asked).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VMKEEP_BIN, parseJsonOutput, runVmkeep, type CliRun } from '../helpers/cli.js';
import { MiB, backupCli, chainFolders, expectDocument, makeLockDir } from '../helpers/backup-run.js';
import { TEST_DOMAIN_PREFIX, cleanupAll, createTestDomain, removeTestDomain, virsh, writeGuestData, type TestDomain } from '../helpers/libvirt.js';

let lockDir: string;
let scratch: string;
let prefix: string;
let web: TestDomain;
let db: TestDomain;
let dev: TestDomain;
const env = () => ({ VMKEEP_LOCK_DIR: lockDir, VMKEEP_CONFIG: '' });

beforeAll(async () => {
  lockDir = makeLockDir();
  scratch = fs.mkdtempSync('/var/tmp/vmkeep-test-fleet-');
  prefix = `${TEST_DOMAIN_PREFIX}${path.basename(scratch).slice(-6).toLowerCase()}-`;
  [web, db, dev] = await Promise.all([
    createTestDomain({
      name: `${prefix}web-1`,
      disks: [
        { target: 'vda', sizeMiB: 16 },
        { target: 'vdb', sizeMiB: 16 },
      ],
      start: true,
    }),
    createTestDomain({ name: `${prefix}db-1`, disks: [{ target: 'vda', sizeMiB: 16 }], start: true }),
    createTestDomain({ name: `${prefix}dev-1`, disks: [{ target: 'vda', sizeMiB: 16 }] }),
  ]);
  await writeGuestData(web, 'vda', { pattern: 0x11, offset: 0, length: 2 * MiB });
  await writeGuestData(db, 'vda', { pattern: 0x22, offset: 0, length: 2 * MiB });
});

afterAll(async () => {
  await cleanupAll();
  fs.rmSync(lockDir, { recursive: true, force: true });
  fs.rmSync(scratch, { recursive: true, force: true });
});

const vmkeep = (args: readonly string[]) => runVmkeep(args, { env: env() });
const all = () => `${prefix}*`;
function json<T>(run: CliRun, code = 0): T {
  expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(code);
  return parseJsonOutput<T>(run);
}

/** vmkeep with text on stdin (the `--config -` payload). */
function vmkeepWithStdin(args: readonly string[], input: string): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [VMKEEP_BIN, ...args], { env: { ...process.env, ...env() } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin!.end(input);
  });
}

describe('tags in libvirt metadata', () => {
  it('vmkeep tag adds, removes and lists; the tags are in dumpxml and in the persisted definition libvirtd reloads', async () => {
    const add = json<Record<string, { tags: string[] }>>(await vmkeep(['tag', '--domains', `${web.name},${db.name}`, '--add', 'prod,tmp', '--json']));
    expect(add[web.name]!.tags).toEqual(['prod', 'tmp']);
    json(await vmkeep(['tag', '--domains', db.name, '--add', 'db', '--remove', 'tmp', '--json']));
    json(await vmkeep(['tag', '--domains', web.name, '--remove', 'tmp', '--json']));
    json(await vmkeep(['tag', '--domains', dev.name, '--add', 'dev', '--json']));
    const list = json<Record<string, { tags: string[] }>>(await vmkeep(['tag', '--domains', all(), '--list', '--json']));
    expect(list).toEqual({ [web.name]: { tags: ['prod'] }, [db.name]: { tags: ['db', 'prod'] }, [dev.name]: { tags: ['dev'] } });

    // In the live XML of the running domain, and in the inactive (persistent) one.
    for (const args of [
      ['dumpxml', '--domain', db.uuid],
      ['dumpxml', '--domain', db.uuid, '--inactive'],
    ]) {
      const xml = await virsh(args);
      expect(xml).toMatch(/<vmkeep:tags xmlns:vmkeep="https:\/\/vmkeep\.dev\/xmlns\/tags\/1">\s*<vmkeep:tag>db<\/vmkeep:tag>\s*<vmkeep:tag>prod<\/vmkeep:tag>/);
    }
    // libvirtd reloads domains from these files when it restarts (this shared libvirtd is not
    // restarted by tests: other runs use it). A domain restart keeps them too.
    expect(fs.readFileSync(`/etc/libvirt/qemu/${db.name}.xml`, 'utf8')).toContain('<vmkeep:tag>db</vmkeep:tag>');
    await virsh(['destroy', '--domain', db.uuid]);
    await virsh(['start', '--domain', db.uuid]);
    expect(json<Record<string, { tags: string[] }>>(await vmkeep(['tag', '--domains', db.name, '--json']))[db.name]!.tags).toEqual(['db', 'prod']);
    await writeGuestData(db, 'vda', { pattern: 0x22, offset: 0, length: 2 * MiB });

    const bad = await vmkeep(['tag', '--domains', db.name, '--add', 'a<b']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/bad tag "a<b"/);
  });

  it("--tag prod --exclude '*web*' selects exactly the prod domains that are not web, in status and scrub", async () => {
    const status = json<Record<string, { tags: string[] }>>(await vmkeep(['status', '--domains', all(), '--tag', 'prod', '--exclude', '*web*', '--json']));
    expect(Object.keys(status)).toEqual([db.name]);
    expect(status[db.name]!.tags).toEqual(['db', 'prod']);
    const text = await vmkeep(['status', '--domains', all(), '--tag', 'prod']);
    expect(text.stdout).toContain(`${web.name}  (running)`);
    expect(text.stdout).toMatch(/tags: prod\n/);
    const any = json<Record<string, unknown>>(await vmkeep(['status', '--domains', all(), '--tag', 'db,dev', '--tag-any', '--json']));
    expect(Object.keys(any).sort()).toEqual([db.name, dev.name].sort());
    const scrub = json<Record<string, unknown>>(
      await vmkeep(['scrub', '--domains', all(), '--tag', 'prod', '--exclude', '*web*', '--scrubType', 'both', '--dry-run', '--json']),
    );
    expect(Object.keys(scrub)).toEqual([db.name]);
  });
});

describe('a config file drives a fleet backup', () => {
  let configFile: string;
  let out: string;
  beforeAll(() => {
    out = path.join(scratch, 'fleet-out');
    configFile = path.join(scratch, 'config.yaml');
    fs.writeFileSync(
      configFile,
      [
        'defaults:',
        `  output: ${out}`,
        '  groupBy: month',
        '  jobs: 2',
        '  label: nightly',
        'tags:',
        '  prod:',
        '    groupBy: year',
        '    retention: {keepLast: 3}',
        'domains:',
        `  "${prefix}web-*":`,
        '    excludeDisks: [vdb]',
        `  "${prefix}dev-1":`,
        '    label: dev-build',
        '',
      ].join('\n'),
    );
  });

  it('config check --json shows the effective settings per domain', async () => {
    const doc = json<{ source: string; run: { output: string; jobs: number }; domains: Record<string, Record<string, unknown>> }>(
      await vmkeep(['config', 'check', '--config', configFile, '--domains', all(), '--json']),
    );
    expect(doc.source).toBe(configFile);
    expect(doc.run).toMatchObject({ output: out, jobs: 2 });
    expect(doc.domains[web.name]).toMatchObject({
      tags: ['prod'],
      groupBy: 'year',
      excludeDisks: ['vdb'],
      retention: { keepLast: 3 },
      label: 'nightly',
      layers: ['defaults', 'tag prod', `domain ${prefix}web-*`],
    });
    expect(doc.domains[db.name]).toMatchObject({ tags: ['db', 'prod'], groupBy: 'year', excludeDisks: [], layers: ['defaults', 'tag prod'] });
    expect(doc.domains[dev.name]).toMatchObject({ tags: ['dev'], groupBy: 'month', label: 'dev-build', retention: {}, engine: 'auto' });
    // The same as JSON on stdin; the effective engine shows, in the document and in the text.
    const config = JSON.stringify({ tags: { db: { stop: 'require-stopped', engine: 'push' } } });
    const stdin = await vmkeepWithStdin(['config', 'check', '--config', '-', '--domains', db.name, '--json'], config);
    expect(json<{ source: string; domains: Record<string, { stop: string }> }>(stdin)).toMatchObject({
      source: 'stdin',
      domains: { [db.name]: { stop: 'require-stopped', engine: 'push' } },
    });
    const text = await vmkeepWithStdin(['config', 'check', '--config', '-', '--domains', db.name], config);
    expect(text.stdout).toMatch(new RegExp(`^${db.name} .*: engine push, `, 'm'));
  });

  it('an invalid file fails with exit 64, naming the key path, the line and the allowed values', async () => {
    const bad = path.join(scratch, 'bad.yaml');
    fs.writeFileSync(bad, 'defaults:\n  jobs: 2\ntags:\n  prod:\n    groupBy: weekly\n');
    const r = await vmkeep(['backup', '--config', bad, '--domains', all()]);
    expect(r.code).toBe(64);
    expect(r.stderr.trim()).toBe(`vmkeep: config ${bad}:5:14: tags.prod.groupBy: expected one of month, quarter, bi-annual, year`);
    const unknown = path.join(scratch, 'unknown.yaml');
    fs.writeFileSync(unknown, 'defaults:\n  outptu: /x\n');
    const u = await vmkeep(['config', 'check', '--config', unknown]);
    expect(u.code).toBe(64);
    expect(u.stderr).toContain(`config ${unknown}:2:3: defaults.outptu: unknown key "outptu"; allowed here:`);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('one backup of three domains: each gets its own settings (from the manifests)', async () => {
    const doc = expectDocument(await backupCli(['--config', configFile, '--domains', all(), '--json'], { lockDir, extra: { VMKEEP_CONFIG: '' } }));
    expect(doc.output).toBe(out);
    expect(doc.results.map((r) => [r.domain, r.result]).sort()).toEqual(
      [
        [db.name, 'done'],
        [dev.name, 'done'],
        [web.name, 'done'],
      ].sort(),
    );
    const manifest = (d: TestDomain) => {
      const [folder] = chainFolders(out, d.name);
      return JSON.parse(fs.readFileSync(path.join(out, d.name, folder!, 'vmkeep-manifest.json'), 'utf8')) as {
        period: { groupBy: string };
        disks: Array<{ target: string }>;
        points: Array<{ label?: string }>;
      };
    };
    const w = manifest(web);
    expect([w.period.groupBy, w.disks.map((d) => d.target), w.points[0]!.label]).toEqual(['year', ['vda'], 'nightly']);
    expect(fs.readdirSync(path.join(out, web.name, chainFolders(out, web.name)[0]!)).some((f) => f.startsWith('vdb.'))).toBe(false);
    const d = manifest(db);
    expect([d.period.groupBy, d.disks.map((x) => x.target), d.points[0]!.label]).toEqual(['year', ['vda'], 'nightly']);
    const v = manifest(dev);
    expect([v.period.groupBy, v.disks.map((x) => x.target), v.points[0]!.label]).toEqual(['month', ['vda'], 'dev-build']);
    // A flag beats every layer: --groupBy quarter for the dev domain (the dry run shows the plan).
    const dry = expectDocument(await backupCli(['--config', configFile, '--domains', dev.name, '--groupBy', 'quarter', '--dry-run', '--json'], { lockDir }));
    expect(dry.groupBy).toBe('quarter');
    expect(dry.results[0]!.chain).toMatch(/quarterly/);
  });

  it("backup --tag prod --exclude '*web*' backs up exactly the db domain", async () => {
    const doc = expectDocument(await backupCli(['--config', configFile, '--domains', all(), '--tag', 'prod', '--exclude', '*web*', '--json'], { lockDir }));
    expect(doc.results.map((r) => r.domain)).toEqual([db.name]);
    expect(doc.results[0]).toMatchObject({ result: 'done', level: 'inc' });
  });

  it('a tag nobody carries (a typo in a cron line) backs up nothing and fails, as a pattern that matches nothing does', async () => {
    const typo = await backupCli(['--config', configFile, '--domains', all(), '--tag', 'prdo', '--json'], { lockDir });
    const doc = expectDocument(typo, 2);
    expect(doc.results).toEqual([{ domain: '--tag prdo', result: 'failed', reason: 'no domain matches this pattern' }]);
    const status = await vmkeep(['status', '--domains', all(), '--tag', 'prdo', '--json']);
    expect(status.code).toBe(1);
    expect(json<Record<string, { error?: string }>>(status, 1)['--tag prdo']).toMatchObject({ error: 'no domain matches this pattern' });
  });

  it("list, prune --dry-run, verify and check select with --tag prod --exclude '*web*'; a domain only the repository knows is left out by --tag, listed without it", async () => {
    // A prod domain backed up into the same folder, then undefined: its backups stay, its tags go.
    const gone = await createTestDomain({ name: `${prefix}gone-1`, disks: [{ target: 'vda', sizeMiB: 16 }] });
    json(await vmkeep(['tag', '--domains', gone.name, '--add', 'prod', '--json']));
    expectDocument(await backupCli(['--output', out, '--domains', gone.name, '--json'], { lockDir, extra: { VMKEEP_CONFIG: '' } }));
    await removeTestDomain(gone);
    const select = ['--output', out, '--domains', all(), '--tag', 'prod', '--exclude', '*web*', '--json'];
    type Left = Array<{ domain: string; why: string }>;

    const list = json<{ domains: Array<{ domain: string }>; filteredOut: Left }>(await vmkeep(['list', ...select]));
    expect(list.domains.map((d) => d.domain)).toEqual([db.name]);
    expect(list.filteredOut).toEqual(
      expect.arrayContaining([
        { domain: web.name, why: 'excluded by *web*' },
        { domain: dev.name, why: 'tags [dev] do not match all of prod' },
        { domain: gone.name, why: 'not defined in libvirt, so it has no tags' },
      ]),
    );
    expect(list.filteredOut).toHaveLength(3);
    // Without --tag the repository's domain is listed, and libvirt is not asked at all: an
    // unreachable libvirt URI does not matter to list (it does to list --tag).
    const deadUri = ['--connect', 'qemu+tcp://127.0.0.1:9/system'];
    const plain = json<{ domains: Array<{ domain: string }> }>(
      await vmkeep(['list', '--output', out, '--domains', all(), '--exclude', '*web*', ...deadUri, '--json']),
    );
    expect(plain.domains.map((d) => d.domain).sort()).toEqual([db.name, dev.name, gone.name].sort());
    expect((await vmkeep(['list', ...select, ...deadUri])).code).not.toBe(0);

    const prune = json<{ plan: { domains: Array<{ domain: string }> }; filteredOut: Left }>(
      await vmkeep(['prune', ...select, '--keep-last', '1', '--dry-run']),
    );
    expect(prune.plan.domains.map((d) => d.domain)).toEqual([db.name]);
    expect(prune.filteredOut.map((f) => f.domain).sort()).toEqual([web.name, dev.name, gone.name].sort());
    // --exclude alone is by name: the repository's domain is pruned like any other.
    const byName = json<{ plan: { domains: Array<{ domain: string }> } }>(
      await vmkeep(['prune', '--output', out, '--domains', all(), '--exclude', '*web*', '--keep-last', '1', '--dry-run', '--json']),
    );
    expect(byName.plan.domains.map((d) => d.domain).sort()).toEqual([db.name, dev.name, gone.name].sort());

    const verify = json<{ chains: Array<{ domain: string; result: string }>; filteredOut: Left }>(await vmkeep(['verify', ...select]));
    expect([...new Set(verify.chains.map((c) => c.domain))]).toEqual([db.name]);
    expect(verify.chains.every((c) => c.result === 'ok')).toBe(true);
    expect(verify.filteredOut.find((f) => f.domain === gone.name)?.why).toBe('not defined in libvirt, so it has no tags');

    const check = json<{ domains: Array<{ domain: string }>; filteredOut: Left }>(await vmkeep(['check', ...select, '--warning', '1d', '--critical', '2d']));
    expect(check.domains.map((d) => d.domain)).toEqual([db.name]);
    expect(check.filteredOut.map((f) => f.domain).sort()).toEqual([web.name, dev.name].sort());
  });
});

describe("vmkeep prune takes each domain's retention from the config file", () => {
  it('a per-tag and a per-domain retention: with no policy flags each domain gets its own policy; a domain with none is held', async () => {
    const out = path.join(scratch, 'retention-out');
    const config = path.join(scratch, 'retention.yaml');
    fs.writeFileSync(
      config,
      [
        'defaults:',
        `  output: ${out}`,
        'tags:',
        '  prod:',
        '    retention: {keepLast: 2}',
        'domains:',
        `  "${db.name}":`,
        '    retention: {keepLast: 1}',
        '',
      ].join('\n'),
    );
    // Three monthly chains of each domain (VMKEEP_NOW places the backups in time).
    for (const now of ['2026-08-10T03:00:00Z', '2026-09-10T03:00:00Z', '2026-10-10T03:00:00Z']) {
      const doc = expectDocument(
        await backupCli(['--output', out, '--domains', `${web.name},${db.name},${dev.name}`, '--jobs', '2', '--json'], {
          lockDir,
          now,
          extra: { VMKEEP_CONFIG: '' },
        }),
      );
      expect(doc.results.map((r) => r.result)).toEqual(['done', 'done', 'done']);
    }
    const months = ['vmsnap-backup-monthly-2026-08', 'vmsnap-backup-monthly-2026-09', 'vmsnap-backup-monthly-2026-10'];
    for (const d of [web, db, dev]) expect(chainFolders(out, d.name)).toEqual(months);

    const at = { VMKEEP_LOCK_DIR: lockDir, VMKEEP_CONFIG: config, VMKEEP_NOW: '2026-10-20T03:00:00Z' };
    type Plan = {
      plan: {
        policy: string[];
        policies: Array<{ domains: string[]; lines: string[] }>;
        warnings: string[];
        domains: Array<{ domain: string; noPolicy?: boolean; remove: Array<{ id: string }>; keep: Array<{ id: string; reasons: string[] }> }>;
      };
      removed?: string[];
    };
    const dry = await runVmkeep(['prune', '--domains', all(), '--dry-run', '--json'], { env: at });
    const planned = json<Plan>(dry).plan;
    const removeOf = (d: TestDomain) => planned.domains.find((x) => x.domain === d.name)!.remove.map((c) => c.id);
    expect(removeOf(web)).toEqual([months[0]]); // tag prod: keepLast 2
    expect(removeOf(db)).toEqual([months[0], months[1]]); // its own section: keepLast 1 beats the tag's
    expect(removeOf(dev)).toEqual([]); // no layer speaks of retention: held
    expect(planned.domains.find((x) => x.domain === dev.name)!.noPolicy).toBe(true);
    expect(planned.policies.map((g) => [g.domains, g.lines[0]])).toEqual(
      expect.arrayContaining([
        [
          [db.name],
          "vmsnap-rule (monthly): keep the current month's chains; earlier monthly chains go once the current month is 15 days old and has a complete chain",
        ],
        [[web.name], expect.stringMatching(/^vmsnap-rule/)],
        [[dev.name], 'no retention policy applies: nothing is pruned'],
      ]),
    );
    expect(planned.policies.find((g) => g.domains[0] === web.name)!.lines).toContain('keep-last 2: the 2 newest points');
    expect(planned.policies.find((g) => g.domains[0] === db.name)!.lines).toContain('keep-last 1: the newest point');
    expect(planned.warnings).toContain(
      `${dev.name}: no retention policy applies to it, nothing pruned (set retention (or groupBy) for it in the config file ${config}, or give --keep-*/--groupBy)`,
    );
    for (const d of [web, db, dev]) expect(chainFolders(out, d.name)).toEqual(months);
    // The text plan says which domains each policy is for.
    const text = await runVmkeep(['prune', '--domains', all(), '--dry-run'], { env: at });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`  for ${db.name}:\n    vmsnap-rule (monthly)`);
    expect(text.stdout).toContain(`Domain ${dev.name} (no retention policy)`);

    const run = json<Plan>(await runVmkeep(['prune', '--domains', all(), '--json'], { env: at }));
    expect(run.removed!.sort()).toEqual([`${web.name}/${months[0]}`, `${db.name}/${months[0]}`, `${db.name}/${months[1]}`].sort());
    expect(chainFolders(out, web.name)).toEqual(months.slice(1));
    expect(chainFolders(out, db.name)).toEqual(months.slice(2));
    expect(chainFolders(out, dev.name)).toEqual(months);

    // Policy flags are the whole policy for every domain, config or not.
    const flags = json<Plan>(await runVmkeep(['prune', '--domains', all(), '--keep-last', '1', '--dry-run', '--json'], { env: at }));
    expect(flags.plan.domains.find((x) => x.domain === dev.name)!.remove.map((c) => c.id)).toEqual([months[0], months[1]]);
    expect(flags.plan.policies).toHaveLength(1);
    // No flags and no config: a usage error, as before; --simulate never reads the config.
    const none = await runVmkeep(['prune', '--output', out, '--dry-run'], { env: { ...at, VMKEEP_CONFIG: '' } });
    expect(none.code).toBe(64);
    expect(none.stderr).toMatch(/^vmkeep: name a retention policy: .*or set retention in the config file/);
    const sim = await runVmkeep(['prune', '--simulate', '1d:1m'], { env: at });
    expect(sim.code).toBe(64);
    expect(sim.stderr).toMatch(/--simulate takes its policy from the command line only/);
  });
});

describe('disks by target', () => {
  it('--disks picks disks, --exclude-disks leaves them out (flags beat the config)', async () => {
    const only = path.join(scratch, 'disks-only');
    const a = expectDocument(await backupCli(['--domains', web.name, '--output', only, '--disks', 'vdb', '--json'], { lockDir }));
    expect(a.results[0]).toMatchObject({ result: 'done', level: 'full' });
    const chainA = path.join(only, web.name, chainFolders(only, web.name)[0]!);
    expect(JSON.parse(fs.readFileSync(path.join(chainA, 'vmkeep-manifest.json'), 'utf8')).disks.map((d: { target: string }) => d.target)).toEqual(['vdb']);
    expect(fs.readdirSync(chainA).filter((f) => f.endsWith('.data'))).toEqual(['vdb.full.data']);

    const config = path.join(scratch, 'disks.yaml');
    fs.writeFileSync(config, 'defaults:\n  excludeDisks: [vda]\n');
    const without = path.join(scratch, 'disks-without');
    expectDocument(await backupCli(['--config', config, '--domains', web.name, '--output', without, '--exclude-disks', 'vdb', '--json'], { lockDir }));
    const chainB = path.join(without, web.name, chainFolders(without, web.name)[0]!);
    expect(fs.readdirSync(chainB).filter((f) => f.endsWith('.data'))).toEqual(['vda.full.data']);
  });
});

describe('hooks', () => {
  it('a failing pre-domain hook skips only that domain (exit 1); the others are backed up; the environment reaches the hooks', async () => {
    const out = path.join(scratch, 'hooks-out');
    const envDir = path.join(scratch, 'hook-env');
    fs.mkdirSync(envDir);
    const recorder = path.join(scratch, 'record-env.sh');
    fs.writeFileSync(recorder, '#!/bin/sh\nenv | grep "^VMKEEP_" | sort > "$1/$VMKEEP_PHASE-${VMKEEP_DOMAIN:-run}.env"\n', { mode: 0o755 });
    const config = path.join(scratch, 'hooks.yaml');
    fs.writeFileSync(
      config,
      [
        'defaults:',
        '  hooks:',
        `    preRun: [${recorder}, ${envDir}]`,
        `    postRun: [${recorder}, ${envDir}]`,
        `    postDomain: [${recorder}, ${envDir}]`,
        `    onError: [${recorder}, ${envDir}]`,
        'domains:',
        `  "${dev.name}":`,
        '    hooks:',
        '      preDomain: [/bin/false]',
        '',
      ].join('\n'),
    );
    const logFile = path.join(scratch, 'hooks.log');
    const run = await backupCli(['--config', config, '--output', out, '--domains', `${db.name},${dev.name}`, '--log-file', logFile, '--json'], { lockDir });
    const doc = expectDocument(run, 1);
    const byName = Object.fromEntries(doc.results.map((r) => [r.domain, r]));
    expect(byName[dev.name]).toMatchObject({ result: 'failed', reason: 'skipped: pre-domain hook exited 1' });
    expect(byName[db.name]).toMatchObject({ result: 'done', level: 'full' });
    expect(chainFolders(out, dev.name)).toEqual([]);
    expect(run.stderr).toContain(`${dev.name}: pre-domain hook failed: exited 1`);

    const HOOK_VARS = ['VMKEEP_PHASE', 'VMKEEP_DOMAIN', 'VMKEEP_OUTPUT', 'VMKEEP_CHAIN_DIR', 'VMKEEP_LEVEL', 'VMKEEP_RESULT', 'VMKEEP_ERROR', 'VMKEEP_RUN_ID'];
    // The hook sees vmkeep's own environment too (VMKEEP_LOCK_DIR here): keep the hook variables.
    const read = (f: string) =>
      Object.fromEntries(
        fs
          .readFileSync(path.join(envDir, f), 'utf8')
          .trim()
          .split('\n')
          .map((l) => l.split(/=(.*)/s).slice(0, 2))
          .filter(([k]) => HOOK_VARS.includes(k!)),
      );
    const postDb = read(`post-domain-${db.name}.env`);
    const runId = postDb['VMKEEP_RUN_ID'];
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    // The run id of the log lines (and notifications) is the one the hooks get.
    expect(fs.readFileSync(logFile, 'utf8')).toContain(`vmkeep[${runId}]`);
    expect(postDb).toEqual({
      VMKEEP_PHASE: 'post-domain',
      VMKEEP_DOMAIN: db.name,
      VMKEEP_OUTPUT: out,
      VMKEEP_CHAIN_DIR: path.join(out, db.name, chainFolders(out, db.name)[0]!),
      VMKEEP_LEVEL: 'full',
      VMKEEP_RESULT: 'done',
      VMKEEP_ERROR: '',
      VMKEEP_RUN_ID: runId,
    });
    expect(read(`on-error-${dev.name}.env`)).toMatchObject({
      VMKEEP_PHASE: 'on-error',
      VMKEEP_RESULT: 'failed',
      VMKEEP_ERROR: 'skipped: pre-domain hook exited 1',
      VMKEEP_RUN_ID: runId,
    });
    expect(read('pre-run-run.env')).toMatchObject({ VMKEEP_PHASE: 'pre-run', VMKEEP_DOMAIN: '', VMKEEP_RUN_ID: runId });
    expect(read('post-run-run.env')).toMatchObject({ VMKEEP_PHASE: 'post-run', VMKEEP_RESULT: 'partial', VMKEEP_RUN_ID: runId });
    expect(fs.existsSync(path.join(envDir, `pre-domain-${db.name}.env`))).toBe(false);
  });

  it('a failing pre-run hook stops the run before any domain (exit 2); VMKEEP_CONFIG names the file', async () => {
    const out = path.join(scratch, 'prerun-out');
    const config = path.join(scratch, 'prerun.yaml');
    fs.writeFileSync(config, `defaults:\n  output: ${out}\n  hooks:\n    preRun: [/bin/false]\n`);
    const run = await runVmkeep(['backup', '--domains', db.name, '--json'], { env: { VMKEEP_LOCK_DIR: lockDir, VMKEEP_CONFIG: config } });
    const doc = json<{ output: string; results: Array<{ domain: string; result: string; reason: string }> }>(run, 2);
    expect(doc.output).toBe(out);
    expect(doc.results).toEqual([{ domain: db.name, result: 'failed', reason: 'not started: pre-run hook exited 1' }]);
    expect(chainFolders(out, db.name)).toEqual([]);
  });

  it('a hook that hangs is killed at its timeout and reported', async () => {
    const out = path.join(scratch, 'hang-out');
    const started = Date.now();
    const run = await backupCli(['--output', out, '--domains', dev.name, '--hook-pre-domain', 'sleep 60', '--hook-timeout', '1', '--json'], { lockDir });
    const doc = expectDocument(run, 2);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(doc.results[0]).toMatchObject({ domain: dev.name, result: 'failed', reason: 'skipped: pre-domain hook timed out after 1 s and was killed' });
  });

  it('no shell is involved unless shell: true: a canary proves it', async () => {
    const out = path.join(scratch, 'canary-out');
    const canary = path.join(scratch, 'canary');
    const command = `/bin/echo safe; touch ${canary}`;
    // --if-older-than 1y: the domain is skipped quickly, the run hooks still run.
    const plain = await backupCli(['--output', out, '--domains', db.name, '--hook-pre-run', command, '--json'], { lockDir });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toContain(`pre-run hook: safe; touch ${canary}`);
    expect(fs.existsSync(canary)).toBe(false);
    const config = path.join(scratch, 'shell.yaml');
    fs.writeFileSync(config, `defaults:\n  hooks:\n    preRun: {command: ${JSON.stringify(command)}, shell: true}\n`);
    const shell = await backupCli(['--config', config, '--output', out, '--domains', db.name, '--if-older-than', '1y', '--json'], { lockDir });
    expect(shell.code, shell.stderr).toBe(0);
    expect(fs.existsSync(canary)).toBe(true);
  });
});
