/**
 * `--raw`: a domain with a raw disk beside a qcow2 one, backed up with `--raw`, restored with
 * `restore --to` at every point (in place is refused for a raw disk), each disk compared byte for byte with a reference
 * copy taken right after its backup. virtnbdbackup copies a raw disk only in a full (its
 * incrementals leave raw disks out), so an incremental point would restore the raw disk as it was
 * at the full: every --raw backup of such a domain is a full, and says why.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJsonOutput, runVmkeep, type CliRun } from '../helpers/cli.js';
import { MiB, backupCli, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { createTestDomain, domainState, imagesIdentical, referenceCopy, writeGuestData } from '../helpers/libvirt.js';

const lockDir = useLockDirAndCleanup();

function ok(run: CliRun, what: string): CliRun {
  if (run.code !== 0) throw new Error(`${what}: exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run;
}

interface RestoreDoc {
  images: Array<{ target: string; path: string }>;
}

describe('backup --raw of a raw disk', () => {
  it('every point restores both disks byte-identically with restore --to; in place is refused before anything changes', async () => {
    const dom = await createTestDomain({
      start: true,
      disks: [
        { target: 'vda', sizeMiB: 32 },
        { target: 'vdb', sizeMiB: 16, format: 'raw' },
      ],
    });
    const out = path.join(dom.dir, 'out');
    const refs: Array<{ vda: string; vdb: string }> = [];
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      await writeGuestData(dom, 'vda', { pattern: 0x40 + i, offset: i * 4 * MiB, length: 2 * MiB });
      await writeGuestData(dom, 'vdb', { pattern: 0x50 + i, offset: i * 2 * MiB, length: MiB });
      const doc = expectDocument(await backupCli(['--domains', dom.name, '--output', out, '--raw', '--json'], { lockDir }));
      expect(doc.results[0], JSON.stringify(doc.results[0])).toMatchObject({ result: 'done', level: 'full' });
      if (i > 0)
        expect(doc.results[0]!.reasons).toContain(
          'vdb is a raw image (--raw): it has no dirty bitmap and is copied only by a full, so every backup of this domain is a full',
        );
      ids.push(`${doc.results[0]!.chain}/${doc.results[0]!.checkpoint}`);
      const ref = { vda: path.join(dom.dir, `ref${i}-vda.qcow2`), vdb: path.join(dom.dir, `ref${i}-vdb.raw`) };
      await referenceCopy(dom, 'vda', ref.vda);
      await referenceCopy(dom, 'vdb', ref.vdb, 'raw');
      refs.push(ref);
    }
    // The raw disk is in every point: each chain holds a whole copy of it.
    for (const id of ids) expect(fs.readdirSync(path.join(out, dom.name, id.split('/')[0]!))).toContain('vdb.copy.data');

    for (const [i, id] of ids.entries()) {
      const to = path.join(dom.dir, `restore-${i}`);
      const r = ok(await runVmkeep(['restore', '--domain', dom.name, '--output', out, '--at', id, '--to', to, '--json']), `restore ${id}`);
      const doc = parseJsonOutput<RestoreDoc>(r);
      const byDisk = Object.fromEntries(doc.images.map((img) => [img.target, img.path]));
      expect(await imagesIdentical(byDisk['vda']!, refs[i]!.vda), `vda at ${id}`).toBe(true);
      expect(await imagesIdentical(byDisk['vdb']!, refs[i]!.vdb), `vdb at ${id}`).toBe(true);
      // Not trivially equal: each point differs from the one before on the raw disk.
      if (i > 0) expect(await imagesIdentical(byDisk['vdb']!, refs[i - 1]!.vdb), `vdb at ${id} vs the point before`).toBe(false);
    }

    // verify reads the raw copies as images, not as streams, and passes.
    const verify = await runVmkeep(['verify', '--domains', dom.name, '--output', out]);
    expect(verify.code, `${verify.stdout}\n${verify.stderr}`).toBe(0);

    // In place is refused for a raw disk (restored images are qcow2), before anything changes.
    const now = { vda: path.join(dom.dir, 'now-vda.qcow2'), vdb: path.join(dom.dir, 'now-vdb.raw') };
    await referenceCopy(dom, 'vda', now.vda);
    await referenceCopy(dom, 'vdb', now.vdb, 'raw');
    const inPlace = await runVmkeep(['restore', '--domain', dom.name, '--output', out, '--in-place', '--at', ids[0]!, '--force', '--shutdown-timeout', '1']);
    expect(inPlace.code).not.toBe(0);
    expect(inPlace.stderr).toContain(`disk vdb of ${dom.name} is raw, restored images are qcow2: use --to DIR`);
    expect(await domainState(dom)).toBe('running');
    expect(await imagesIdentical(dom.disks[0]!.path, now.vda)).toBe(true);
    expect(await imagesIdentical(dom.disks[1]!.path, now.vdb)).toBe(true);
  });
});
