/**
 * Bad-input suite: hostile or mistaken input through the built CLI, table-driven. Each case
 * asserts the exit code and the first line of the message, and after each case:
 * - nothing changed in the sandbox outside the folder the case may write (no lock file for a run
 *   that selected nothing, no folder created for a bad path);
 * - no stack trace reached the user (no --verbose here);
 * - no shell ran: `sh`, `bash`, `dash` first on PATH are canaries that would leave a file, and
 *   domain names carry `$(touch …)`, backticks and `;touch …` that a shell would run.
 * A positive control proves the PATH canary fires when a shell does run.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, expect as globalExpect, it, type ExpectStatic } from 'vitest';
import { snapshotTree } from '../helpers/backup-run.js';
import { runVmkeep, type CliRun } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, type TestDomain } from '../helpers/libvirt.js';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();
let sandbox: string;
let canaryBin: string;
let canary: string;
/** The file a shell would create from the hostile domain names below. */
const nameCanary = path.join(os.tmpdir(), `vmkeep-test-name-canary-${process.pid}`);
let dom: TestDomain;
let realChain: string;
let env: Record<string, string>;
const mounts: string[] = [];

beforeAll(async () => {
  sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkeep-test-bad-input-'));
  canaryBin = path.join(sandbox, '.canary-bin');
  canary = path.join(os.tmpdir(), `vmkeep-test-shell-canary-${process.pid}`);
  fs.mkdirSync(canaryBin);
  for (const sh of ['sh', 'bash', 'dash']) {
    const real = ['/bin', '/usr/bin'].map((d) => path.join(d, sh)).find((p) => fs.existsSync(p)) ?? '/bin/sh';
    fs.writeFileSync(path.join(canaryBin, sh), `#!/bin/dash\necho "$0 $*" >> ${canary}\nexec ${real} "$@"\n`, { mode: 0o755 });
  }
  env = { PATH: `${canaryBin}:${process.env['PATH']}`, VMKEEP_LOCK_DIR: path.join(sandbox, 'locks') };
  fs.mkdirSync(path.join(sandbox, 'out'));
  fs.writeFileSync(path.join(sandbox, 'a-file'), 'not a folder\n');
  fs.writeFileSync(path.join(sandbox, 'sentinel'), 'must never be read or deleted\n');
  // One real chain (a full of a tiny domain) for the manifest cases.
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 64 }] });
  const made = await runVmkeep(['backup', '--domains', dom.name, '--output', path.join(sandbox, 'real')], { env });
  if (made.code !== 0) throw new Error(`setup backup failed: ${made.stderr}`);
  const domFolder = path.join(sandbox, 'real', dom.name);
  realChain = path.join(domFolder, fs.readdirSync(domFolder)[0]!);
});
afterAll(async () => {
  for (const m of mounts) await runner.run('umount', [m]).catch(() => undefined);
  await cleanupAll();
  fs.rmSync(sandbox, { recursive: true, force: true });
  fs.rmSync(canary, { force: true });
  fs.rmSync(nameCanary, { force: true });
});

interface Case {
  name: string;
  args: () => string[];
  code: number;
  /** The first line of the message (stderr's first line; for backup --json, the first failed result). */
  first: RegExp | (() => RegExp);
  /** Prepare files for the case; returns the folder the case may change (default: none). */
  setup?: () => string | undefined;
}

const N = () => nameCanary;
const out = () => path.join(sandbox, 'out');

/** The message a user reads first. */
function firstLine(run: CliRun): string {
  try {
    const doc = JSON.parse(run.stdout) as { results?: Array<{ domain: string; result: string; reason?: string }> };
    const r = doc.results?.find((x) => x.result === 'failed') ?? doc.results?.[0];
    if (r) return `${r.domain}: ${r.result === 'failed' ? r.reason : r.result}`;
  } catch {
    // not a result document
  }
  const err = run.stderr.split('\n').find((l) => l.trim() !== '');
  if (err) {
    try {
      const j = JSON.parse(err) as { error?: { message?: string } };
      if (j.error?.message) return j.error.message;
    } catch {
      // text
    }
    return err;
  }
  try {
    const doc = JSON.parse(run.stdout) as { results?: Array<{ domain: string; result: string; reason?: string }> };
    const r = doc.results?.find((x) => x.result === 'failed') ?? doc.results?.[0];
    if (r) return `${r.domain}: ${r.result === 'failed' ? r.reason : r.result}`;
  } catch {
    // text
  }
  return run.stdout.split('\n').find((l) => l.trim() !== '') ?? '';
}

// --- domain names ----------------------------------------------------------------------------
const hostileNames: Array<[string, string]> = [
  ['semicolon', 'vmkeep-nx;touch NAMECANARY'],
  ['pipe', 'vmkeep-nx|touch NAMECANARY'],
  ['and-and', 'vmkeep-nx&&touch NAMECANARY'],
  ['command substitution', '$(touch NAMECANARY)'],
  ['backticks', '`touch NAMECANARY`'],
  ['redirect', 'vmkeep-nx>NAMECANARY'],
  ['single quote', "vmkeep-nx'quote"],
  ['double quote', 'vmkeep-nx"dq'],
  ['spaces', 'vmkeep nx with spaces'],
  ['newline', 'vmkeep-nx\ntouch NAMECANARY'],
  ['tab', 'vmkeep-nx\tx'],
  ['backslash', 'vmkeep-nx\\x'],
  ['unicode', 'vmkeep-nx-ünïcødé-日本'],
  ['emoji', 'vmkeep-nx-😀'],
  ['300 characters', `vmkeep-nx-${'x'.repeat(290)}`],
  ['leading dash', '-vmkeep-nx'],
  ['--help as a name', '--help'],
  ['dot dot slash', '../../etc'],
  ['slash', 'vmkeep-nx/sub'],
  ['dot', '.'],
  ['dot dot', '..'],
  ['printf format', '%s%n%x'],
  ['tilde', '~root'],
  ['escape sequence', 'vmkeep-nx\u001bOred'],
];
/** Names with glob characters are patterns: they are told as matching nothing. */
const globNames: Array<[string, string]> = [
  ['terminal colour code (a [ class)', 'vmkeep-nx\u001b[31mred'],
  ['question mark', 'vmkeep-nx-?'],
  ['character class', 'vmkeep-nx-[ab]'],
];
const nameOf = (raw: string) => raw.replaceAll('NAMECANARY', N());
const shown = (name: string) => (/[\u0000-\u001f\u007f-\u009f]/.test(name) ? JSON.stringify(name) : name);
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const cases: Case[] = [];
for (const [label, raw] of hostileNames) {
  cases.push({
    name: `backup --domains=<${label}>`,
    args: () => ['backup', `--domains=${nameOf(raw)}`, '--output', out(), '--json'],
    code: 2,
    first: new RegExp(`^${esc(nameOf(raw))}: unknown domain$`),
  });
  cases.push({
    name: `status --domains=<${label}>`,
    args: () => ['status', `--domains=${nameOf(raw)}`],
    code: 1,
    first: new RegExp(`^${esc(shown(nameOf(raw)))}: error: unknown domain$`),
  });
}
for (const [label, raw] of globNames) {
  cases.push(
    {
      name: `backup --domains=<${label}>`,
      args: () => ['backup', `--domains=${raw}`, '--output', out(), '--json'],
      code: 2,
      first: new RegExp(`^${esc(raw)}: no domain matches this pattern$`),
    },
    {
      name: `status --domains=<${label}>`,
      args: () => ['status', `--domains=${raw}`],
      code: 1,
      first: new RegExp(`^${esc(shown(raw))}: error: no domain matches this pattern$`),
    },
  );
}

// --- options: wrong types, negative, zero, huge, unknown values --------------------------------
const B = () => ['backup', '--domains', 'vmkeep-nx-none', '--output', out()];
const EMPTY_DOMAINS = /^vmkeep: --domains is empty: name domains \(a,b or 'web-\*'\), or --domains '\*' for every domain$/;
const flagCases: Array<[string, () => string[], RegExp]> = [
  ['--jobs abc', () => [...B(), '--jobs', 'abc'], /^vmkeep: --jobs must be a whole number from 1 to 64, got "abc"$/],
  ['--jobs 0', () => [...B(), '--jobs', '0'], /^vmkeep: --jobs must be a whole number from 1 to 64, got "0"$/],
  ['--jobs -3', () => [...B(), '--jobs', '-3'], /^vmkeep: --jobs must be a whole number from 1 to 64, got "-3"$/],
  ['--jobs 1.5', () => [...B(), '--jobs', '1.5'], /^vmkeep: --jobs must be a whole number from 1 to 64, got "1.5"$/],
  ['--jobs 1e9', () => [...B(), '--jobs', '1e9'], /^vmkeep: --jobs must be a whole number from 1 to 64, got "1e9"$/],
  ['--jobs 65', () => [...B(), '--jobs', '65'], /^vmkeep: --jobs must be a whole number from 1 to 64, got "65"$/],
  ['--jobs empty', () => [...B(), '--jobs', ''], /^vmkeep: --jobs must be a whole number from 1 to 64, got ""$/],
  ['--lock-wait abc', () => [...B(), '--lock-wait', 'abc'], /^vmkeep: --lock-wait needs seconds from 0 to 604800, got "abc"$/],
  ['--lock-wait -5', () => [...B(), '--lock-wait', '-5'], /^vmkeep: --lock-wait needs seconds from 0 to 604800, got "-5"$/],
  ['--lock-wait 1e12', () => [...B(), '--lock-wait', '1e12'], /^vmkeep: --lock-wait needs seconds from 0 to 604800, got "1e12"$/],
  ['--lock-wait Infinity', () => [...B(), '--lock-wait', 'Infinity'], /^vmkeep: --lock-wait needs seconds from 0 to 604800, got "Infinity"$/],
  ['--groupBy week', () => [...B(), '--groupBy', 'week'], /^vmkeep: --groupBy must be one of month, quarter, bi-annual, year, got "week"$/],
  ['--groupBy empty', () => [...B(), '--groupBy', ''], /^vmkeep: --groupBy must be one of month, quarter, bi-annual, year, got ""$/],
  ['--if-older-than abc', () => [...B(), '--if-older-than', 'abc'], /^vmkeep: bad --if-older-than "abc": use a number and a unit/],
  // yargs reads "-1d" after a space as the flags -1 and -d, and leaves --if-older-than without a value.
  [
    '--if-older-than -1d',
    () => [...B(), '--if-older-than', '-1d'],
    /^vmkeep: --if-older-than needs a duration, e\.g\. 3d or 1d12h \(no value given, or one starting with -\)$/,
  ],
  ['--if-older-than=-1d', () => [...B(), '--if-older-than=-1d'], /^vmkeep: bad --if-older-than "-1d": use a number and a unit/],
  ['--if-older-than 99999999999y', () => [...B(), '--if-older-than', '99999999999y'], /^vmkeep: bad --if-older-than "99999999999y": longer than 1000 years$/],
  ['--if-older-than 1x', () => [...B(), '--if-older-than', '1x'], /^vmkeep: bad --if-older-than "1x": use a number and a unit/],
  ['--output empty', () => ['backup', '--domains', 'vmkeep-nx-none', '--output', ''], /^vmkeep: --output needs a folder path$/],
  [
    'backup without --output',
    () => ['backup', '--domains', 'vmkeep-nx-none'],
    /^vmkeep: backup needs --output DIR \(or defaults\.output in the config file\)$/,
  ],
  ['unknown option', () => [...B(), '--frobnicate'], /^vmkeep: Unknown argument: frobnicate$/],
  ['unknown command', () => ['frobnicate'], /^vmkeep: Unknown argument: frobnicate$/],
  ['prune --keep-last -1', () => ['prune', '--output', out(), '--keep-last', '-1'], /^vmkeep: bad retention option keepLast: must not be negative$/],
  ['prune --keep-last abc', () => ['prune', '--output', out(), '--keep-last', 'abc'], /^vmkeep: bad retention option keepLast: expected a whole number$/],
  ['prune --keep-last 1.5', () => ['prune', '--output', out(), '--keep-last', '1.5'], /^vmkeep: bad retention option keepLast/],
  ['prune --keep-last 1e20', () => ['prune', '--output', out(), '--keep-last', '1e20'], /^vmkeep: bad retention option keepLast/],
  ['prune --keep-daily -2', () => ['prune', '--output', out(), '--keep-daily', '-2'], /^vmkeep: bad retention option keepDaily: must not be negative$/],
  ['prune --keep-within abc', () => ['prune', '--output', out(), '--keep-within', 'abc'], /^vmkeep: bad keepWithin "abc": use a number and a unit/],
  ['prune -k bad', () => ['prune', '--output', out(), '-k', 'bad'], /^vmkeep: bad keep tier "bad": expected INTERVAL:AGE/],
  ['prune -k 1d', () => ['prune', '--output', out(), '-k', '1d'], /^vmkeep: bad keep tier "1d": expected INTERVAL:AGE/],
  [
    'prune --groupBy week',
    () => ['prune', '--output', out(), '--groupBy', 'week'],
    /^vmkeep: --groupBy must be one of month, quarter, bi-annual, year, got "week"$/,
  ],
  [
    'prune --simulate garbage',
    () => ['prune', '--simulate', 'garbage', '--keep-last', '1'],
    /^vmkeep: --simulate needs INTERVAL:DURATION \(e\.g\. 4h:3m\), got "garbage"$/,
  ],
  ['prune --simulate 0d:1y', () => ['prune', '--simulate', '0d:1y', '--keep-last', '1'], /^vmkeep: bad simulation interval 0: give a positive one, e\.g\. 4h$/],
  ['prune without policy', () => ['prune', '--output', out()], /^vmkeep: name a retention policy: /],
  [
    'restore --shutdown-timeout -1',
    () => ['restore', '--domain', 'x', '--output', out(), '--in-place', '--shutdown-timeout', '-1'],
    /^vmkeep: --shutdown-timeout needs seconds from 0 to 86400, got "-1"$/,
  ],
  [
    'restore --shutdown-timeout abc',
    () => ['restore', '--domain', 'x', '--output', out(), '--in-place', '--shutdown-timeout', 'abc'],
    /^vmkeep: --shutdown-timeout needs seconds from 0 to 86400, got "abc"$/,
  ],
  [
    'restore --shutdown-timeout 1e9',
    () => ['restore', '--domain', 'x', '--output', out(), '--in-place', '--shutdown-timeout', '1e9'],
    /^vmkeep: --shutdown-timeout needs seconds from 0 to 86400, got "1e9"$/,
  ],
  [
    'restore --at-time garbage',
    () => ['restore', '--domain', 'x', '--output', out(), '--to', path.join(sandbox, 'r'), '--at-time', 'yesterday-ish'],
    /^vmkeep: --at-time needs an ISO 8601 time/,
  ],
  [
    'restore --at and --at-time',
    () => ['restore', '--domain', 'x', '--output', out(), '--to', path.join(sandbox, 'r'), '--at', 'latest', '--at-time', '2026-01-01T00:00:00Z'],
    /^vmkeep: --at and --at-time cannot be used together$/,
  ],
  [
    'restore without --to or --in-place',
    () => ['restore', '--domain', 'x', '--output', out()],
    /^vmkeep: restore needs exactly one of --to DIR and --in-place$/,
  ],
  ['restore without --domain', () => ['restore', '--output', out(), '--to', path.join(sandbox, 'r')], /^vmkeep: restore needs --domain/],
  [
    'restore of a domain with no backups',
    () => ['restore', '--domain', 'vmkeep-nx', '--output', out(), '--to', path.join(sandbox, 'r')],
    /^vmkeep: no backups of domain vmkeep-nx in /,
  ],
  [
    'scrub --scrubType bogus',
    () => ['scrub', '--domains', 'vmkeep-nx', '--scrubType', 'bogus'],
    /^vmkeep: --scrubType must be one of checkpoint, bitmap, both, \*, got "bogus"$/,
  ],
  ['scrub without --domains', () => ['scrub', '--scrubType', 'both'], /^vmkeep: scrub needs --domains/],
  ['verify --output missing', () => ['verify', '--output', path.join(sandbox, 'missing')], /^vmkeep: --output \S+ does not exist$/],
  ['list --output missing', () => ['list', '--output', path.join(sandbox, 'missing')], /^vmkeep: --output \S+ does not exist$/],
  ['prune --output missing', () => ['prune', '--output', path.join(sandbox, 'missing'), '--keep-last', '1'], /^vmkeep: --output \S+ does not exist$/],
  // An empty --domains (an unset $VMS in a cron line) is never "every domain".
  ['tag --domains empty', () => ['tag', '--domains', '', '--add', 'foo'], EMPTY_DOMAINS],
  ['scrub --domains empty', () => ['scrub', '--domains', '', '--scrubType', 'both'], EMPTY_DOMAINS],
  ['scrub --domains ,', () => ['scrub', '--domains', ',', '--scrubType', 'both'], EMPTY_DOMAINS],
  ['backup --domains empty', () => ['backup', '--domains', '', '--output', out()], EMPTY_DOMAINS],
  ['backup --domains " , "', () => ['backup', '--domains', ' , ', '--output', out(), '--stop'], EMPTY_DOMAINS],
  ['status --domains=', () => ['status', '--domains='], EMPTY_DOMAINS],
  ['restore --domain empty', () => ['restore', '--domain', '', '--output', out(), '--to', path.join(sandbox, 'r')], /^vmkeep: --domain needs a value$/],
  ['boot --domain empty', () => ['boot', '--domain', '', '--output', out(), '--name', 'vmkeep-test-nx-boot'], /^vmkeep: --domain needs a value$/],
  ['mount --domain empty', () => ['mount', '--domain', '', '--output', out(), path.join(sandbox, 'out')], /^vmkeep: --domain needs a value$/],
  [
    'mount --all-disks --disk',
    () => ['mount', '--domain', 'x', '--output', out(), '--all-disks', '--disk', 'vda', path.join(sandbox, 'out')],
    /^vmkeep: --all-disks mounts every disk and partition: drop --disk, or drop --all-disks to mount one$/,
  ],
  [
    'mount --all-disks --partition',
    () => ['mount', '--domain', 'x', '--output', out(), '--all-disks', '--partition', '1', path.join(sandbox, 'out')],
    /^vmkeep: --all-disks mounts every disk and partition: drop --partition, or drop --all-disks to mount one$/,
  ],
  ['status --output missing', () => ['status', '--domains', 'vmkeep-nx', '--output', path.join(sandbox, 'missing')], /^vmkeep: --output \S+ does not exist$/],
  [
    'status --output a file',
    () => ['status', '--domains', 'vmkeep-nx', '--output', path.join(sandbox, 'a-file')],
    /^vmkeep: --output \S+\/a-file is not a folder$/,
  ],
  [
    'check --warning 50h --critical 26h',
    () => ['check', '--output', out(), '--warning', '50h', '--critical', '26h'],
    /^vmkeep: --warning 50h must be shorter than --critical 26h \(swapped\?\)$/,
  ],
  [
    'check --verify-warning 8d --verify-critical 8d',
    () => ['check', '--output', out(), '--warning', '26h', '--critical', '50h', '--verify-warning', '8d', '--verify-critical', '8d'],
    /^vmkeep: --verify-warning 8d must be shorter than --verify-critical 8d/,
  ],
  ['backup --stop-timeout without --stop', () => [...B(), '--stop-timeout', '30'], /^vmkeep: --stop-timeout goes with --stop or --stop-force/],
  [
    'backup --label with a newline',
    () => [...B(), '--label', 'before\nupgrade'],
    /^vmkeep: --label "before\\nupgrade" holds a newline or control character: give one line of text$/,
  ],
  ['backup --label with an escape', () => [...B(), '--label', 'x\u001b[31m'], /^vmkeep: --label "x\\u001b\[31m" holds a newline or control character/],
  // do-snapshot's -k prunes by itself; vmkeep's backup prunes only with --prune: say so instead of keeping all.
  ['backup -k without --prune', () => [...B(), '-k', '1d:1w'], /^vmkeep: backup applies -k\/--keep-tier only with --prune: add --prune, or run vmkeep prune$/],
  [
    'backup --keep-daily without --prune',
    () => [...B(), '--keep-daily', '7'],
    /^vmkeep: backup applies the --keep-\* options only with --prune: add --prune, or run vmkeep prune$/,
  ],
  // timewarp's -c (checkpoint the current state) is vmkeep's --connect.
  [
    'restore -c (timewarp)',
    () => ['restore', '--domain', 'x', '--output', out(), '--in-place', '-c', 'yes'],
    /^vmkeep: --connect "yes" is not a libvirt URI .*: did you mean --checkpoint-current\? \(-c is --connect here\)$/,
  ],
  // Still the tool's words (the domain reader is being rewritten; see the report).
  [
    '--connect to nowhere',
    () => ['status', '--connect', 'qemu+unix:///system?socket=/nonexistent/sock', '--domains', 'x'],
    /^vmkeep: virsh -c \S+ list --all --uuid --name exited 1: error: Failed to connect socket to '\/nonexistent\/sock'/,
  ],
];
for (const [name, args, first] of flagCases) cases.push({ name, args, code: 64, first });
// Exit codes other than 64 among them: connecting is not a usage error.
cases.find((c) => c.name === '--connect to nowhere')!.code = 2;

// --- output paths -------------------------------------------------------------------------------
interface PathCase extends Case {
  /** Folders (relative to the sandbox) the case may change. */
  may: string[];
  /** Extra checks after the run. */
  after?: (run: CliRun) => void;
}
const backupDom = (output: string) => ['backup', '--domains', dom.name, '--output', output, '--json'];
let linkTarget: string;
const HOSTILE_TO = "to x;$(touch vmkeep-to-canary)`touch vmkeep-to-canary`'q'";
const pathCases: PathCase[] = [
  {
    name: 'output with spaces: backed up there',
    args: () => backupDom(path.join(sandbox, 'out with spaces')),
    code: 0,
    first: /^vmkeep-test-\S+: done$/,
    may: ['out with spaces', 'locks'],
    after: () => expect(fs.readdirSync(path.join(sandbox, 'out with spaces', dom.name))).toHaveLength(1),
  },
  {
    name: 'output through ..: the kernel resolves it, the backup lands in the folder it names',
    args: () => backupDom(path.join(sandbox, 'out', '..', 'out-dots')),
    code: 0,
    first: /^vmkeep-test-\S+: done$/,
    may: ['out-dots', 'locks'],
    after: () => expect(fs.readdirSync(path.join(sandbox, 'out-dots', dom.name))).toHaveLength(1),
  },
  {
    name: 'output is a symlink leading out of the sandbox: followed, written only at its target',
    setup: () => {
      linkTarget = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkeep-test-link-target-'));
      fs.symlinkSync(linkTarget, path.join(sandbox, 'link'));
      return undefined;
    },
    args: () => backupDom(path.join(sandbox, 'link')),
    code: 0,
    first: /^vmkeep-test-\S+: done$/,
    may: ['link', 'locks'],
    after: () => {
      expect(fs.readdirSync(path.join(linkTarget, dom.name))).toHaveLength(1);
      fs.rmSync(linkTarget, { recursive: true, force: true });
      fs.rmSync(path.join(sandbox, 'link'));
    },
  },
  {
    name: 'output is a regular file',
    args: () => backupDom(path.join(sandbox, 'a-file')),
    code: 2,
    first: /^output \S+\/a-file exists and is not a directory$/,
    may: [],
  },
  {
    name: 'output is a character device',
    args: () => backupDom('/dev/null'),
    code: 2,
    first: /^output \/dev\/null exists and is not a directory$/,
    may: [],
  },
  {
    name: 'output is a read-only bind mount',
    setup: () => {
      fs.mkdirSync(path.join(sandbox, 'ro-src'));
      fs.mkdirSync(path.join(sandbox, 'ro'));
      execFileSync('mount', ['--bind', path.join(sandbox, 'ro-src'), path.join(sandbox, 'ro')]);
      mounts.push(path.join(sandbox, 'ro'));
      execFileSync('mount', ['-o', 'remount,bind,ro', path.join(sandbox, 'ro')]);
      return undefined;
    },
    args: () => backupDom(path.join(sandbox, 'ro')),
    code: 2,
    first: /^output folder \S+\/ro is not writable \(a read-only file system\): nothing was backed up$/,
    may: [],
  },
  {
    name: 'restore --to whose parent is missing: refused, nothing created',
    args: () => ['restore', '--domain', dom.name, '--output', path.join(sandbox, 'real'), '--to', path.join(sandbox, 'nosuch', 'deep', 'dir')],
    code: 64,
    first: /^vmkeep: --to \S+\/nosuch\/deep\/dir cannot be created: its parent folder \S+\/nosuch\/deep does not exist/,
    may: [],
  },
  {
    name: 'restore --dry-run --to whose parent is missing: refused like the real run',
    args: () => ['restore', '--domain', dom.name, '--output', path.join(sandbox, 'real'), '--to', path.join(sandbox, 'nosuch', 'dir'), '--dry-run'],
    code: 64,
    first: /^vmkeep: --to \S+\/nosuch\/dir cannot be created: its parent folder \S+\/nosuch does not exist/,
    may: [],
  },
  {
    name: 'restore --to a hostile new folder: restored there, the printed virsh define line round-trips through sh',
    args: () => ['restore', '--domain', dom.name, '--output', path.join(sandbox, 'real'), '--to', path.join(sandbox, HOSTILE_TO)],
    code: 0,
    first: /./,
    may: [HOSTILE_TO, 'real', 'locks'],
    after: (run) => {
      const xmls = fs.readdirSync(path.join(sandbox, HOSTILE_TO)).filter((f) => f.endsWith('.xml'));
      expect(xmls).toHaveLength(1);
      const xml = path.join(sandbox, HOSTILE_TO, xmls[0]!);
      const line = run.stdout.split('\n').find((l) => l.trim().startsWith('domain XML: '));
      const printed = /\((virsh define .*)\)$/.exec(line ?? '')?.[1];
      expect(printed, run.stdout).toBeDefined();
      // What a shell makes of the printed command, word by word (printf instead of virsh).
      const words = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${printed!}`], { encoding: 'utf8' })
        .split('\0')
        .slice(0, -1);
      expect(words).toEqual(['virsh', 'define', xml]);
      expect(fs.existsSync(xml)).toBe(true);
      expect(fs.existsSync(path.join(sandbox, 'vmkeep-to-canary'))).toBe(false);
      expect(fs.existsSync('vmkeep-to-canary')).toBe(false);
    },
  },
  {
    name: 'output whose parent is missing (an unmounted backup disk?)',
    args: () => backupDom(path.join(sandbox, 'not-mounted', 'backups')),
    code: 64,
    first: /^output \S+\/not-mounted\/backups cannot be created: its parent folder \S+\/not-mounted does not exist \(is the backup disk mounted\?\)$/,
    may: [],
  },
];

// --- manifests: damaged, of a future format, naming files outside their chain -----------------
type Mutation = (m: Record<string, unknown>, text: string) => string;
const manifestMutations: Array<[string, Mutation, RegExp]> = [
  ['truncated', (_m, t) => t.slice(0, 100), /is not valid JSON$/],
  ['empty', () => '', /is not valid JSON$/],
  ['not JSON', () => 'garbage\n', /is not valid JSON$/],
  ['a JSON array', () => '[]', /is not a valid vmkeep manifest: /],
  ['a future format version', (m) => JSON.stringify({ ...m, format: 'vmkeep-chain/99' }), /is not a valid vmkeep manifest: format /],
  ['points of the wrong type', (m) => JSON.stringify({ ...m, points: 'many' }), /is not a valid vmkeep manifest: points /],
  ['a negative size', (m) => JSON.stringify(withFile(m, { size: -1 })), /is not a valid vmkeep manifest: points\.0\.files\.0\.size /],
  ['a size too big for JSON (1e400)', (_m, t) => t.replace(/"size": \d+/, '"size": 1e400'), /is not a valid vmkeep manifest: points\.0\.files\.0\.size /],
  ['an unknown state', (m) => JSON.stringify({ ...m, state: 'exploded' }), /is not a valid vmkeep manifest: state /],
  [
    'a file path ../../../sentinel',
    (m) => JSON.stringify(withFile(m, { path: '../../../sentinel' })),
    /is not a valid vmkeep manifest: points\.0\.files\.0\.path must be a path inside the chain folder$/,
  ],
  [
    'an absolute file path',
    (m) => JSON.stringify(withFile(m, { path: '/etc/passwd' })),
    /is not a valid vmkeep manifest: points\.0\.files\.0\.path must be a path inside the chain folder$/,
  ],
  [
    'a checkpoint name ../x',
    (m) => JSON.stringify(withPoint(m, { checkpoint: '../x' })),
    /is not a valid vmkeep manifest: points\.0\.checkpoint is not a checkpoint name$/,
  ],
];
function withFile(m: Record<string, unknown>, patch: Record<string, unknown>) {
  const points = m['points'] as Array<{ files: Array<Record<string, unknown>> }>;
  return { ...m, points: [{ ...points[0], files: [{ ...points[0]!.files[0], ...patch }, ...points[0]!.files.slice(1)] }] };
}
function withPoint(m: Record<string, unknown>, patch: Record<string, unknown>) {
  const points = m['points'] as Array<Record<string, unknown>>;
  return { ...m, points: [{ ...points[0], ...patch }] };
}
const manifestCases: Case[] = [];
manifestMutations.forEach(([label, mutate, message], i) => {
  const folder = () => path.join(sandbox, `m${i}`);
  const setup = () => {
    if (fs.existsSync(folder())) return undefined;
    const chain = path.join(folder(), dom.name, path.basename(realChain));
    fs.cpSync(realChain, chain, { recursive: true });
    const file = path.join(chain, 'vmkeep-manifest.json');
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, mutate(JSON.parse(text) as Record<string, unknown>, text));
    return undefined;
  };
  const first = new RegExp(`^vmkeep: \\S+/vmkeep-manifest\\.json ${message.source.replace(/^\^/, '')}`);
  manifestCases.push(
    { name: `list: manifest ${label}`, setup, args: () => ['list', '--output', folder()], code: 2, first },
    // verify reports per domain on stdout and goes on with the others.
    {
      name: `verify: manifest ${label}`,
      setup,
      args: () => ['verify', '--output', folder()],
      code: 2,
      first: () => new RegExp(`^${esc(dom.name)}: not verified: ${first.source.slice('^vmkeep: '.length)}`),
    },
    {
      name: `restore: manifest ${label}`,
      setup,
      args: () => ['restore', '--domain', dom.name, '--output', folder(), '--to', path.join(sandbox, 'restored')],
      code: 2,
      first,
    },
  );
  if (label.includes('sentinel')) {
    manifestCases.push({
      name: `prune --force: manifest ${label}`,
      setup,
      args: () => ['prune', '--output', folder(), '-k', '0d:1h', '--force'],
      code: 2,
      first,
    });
  }
});

/** Files in the sandbox, except the ones a case may change. */
function sandboxState(may: readonly string[]): string[] {
  return snapshotTree(sandbox).filter((l) => !may.some((m) => l === `${m}/` || l.startsWith(`${m}/`) || l.startsWith(`${m} `)));
}

async function runCase(c: Case, may: readonly string[] = [], expect: ExpectStatic = globalExpect): Promise<CliRun> {
  c.setup?.();
  const before = sandboxState(may);
  const run = await runVmkeep(c.args(), { env, timeoutMs: 120_000 });
  const context = `${c.args().join(' ')}\nexit ${run.code}\nstdout: ${run.stdout.slice(0, 2000)}\nstderr: ${run.stderr.slice(0, 2000)}`;
  expect(run.code, context).toBe(c.code);
  expect(firstLine(run), context).toMatch(typeof c.first === 'function' ? c.first() : c.first);
  // No stack trace without --verbose, and no traceback of a tool.
  expect(`${run.stdout}\n${run.stderr}`, context).not.toMatch(/^\s+at .+:\d+:\d+\)?$|Traceback \(most recent call last\)/m);
  expect(sandboxState(may), context).toEqual(before);
  return run;
}

describe('bad input', () => {
  it('the PATH canary fires when a shell runs (positive control)', () => {
    execFileSync('sh', ['-c', 'true'], { env: { ...process.env, ...env } });
    expect(fs.readFileSync(canary, 'utf8')).toMatch(/sh -c true/);
    fs.rmSync(canary);
  });

  it('has at least 100 cases', () => {
    expect(cases.length + pathCases.length + manifestCases.length).toBeGreaterThanOrEqual(100);
  });
});

// These write nothing at all, so they can run side by side (each still checks the whole sandbox).
describe.concurrent('bad input: names and options', () => {
  for (const c of cases) it(c.name, async ({ expect }) => void (await runCase(c, [], expect)));
});

describe('bad input: paths and manifests', () => {
  for (const c of pathCases) {
    it(c.name, async () => {
      const run = await runCase(c, c.may);
      c.after?.(run);
    });
  }
  // Runs that selected a domain hold the output folder's lock file (flock; the file stays), and
  // prune also the domain's lock file in VMKEEP_LOCK_DIR.
  for (const c of manifestCases) it(c.name, async () => void (await runCase(c, [`${c.args()[2]!.slice(sandbox.length + 1)}/.vmkeep.lock`, 'locks'])));
});

describe('bad input: afterwards', () => {
  it('no shell ever ran, the sentinel outside the chains is untouched, no lock was left where nothing was selected', () => {
    expect(fs.existsSync(canary), fs.existsSync(canary) ? fs.readFileSync(canary, 'utf8') : '').toBe(false);
    expect(fs.existsSync(nameCanary)).toBe(false);
    expect(fs.readFileSync(path.join(sandbox, 'sentinel'), 'utf8')).toBe('must never be read or deleted\n');
    expect(fs.existsSync(path.join(sandbox, 'out', '.vmkeep.lock'))).toBe(false);
  });
});
