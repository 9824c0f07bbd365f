/**
 * Every command line of VMSnap's README, as written there (vm1 and /tmp replaced by a test domain
 * and a temp folder), run unchanged under both command names against real domains: `vmsnap` (the
 * name a VMSnap cron line calls) and `vmkeep`. What each line printed or wrote is checked, not only
 * its exit code. Beside the README's example lines: each value of its switch table (every groupBy
 * period, every scrubType, --verbose with status), and the bare `--scrub` of its 2024 versions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseJsonOutput, runVmkeep, VMKEEP_BIN, VMSNAP_BIN, type CliRun } from '../helpers/cli.js';
import { useLockDirAndCleanup } from '../helpers/backup-run.js';
import { createTestDomain, liveBitmaps, virsh, writeGuestData, type TestDomain } from '../helpers/libvirt.js';

const lockDir = useLockDirAndCleanup();
const CHECKOUT = fileURLToPath(new URL('../..', import.meta.url));

function ok(run: CliRun, line: string): CliRun {
  if (run.code !== 0) throw new Error(`${line}: exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run;
}

async function checkpoints(dom: TestDomain): Promise<string[]> {
  return (await virsh(['checkpoint-list', '--domain', dom.uuid, '--name']))
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `npm run vmsnap -- ARGS` from the checkout: VMSnap's README form for a local checkout. */
function npmRunVmsnap(args: readonly string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      'npm',
      ['run', '-s', 'vmsnap', '--', ...args],
      { cwd: CHECKOUT, env: { ...process.env, VMKEEP_LOCK_DIR: lockDir }, timeout: 120_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

describe.each([
  ['vmsnap', VMSNAP_BIN],
  ['vmkeep', VMKEEP_BIN],
])("VMSnap's README lines under %s", (name, bin) => {
  // One pair of domains for the lines below, which run in order: each step builds on the last.
  let vm1: TestDomain;
  let vm2: TestDomain;
  let out: string;
  beforeAll(async () => {
    vm1 = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 32 }] });
    vm2 = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 32 }] });
    out = fs.mkdtempSync(`/var/tmp/vmkeep-test-vmsnap-lines-${name}-`);
  });
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));
  const attempt = (line: string): Promise<CliRun> => {
    // Split as a shell would split these simple lines (no quotes are needed once names are ours).
    const args = line.replaceAll('vm1', vm1.name).replaceAll('vm2', vm2.name).replaceAll('/tmp', out).split(' ');
    return runVmkeep(args, { bin, env: { VMKEEP_LOCK_DIR: lockDir } });
  };
  const run = async (line: string): Promise<CliRun> => ok(await attempt(line), `${name} ${line}`);

  it('status lines and machine output', async () => {
    // Status, with and without the flag, and the default action.
    for (const line of ['--domains=vm1 --status', '--domains=vm1']) {
      const r = await run(line);
      expect(r.stdout).toContain(vm1.name);
      expect(r.stdout).toContain('Overall status: OK');
    }
    expect((await run('--domains=vm1,vm2 --status')).stdout).toContain(vm2.name);
    // The switch table: --verbose is a status switch.
    expect((await run('--domains=vm1 --status --verbose')).stdout).toContain('Overall status: OK');

    // Machine output: one line of JSON keyed by domain, with VMSnap's fields.
    const machine = await run('--domains=vm1 --machine --json');
    expect(machine.stdout.trim().split('\n')).toHaveLength(1);
    const doc = parseJsonOutput<Record<string, { overallStatus: number; checkpoints: string[]; disks: Array<{ disk: string }> }>>(machine);
    expect(doc[vm1.name]).toMatchObject({ overallStatus: 0, checkpoints: [], disks: [{ disk: 'vda' }] });
    expect((await run('--domains=vm1 --yml')).stdout).toMatch(new RegExp(`^${vm1.name}:\\n`, 'm'));
    expect((await run('--domains=vm1 --yaml --machine')).stdout).toContain('overallStatus: 0');
    // --machine alone is VMSnap's status text, not JSON.
    expect((await run('--domains=vm1 --machine')).stdout).toContain('Overall status: OK');
  });

  it('backup lines: the status-then-backup swap, each groupBy period, --prune, --raw', async () => {
    // README: test the line with --status, then swap in --backup.
    const tried = await run('--domains=vm1 --output=/tmp --status --groupBy=month --prune --raw --verbose');
    expect(tried.stderr).toContain('status ignores --groupBy, --prune, --raw');
    await writeGuestData(vm1, 'vda', { pattern: 0x11, offset: 0, length: 2 * 1024 * 1024 });
    await run('--domains=vm1 --output=/tmp --backup --groupBy=month --prune --raw');
    const month = fs.readdirSync(path.join(out, vm1.name));
    expect(month).toHaveLength(1);
    expect(month[0]).toMatch(/^vmsnap-backup-monthly-\d{4}-\d{2}$/);
    expect(fs.readdirSync(path.join(out, vm1.name, month[0]!))).toContain('vda.full.data');

    // The plain README backup line continues the chain with an incremental.
    await writeGuestData(vm1, 'vda', { pattern: 0x22, offset: 4 * 1024 * 1024, length: 1024 * 1024 });
    await run('--domains=vm1 --output=/tmp --backup');
    expect(fs.readdirSync(path.join(out, vm1.name, month[0]!)).filter((f) => /^vda\.inc\..*\.data$/.test(f))).toHaveLength(1);
    expect(await checkpoints(vm1)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);

    // --groupBy quarter groups into its own folder; --prune alone is VMSnap's period rule.
    await run('--domains=vm2 --output=/tmp --backup --groupBy=quarter');
    expect(fs.readdirSync(path.join(out, vm2.name))[0]).toMatch(/^vmsnap-backup-quarterly-\d{4}-Q[1-4]$/);
    await run('--domains=vm2 --output=/tmp --backup --prune');
    // The rest of the groupBy table: each period its own folder, named as VMSnap names it.
    await run('--domains=vm2 --output=/tmp --backup --groupBy=bi-annual');
    expect(fs.readdirSync(path.join(out, vm2.name))).toContainEqual(expect.stringMatching(/^vmsnap-backup-bi-annually-\d{4}-p[12]$/));
    await run('--domains=vm2 --output=/tmp --backup --groupBy=year');
    const yearly = fs.readdirSync(path.join(out, vm2.name)).find((f) => /^vmsnap-backup-yearly-\d{4}$/.test(f));
    expect(yearly).toBeDefined();
    await writeGuestData(vm2, 'vda', { pattern: 0x33, offset: 0, length: 1024 * 1024 });
    await run('--domains=vm2 --output=/tmp --backup --groupBy=year');
    expect(fs.readdirSync(path.join(out, vm2.name, yearly!)).filter((f) => /^vda\.inc\..*\.data$/.test(f))).toHaveLength(1);
    expect(await checkpoints(vm2)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);
  });

  it('status with --output, and scrub lines', async () => {
    // Status with --output sees the backups; --pretty prints sizes for people.
    const withOutput = await run('--domains=vm1 --output=/tmp --status --json --pretty');
    expect(JSON.stringify(parseJsonOutput(withOutput))).toMatch(/MiB|KiB|kB|MB/);

    // VMSnap's 2024 READMEs scrubbed everything with a bare --scrub (or --scrub="true"); VMSnap 2
    // refuses that (invalid scrub type), and so does vmkeep: one line, exit 64, nothing removed.
    for (const line of ['--domains=vm1 --scrub', '--domains=vm1 --scrub=true']) {
      const refused = await attempt(line);
      expect(refused.code, line).toBe(64);
      expect(refused.stderr.trim().split('\n'), line).toHaveLength(1);
      expect(refused.stderr, line).toMatch(/scrub needs --scrubType/);
    }
    expect(await checkpoints(vm1)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1']);

    // Scrub one bitmap by checkpoint name, then everything.
    await run('--domains=vm1 --scrub --scrubType=bitmap --checkpointName=virtnbdbackup.1');
    const bitmapsAfter = (await liveBitmaps(vm1)).flatMap((n) => n.bitmaps.map((b) => b.name));
    expect(bitmapsAfter).not.toContain('virtnbdbackup.1');
    await run('--domains=vm1 --scrub --scrubType=*');
    expect(await checkpoints(vm1)).toEqual([]);
    expect((await liveBitmaps(vm1)).flatMap((n) => n.bitmaps)).toEqual([]);

    // The other scrub types of the switch table, each by checkpoint name.
    await run('--domains=vm2 --scrub --scrubType=checkpoint --checkpointName=virtnbdbackup.1');
    expect(await checkpoints(vm2)).toEqual(['virtnbdbackup.0']);
    await run('--domains=vm2 --scrub --scrubType=both --checkpointName=virtnbdbackup.0');
    expect(await checkpoints(vm2)).toEqual([]);
    expect((await liveBitmaps(vm2)).flatMap((n) => n.bitmaps)).toEqual([]);
  });
});

describe('the local-checkout form of the README', () => {
  it('npm run vmsnap -- --domains=vm1,vm2 --status', async () => {
    const vm1 = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: 16 }] });
    const vm2 = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 16 }] });
    const r = ok(await npmRunVmsnap([`--domains=${vm1.name},${vm2.name}`, '--status']), 'npm run vmsnap');
    expect(r.stdout).toContain(`${vm1.name}  (running)`);
    expect(r.stdout).toContain(`${vm2.name}  (shut off)`);
  });
});

describe('the package installs both command names', () => {
  it('package.json names vmkeep and vmsnap, and npm pack ships both files executable', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(CHECKOUT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin).toEqual({ vmkeep: 'bin/vmkeep', vmsnap: 'bin/vmsnap' });
    const packed = await new Promise<string>((resolve, reject) =>
      execFile('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: CHECKOUT }, (e, stdout) =>
        e ? reject(new Error(`npm pack failed: ${e.message}`)) : resolve(String(stdout)),
      ),
    );
    const files = (JSON.parse(packed) as Array<{ files: Array<{ path: string; mode: number }> }>)[0]!.files;
    for (const bin of ['bin/vmkeep', 'bin/vmsnap']) {
      const f = files.find((x) => x.path === bin);
      expect(f, bin).toBeDefined();
      expect(f!.mode & 0o111, bin).not.toBe(0);
    }
  });
});
