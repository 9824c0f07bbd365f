/**
 * A domain name of 243 characters is valid in libvirt, but the restored domain's XML file
 * (`<name>-restored-<time>.xml`) would pass the 255-byte limit of a file name: restore --to
 * failed with a raw ENAMETOOLONG. The file gets a shorter derived name; the images restore
 * byte-identically and the XML names the restored domain in full.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MiB, backupCli, expectDocument, useLockDirAndCleanup } from '../helpers/backup-run.js';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { createTestDomain, imagesIdentical, referenceCopy, writeGuestData } from '../helpers/libvirt.js';

const lockDir = useLockDirAndCleanup();

describe('restore --to of a domain with a 243-character name', () => {
  it('restores, with the domain XML under a file name the filesystem takes', async () => {
    const name = `vmkeep-test-${'n'.repeat(243 - 'vmkeep-test-'.length - 6)}${Math.random().toString(16).slice(2, 8)}`;
    expect(name).toHaveLength(243);
    const dom = await createTestDomain({ name, start: true });
    await writeGuestData(dom, 'vda', { pattern: 0x3e, offset: 2 * MiB, length: 4 * MiB });
    const ref = path.join(dom.dir, 'ref.qcow2');
    await referenceCopy(dom, 'vda', ref);
    const out = path.join(dom.dir, 'out');
    expectDocument(await backupCli(['--domains', name, '--output', out, '--json'], { lockDir }));

    const to = path.join(dom.dir, 'restored');
    const run = await runVmkeep(['restore', '--domain', name, '--output', out, '--to', to, '--json'], { env: { VMKEEP_LOCK_DIR: lockDir } });
    expect(run.code, run.stderr).toBe(0);
    const doc = parseJsonOutput<{ images: Array<{ target: string; path: string }>; xml: string; domainName: string }>(run);
    expect(doc.domainName.startsWith(`${name}-restored-`)).toBe(true);
    expect(Buffer.byteLength(path.basename(doc.xml))).toBeLessThanOrEqual(255);
    expect(fs.readFileSync(doc.xml, 'utf8')).toContain(`<name>${doc.domainName}</name>`);
    expect(await imagesIdentical(doc.images[0]!.path, ref)).toBe(true);
  }, 300_000);
});
