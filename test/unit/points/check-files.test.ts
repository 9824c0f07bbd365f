/** The check before a restore names every problem it found, not only the first. */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkChainFiles } from '../../../src/points/check-files.js';
import { badFilesError } from '../../../src/points/execute-restore.js';
import type { RestorePointRef } from '../../../src/points/points.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmkeep-check-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the pre-restore check', () => {
  it('lists every problem in one line', async () => {
    writeFileSync(join(dir, 'vmconfig.virtnbdbackup.0.xml'), '<domain/>changed');
    writeFileSync(join(dir, 'checkpoints.xml'), '<x/>');
    const files = [
      { path: 'vmconfig.virtnbdbackup.0.xml', kind: 'config' as const, size: 9, sha256: sha('<domain/>') },
      { path: 'vda.full.data', kind: 'data' as const, disk: 'vda', size: 100, sha256: sha('x') },
      { path: 'checkpoints.xml', kind: 'checkpoint' as const, size: 4, sha256: sha('<x/>') },
    ];
    const problems = await checkChainFiles(dir, files, { structure: false });
    expect(problems.map((p) => [p.file, p.kind])).toEqual([
      ['vmconfig.virtnbdbackup.0.xml', 'size'],
      ['vmconfig.virtnbdbackup.0.xml', 'checksum'],
      ['vda.full.data', 'missing'],
    ]);
    const error = badFilesError({ point: { id: 'vmsnap-backup-monthly-2026-03/virtnbdbackup.0' } as RestorePointRef }, problems);
    expect(error.message).toMatch(
      /^refusing to restore vmsnap-backup-monthly-2026-03\/virtnbdbackup\.0: 3 problems: vmconfig\.virtnbdbackup\.0\.xml is 16 bytes, the manifest recorded 9; vmconfig\.virtnbdbackup\.0\.xml has sha256 \S+, the manifest recorded \S+ \(it changed after the backup\); vda\.full\.data is missing$/,
    );
    expect(error.message).not.toContain('\n');
  });
});
