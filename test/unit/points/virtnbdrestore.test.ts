import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDomainXml } from '../../../src/virsh/parse-domain-xml.js';
import { CHECKSUM_VERIFY_SINCE, STUB_CONFIG, compareVersions, stageInput } from '../../../src/points/virtnbdrestore.js';
import { buildRestoreVerifyArgv } from '../../../src/virtnbd/argv.js';

const scratch = mkdtempSync(join(tmpdir(), 'vmkeep-virtnbdrestore-unit-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('virtnbdrestore versions', () => {
  it('checksum verify exists from 1.9.40 on', () => {
    expect(compareVersions('1.9.15', CHECKSUM_VERIFY_SINCE)).toBe(-1);
    expect(compareVersions('1.9.40', CHECKSUM_VERIFY_SINCE)).toBe(0);
    expect(compareVersions('2.28.1', CHECKSUM_VERIFY_SINCE)).toBe(1);
    expect(compareVersions('1.10', '1.9.40')).toBe(1);
    expect(buildRestoreVerifyArgv('/c', '/s/v')).toEqual(['--action', 'verify', '--input', '/c', '--output', '/s/v', '--noprogress']);
  });
});

describe('stageInput', () => {
  it('links exactly the sequence and the qcow2 options, plus a stub XML without boot files', async () => {
    const stage = join(scratch, 'in-vda');
    const names = await stageInput(stage, '/backup/web/chain', ['vda.full.data', 'vda.inc.virtnbdbackup.1.data'], 'vda.virtnbdbackup.1.qcow.json');
    expect(names).toEqual(['vda.full.data', 'vda.inc.virtnbdbackup.1.data']);
    expect(readdirSync(stage).sort()).toEqual(['vda.full.data', 'vda.inc.virtnbdbackup.1.data', 'vda.virtnbdbackup.1.qcow.json', 'vmconfig.vmkeep-stub.xml']);
    expect(readlinkSync(join(stage, 'vda.full.data'))).toBe('/backup/web/chain/vda.full.data');
    expect(readFileSync(join(stage, 'vmconfig.vmkeep-stub.xml'), 'utf8')).toBe(STUB_CONFIG);
    // virtnbdrestore copies <os> loader/nvram/kernel/initrd to their original paths: the stub has none.
    expect(STUB_CONFIG).not.toContain('<os');
    expect(parseDomainXml(STUB_CONFIG).disks).toEqual([]);
  });
});
