import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installedToolVersion } from '../../../src/virtnbd/tool-version.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { fixture } from '../../helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'vmkeep-tool-version-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('installedToolVersion', () => {
  const bin = join(dir, 'bin');
  const cacheDir = join(dir, 'cache');
  const exe = join(bin, 'virtnbdbackup');
  const env = { PATH: `/nonexistent:${bin}`, VMKEEP_CACHE_DIR: cacheDir };
  const asks = () =>
    new FakeRunner().expect({ tool: 'virtnbdbackup', argv: ['--version'], result: { stdout: fixture('versions/virtnbdbackup--version.txt') } });

  it('asks the tool once, then answers from the cache until the program file changes', async () => {
    rmSync(bin, { recursive: true, force: true });
    mkdirSync(bin);
    writeFileSync(exe, '#!/bin/sh\n');
    chmodSync(exe, 0o755);

    const first = asks();
    expect((await installedToolVersion(first, 'virtnbdbackup', env)).text).toBe('1.9.15');
    expect(first.unmet()).toEqual([]);
    expect(JSON.parse(readFileSync(join(cacheDir, 'tool-versions.json'), 'utf8'))[exe].version).toBe('1.9.15');

    const second = new FakeRunner(); // any call would throw
    expect((await installedToolVersion(second, 'virtnbdbackup', env)).text).toBe('1.9.15');
    expect(second.calls).toEqual([]);

    // An upgrade rewrites the program: the cache no longer matches.
    utimesSync(exe, new Date(), new Date(Date.now() + 5000));
    const third = asks();
    await installedToolVersion(third, 'virtnbdbackup', env);
    expect(third.unmet()).toEqual([]);
  });

  it('asks every time when the cache is off', async () => {
    for (let i = 0; i < 2; i++) {
      const r = asks();
      await installedToolVersion(r, 'virtnbdbackup', { ...env, VMKEEP_CACHE_DIR: '' });
      expect(r.unmet()).toEqual([]);
    }
  });
});
