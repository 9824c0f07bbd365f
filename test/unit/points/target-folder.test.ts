import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireOutputFolder } from '../../../src/repository/chains.js';
import { assertEmptyTarget } from '../../../src/points/execute-restore.js';

const root = mkdtempSync(join(tmpdir(), 'vmkeep-test-target-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const usage = (message: RegExp) => expect.objectContaining({ code: 'usage', message: expect.stringMatching(message) });

describe('assertEmptyTarget: only the last folder is ever created', () => {
  it('accepts a new folder inside an existing one, and an empty folder', async () => {
    expect(await assertEmptyTarget(join(root, 'new'))).toBe('absent');
    mkdirSync(join(root, 'empty'));
    expect(await assertEmptyTarget(join(root, 'empty'))).toBe('empty');
  });

  it('refuses a folder whose parent is missing, naming the parent, and creates nothing', async () => {
    const deep = join(root, 'nosuch', 'deep', 'dir');
    await expect(assertEmptyTarget(deep)).rejects.toEqual(
      usage(new RegExp(`^--to ${deep} cannot be created: its parent folder ${join(root, 'nosuch', 'deep')} does not exist`)),
    );
    expect(readdirSync(root)).not.toContain('nosuch');
  });

  it('refuses a parent that is a file, a target that is a file, and a non-empty folder', async () => {
    writeFileSync(join(root, 'file'), 'x');
    await expect(assertEmptyTarget(join(root, 'file', 'sub'))).rejects.toEqual(usage(/cannot be created: .*file is not a folder$/));
    await expect(assertEmptyTarget(join(root, 'file'))).rejects.toEqual(usage(/^--to .* exists and is not a folder$/));
    mkdirSync(join(root, 'full'));
    writeFileSync(join(root, 'full', 'a'), 'x');
    await expect(assertEmptyTarget(join(root, 'full'), { flag: '--dir' })).rejects.toEqual(usage(/^--dir .*full is not empty \(1 entries\)/));
  });

  it('lets a caller name the folder that must exist (boot makes its own vmkeep-boot folder)', async () => {
    expect(await assertEmptyTarget(join(root, 'own', 'name'), { flag: '--dir', parent: root })).toBe('absent');
    await expect(assertEmptyTarget(join(root, 'a', 'own', 'name'), { flag: '--dir', parent: join(root, 'a') })).rejects.toEqual(
      usage(/^--dir .* its parent folder .*\/a does not exist/),
    );
  });
});

describe('requireOutputFolder', () => {
  it('passes an existing folder and refuses a missing one or a file with exit-64 errors', async () => {
    await expect(requireOutputFolder(root)).resolves.toBeUndefined();
    await expect(requireOutputFolder(join(root, 'nosuch'))).rejects.toEqual(usage(/^--output \S+nosuch does not exist$/));
    await expect(requireOutputFolder(join(root, 'file'))).rejects.toEqual(usage(/^--output \S+file is not a folder$/));
  });
});
