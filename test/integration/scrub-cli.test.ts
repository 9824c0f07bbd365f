/** The scrub command end to end through the built CLI, in VMSnap's flag form. */
import { afterAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runVmkeep } from '../helpers/cli.js';
import { cleanupAll, createTestDomain, liveBitmaps, virsh } from '../helpers/libvirt.js';

afterAll(async () => {
  await cleanupAll();
});

describe('vmkeep --scrub', () => {
  it("removes every vmkeep checkpoint and bitmap of a running domain with --scrubType='*', and reports unknown names", async () => {
    const dom = await createTestDomain({
      start: true,
      disks: [
        { target: 'vda', sizeMiB: 32 },
        { target: 'vdb', sizeMiB: 32 },
      ],
    });
    await virsh(['checkpoint-create-as', '--domain', dom.uuid, '--name', 'virtnbdbackup.0']);
    await virsh(['checkpoint-create-as', '--domain', dom.uuid, '--name', 'virtnbdbackup.1']);

    const dry = await runVmkeep([`--domains=${dom.name}`, '--scrub', '--scrubType=*', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect((await virsh(['checkpoint-list', '--domain', dom.uuid, '--name'])).trim().split('\n')).toHaveLength(2);

    const run = await runVmkeep([`--domains=${dom.name},vmkeep-test-missing`, '--scrub', '--scrubType=*', '--json']);
    expect(run.code).toBe(1);
    const doc = parseJsonOutput<Record<string, { ok: boolean; error?: string }>>(run);
    expect(doc[dom.name]!.ok).toBe(true);
    expect(doc['vmkeep-test-missing']).toMatchObject({ ok: false, error: 'unknown domain' });
    expect((await virsh(['checkpoint-list', '--domain', dom.uuid, '--name'])).trim()).toBe('');
    const bitmaps = (await liveBitmaps(dom)).flatMap((n) => n.bitmaps.map((b) => b.name));
    expect(bitmaps).toEqual([]);
  });

  it('refuses a missing --scrubType with a usage error', async () => {
    const run = await runVmkeep(['scrub', '--domains', 'x']);
    expect(run.code).toBe(64);
    expect(run.stderr).toMatch(/scrub needs --scrubType/);
  });
});
