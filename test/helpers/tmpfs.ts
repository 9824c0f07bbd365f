/**
 * A small tmpfs for disk-full tests (root only): mounted on a fresh folder, resized with
 * `mount -o remount,size=`, unmounted in teardown. argv arrays through the project's runner.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createExecaRunner } from '../../src/runner/runner.js';

const runner = createExecaRunner();

export interface Tmpfs {
  dir: string;
  /** Change the size limit (MiB); shrinking below what is used fails. */
  resize(sizeMiB: number): Promise<void>;
  /** Bytes free, as statfs reports them. */
  freeBytes(): number;
  unmount(): Promise<void>;
}

export async function mountTmpfs(sizeMiB: number): Promise<Tmpfs> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkeep-test-tmpfs-'));
  await runner.run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir]);
  let mounted = true;
  return {
    dir,
    resize: async (mib) => {
      await runner.run('mount', ['-o', `remount,size=${mib}m`, dir]);
    },
    freeBytes: () => {
      const s = fs.statfsSync(dir);
      return s.bavail * s.bsize;
    },
    unmount: async () => {
      if (!mounted) return;
      mounted = false;
      await runner.run('umount', [dir]).catch(() => runner.run('umount', ['-l', dir]));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
