/**
 * SIGINT during `restore --to` ends every helper process the restore started. virtnbdrestore
 * forks `qemu-nbd --fork` for the image it writes; the daemon is no child of vmkeep (it is
 * reparented to init) and stays until a client has come and gone. Interrupted right after the
 * fork, it used to stay for good, holding the deleted image and its socket, while vmkeep said
 * "nothing was left". The interrupt here lands the moment that qemu-nbd appears.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { createTestDomain, writeGuestData, type TestDomain } from '../helpers/libvirt.js';
import { startVmkeep } from '../helpers/vmkeep-process.js';

const lockDir = useLockDirAndCleanup();
let dom: TestDomain;
let out: string;

beforeAll(async () => {
  dom = await createTestDomain({ disks: [{ target: 'vda', sizeMiB: 128 }], start: true });
  out = path.join(dom.dir, 'out');
  await writeGuestData(dom, 'vda', { pattern: 0x5c, offset: 0, length: 48 * MiB });
  expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--json'], { lockDir }));
}, 300_000);

/** Processes (pid and argv) with an argument under `prefix`: read from /proc, the test's own view. */
function processesWithArgUnder(prefix: string): Array<{ pid: number; argv: string[] }> {
  const found: Array<{ pid: number; argv: string[] }> = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.some((a) => a.startsWith(prefix))) found.push({ pid: Number(name), argv });
  }
  return found;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('restore --to interrupted', () => {
  it('SIGINT as soon as qemu-nbd runs: exit 130, no qemu-nbd left, nothing left in the target', async () => {
    // Three tries, as the report saw it (the daemon was left 2 times of 3).
    for (let attempt = 0; attempt < 3; attempt++) {
      const target = path.join(dom.dir, `restored-${attempt}`);
      const run = startVmkeep(['restore', '--to', target, '--domain', dom.name, '--output', out], { env: { VMKEEP_LOCK_DIR: lockDir } });
      let ended = false;
      void run.finished.then(() => (ended = true));
      let nbd: { pid: number; argv: string[] } | undefined;
      while (!ended && !nbd) {
        nbd = processesWithArgUnder(`${target}/`).find((p) => path.basename(p.argv[0] ?? '') === 'qemu-nbd');
        if (!nbd) await sleep(2);
      }
      expect(nbd, `attempt ${attempt}: vmkeep ended before qemu-nbd started`).toBeDefined();
      run.signal('SIGINT');
      const result = await run.finished;
      expect(result.code, result.stderr).toBe(130);
      expect(result.stderr).toMatch(/nothing was left/);
      // What it said must hold: no process works on the target, the folder is gone.
      expect(processesWithArgUnder(`${target}/`), `attempt ${attempt}: ${nbd!.argv.join(' ')}`).toEqual([]);
      const socket = nbd!.argv[nbd!.argv.indexOf('-k') + 1]!;
      expect(processesWithArgUnder(socket)).toEqual([]);
      expect(fs.existsSync(socket)).toBe(false);
      expect(fs.existsSync(target)).toBe(false);
    }
  }, 300_000);
});
