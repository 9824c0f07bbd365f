/**
 * Every command ends promptly after an early error. The CLI talks to libvirt through long-lived
 * virsh sessions; one left running (or one started for a request still queued when the command
 * failed) kept the event loop alive, so vmkeep printed its error and never exited. Each command
 * line below fails before doing anything; vmkeep must exit with the expected code while a
 * generous bound still holds (a hang, not slowness, is what it catches).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { backupCli, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { createTestDomain, destroyDomain, virsh, type TestDomain } from '../helpers/libvirt.js';
import { startVmkeep, type FinishedRun } from '../helpers/vmkeep-process.js';

const lockDir = useLockDirAndCleanup();
/** Far above what any of these takes on a busy machine; a hung run never gets there. */
const BOUND_MS = 15_000;

let gone: TestDomain;
let out: string;
let scratch: string;

beforeAll(async () => {
  // A domain with a backup, which libvirt then forgets (undefined, its files kept).
  gone = await createTestDomain({ start: true });
  out = path.join(gone.dir, 'out');
  expectDocument(await backupCli(['--domains', gone.name, '--output', out, '--json'], { lockDir }));
  await destroyDomain(gone);
  await virsh(['undefine', gone.uuid, '--checkpoints-metadata']);
  scratch = path.join(gone.dir, 'scratch');
  fs.mkdirSync(path.join(scratch, 'not-empty'), { recursive: true });
  fs.writeFileSync(path.join(scratch, 'not-empty', 'file'), 'x');
}, 300_000);

/** Run the built CLI; fail (and end it) when it is still running after BOUND_MS. */
async function runBounded(args: readonly string[]): Promise<FinishedRun> {
  const run = startVmkeep(args, { env: { VMKEEP_LOCK_DIR: lockDir } });
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), BOUND_MS);
  });
  const result = await Promise.race([run.finished, hung]);
  clearTimeout(timer);
  if (result === 'hung') {
    run.killGroup();
    const after = await run.finished;
    throw new Error(`vmkeep ${args.join(' ')} still running ${BOUND_MS / 1000} s after it started; it had printed:\n${after.stderr}`);
  }
  return result;
}

interface EarlyError {
  what: string;
  args: () => string[];
  code: number;
  message: RegExp;
}

const CASES: EarlyError[] = [
  {
    what: 'restore --in-place of a domain libvirt no longer defines',
    args: () => ['restore', '--in-place', '--domain', gone.name, '--output', out],
    code: 64,
    message: /not defined in libvirt: restore it with --to/,
  },
  {
    what: 'the same with --dry-run',
    args: () => ['restore', '--in-place', '--dry-run', '--domain', gone.name, '--output', out],
    code: 64,
    message: /not defined in libvirt: restore it with --to/,
  },
  {
    what: 'restore --to a folder that is not empty',
    args: () => ['restore', '--to', path.join(scratch, 'not-empty'), '--domain', gone.name, '--output', out],
    code: 64,
    message: /is not empty/,
  },
  {
    what: 'restore of a domain with no backups',
    args: () => ['restore', '--to', path.join(scratch, 'r1'), '--domain', 'vmkeep-test-no-such-domain', '--output', out],
    code: 64,
    message: /no backups of domain/,
  },
  {
    what: 'backup of a domain libvirt does not have',
    args: () => ['backup', '--domains', gone.name, '--output', out],
    code: 2,
    message: /not (defined|found)|failed|no domain/i,
  },
  {
    what: 'status of a domain libvirt does not have',
    args: () => ['status', '--domains', 'vmkeep-test-no-such-domain', '--output', out],
    code: 1,
    message: /./,
  },
  {
    what: 'boot of a virtnbdbackup point',
    args: () => ['boot', '--domain', gone.name, '--output', out, '--name', 'vmkeep-test-early-boot', '--dir', path.join(scratch, 'boot')],
    code: 64,
    message: /boot runs push chains/,
  },
  {
    what: 'mount on a mount point that does not exist',
    args: () => ['mount', '--domain', gone.name, '--output', out, path.join(scratch, 'no-mount-point')],
    code: 64,
    message: /is not an existing folder/,
  },
  {
    what: 'verify of a missing output folder',
    args: () => ['verify', '--output', path.join(scratch, 'missing')],
    code: 64,
    message: /does not exist/,
  },
  {
    what: 'prune of a missing output folder',
    args: () => ['prune', '--output', path.join(scratch, 'missing'), '--keep-last', '1'],
    code: 64,
    message: /does not exist/,
  },
];

describe('every command exits promptly after an early error', () => {
  for (const c of CASES) {
    it(`${c.what}: exit ${c.code}`, async () => {
      const result = await runBounded(c.args());
      expect(result.code, result.stderr).toBe(c.code);
      const output = result.stdout + result.stderr;
      expect(output).toMatch(c.message);
    }, 60_000);
  }
});
