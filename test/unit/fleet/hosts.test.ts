import { describe, expect, it } from 'vitest';
import { defaultHostName, isRemoteUri, parseHostList, patternsForHost, unknownHostPrefixes, uriHost, uriUser } from '../../../src/app/hosts.js';
import { remoteArgsFor, NBD_PORT_BASE, NBD_PORT_STRIDE, virtnbdbackupArgv } from '../../../src/backup/engine/virtnbdbackup.js';
import { createHostContext, hostOutputDir, withHostLocks } from '../../../src/fleet/index.js';
import { fakeContext } from '../../helpers/fake-context.js';
import { VmkeepError } from '../../../src/errors.js';

const SSH = 'qemu+ssh://root@127.0.0.1:2222/system?keyfile=/k/id&no_verify=1';

describe('parseHostList', () => {
  it('no --connect is the local host; one URI keeps its own name', () => {
    expect(parseHostList([])).toEqual([{ name: 'local', uri: 'qemu:///system' }]);
    expect(parseHostList(['qemu:///system'])).toEqual([{ name: 'local', uri: 'qemu:///system' }]);
    expect(parseHostList(['qemu+ssh://root@hv1.example/system'])).toEqual([{ name: 'hv1.example', uri: 'qemu+ssh://root@hv1.example/system' }]);
  });

  it('NAME=URI names a host; a URI with ?a=b in it is not taken for a name', () => {
    expect(parseHostList([`r1=${SSH}`, SSH.replace('2222', '2223')])).toEqual([
      { name: 'r1', uri: SSH },
      { name: '127.0.0.1', uri: SSH.replace('2222', '2223') },
    ]);
  });

  it('refuses the same name twice, the same URI twice, a bad name and a value that is no URI', () => {
    const fails = (values: string[], text: string) => {
      expect(() => parseHostList(values)).toThrow(VmkeepError);
      expect(() => parseHostList(values)).toThrow(text);
    };
    fails([SSH, SSH.replace('2222', '2223')], 'two hosts are named 127.0.0.1');
    fails([`a=${SSH}`, `b=${SSH}`], 'is given twice');
    fails([`bad name=${SSH}`], 'must be letters');
    fails(['hv1'], 'is not a libvirt URI');
  });
});

describe('URI parts', () => {
  it('host, user and remoteness', () => {
    expect(uriHost(SSH)).toBe('127.0.0.1');
    expect(uriUser(SSH)).toBe('root');
    expect(isRemoteUri(SSH)).toBe(true);
    expect(isRemoteUri('qemu:///system')).toBe(false);
    expect(uriHost('qemu+ssh://[::1]:22/system')).toBe('::1');
    expect(defaultHostName('qemu+ssh://[::1]:22/system')).toBe('__1');
  });
});

describe('patternsForHost', () => {
  it('host/pattern only on that host, plain patterns on all, undefined means all', () => {
    expect(patternsForHost(undefined, 'a')).toBeUndefined();
    expect(patternsForHost(['a/web,db', 'b/mail'], 'a')).toEqual(['web', 'db']);
    expect(patternsForHost(['a/web,db', 'b/mail'], 'b')).toEqual(['db', 'mail']);
    expect(patternsForHost(['a/web'], 'b')).toEqual([]);
    expect(patternsForHost(['a/web-*'], 'a')).toEqual(['web-*']);
  });

  it('names host prefixes that match no host', () => {
    expect(unknownHostPrefixes(['a/web', 'x/db,plain'], [{ name: 'a', uri: 'qemu:///system' }])).toEqual(['x/db']);
  });
});

describe('per-host layout and locks', () => {
  it('OUTPUT/<host> only with more than one host', () => {
    expect(hostOutputDir('/b', { name: 'r1', uri: SSH }, 1)).toBe('/b');
    expect(hostOutputDir('/b', { name: 'r1', uri: SSH }, 2)).toBe('/b/r1');
  });

  it('a remote host locks in a folder named after its URI host, the local host in the usual one', () => {
    const context = fakeContext;
    const remote = { name: 'r1', uri: SSH };
    expect(withHostLocks(context({ VMKEEP_LOCK_DIR: '/l' }), remote).locks.domainLockFile('web')).toBe('/l/host-127.0.0.1/domain-web.lock');
    expect(createHostContext(context({ VMKEEP_LOCK_DIR: '/l' }), remote).locks.domainLockFile('web')).toBe('/l/host-127.0.0.1/domain-web.lock');
    expect(withHostLocks(context({}), { name: 'local', uri: 'qemu:///system' }).locks.domainLockFile('web')).toBe('/run/lock/vmkeep/domain-web.lock');
    expect(withHostLocks(context({ VMKEEP_LOCK_DIR: '/l' }), remote).locks.outputLockFile('/b')).toBe('/b/.vmkeep.lock');
  });
});

describe('virtnbdbackup remote mode', () => {
  const V1 = { major: 1, minor: 9, patch: 15, text: '1.9.15' };
  const req = {
    domain: 'web',
    uri: SSH,
    level: 'inc' as const,
    chainDir: '/b/web/c',
    previous: undefined,
    excludeDisks: [],
    compress: false,
    raw: false,
    workDir: '/w',
    signal: new AbortController().signal,
  };

  it('a local URI gets no remote options', () => {
    expect(remoteArgsFor('qemu:///system', 0)).toBeUndefined();
    expect(virtnbdbackupArgv({ ...req, uri: 'qemu:///system' }, V1)).not.toContain('--nbd-port');
  });

  it('ssh user from the URI, one NBD port range per concurrent job, IP literal as NBD address', () => {
    expect(remoteArgsFor(SSH, 0)).toEqual({ sshUser: 'root', nbdPort: NBD_PORT_BASE, nbdIp: '127.0.0.1' });
    expect(remoteArgsFor('qemu+ssh://backup@hv1/system', 2)).toEqual({ sshUser: 'backup', nbdPort: NBD_PORT_BASE + 2 * NBD_PORT_STRIDE });
    expect(remoteArgsFor('qemu+ssh://hv1/system', 0)?.sshUser).toBe('root');
    const argv = virtnbdbackupArgv(req, V1, 1);
    expect(argv.slice(argv.indexOf('--ssh-user'))).toEqual([
      '--ssh-user',
      'root',
      '--nbd-port',
      String(NBD_PORT_BASE + NBD_PORT_STRIDE),
      '--nbd-ip',
      '127.0.0.1',
    ]);
  });
});

describe('optionsForHost', () => {
  it('gives a host its own domain names in the plain list and in the tag selection (a filter may leave one host empty)', async () => {
    const { optionsForHost } = await import('../../../src/fleet/index.js');
    const options = { domains: ['h1/web'], selection: { domains: ['h1/web'], tags: ['prod'], tagAny: false, exclude: [] }, output: '/b' };
    expect(optionsForHost(options, ['web'])).toEqual({
      domains: ['web'],
      selection: { domains: ['web'], tags: ['prod'], tagAny: false, exclude: [], emptyIsFine: true },
      output: '/b',
    });
    expect(optionsForHost({ domains: undefined, output: '/b' }, undefined)).toEqual({ domains: undefined, output: '/b' });
  });
});
