/** The pieces of `vmkeep mount` that read tool output (captured by scripts/capture-mount-fixtures.sh) and build argv. */
import { describe, expect, it } from 'vitest';
import { isMountedIn, parseLoopDevices, storageDaemonArgv } from '../../../src/mount/tools.js';
import { fixture } from '../../helpers/fixtures.js';

describe('mount tool outputs', () => {
  it('losetup --associated: the loop devices backed by the file', () => {
    expect(parseLoopDevices(fixture('mount/losetup--associated.txt'))).toEqual(['/dev/loop0']);
    expect(parseLoopDevices(fixture('mount/losetup--associated-none.txt'))).toEqual([]);
  });

  it('mountinfo: a mount point with a space (\\040) is found by its real name, a prefix is not', () => {
    const info = fixture('mount/mountinfo-space.txt');
    expect(isMountedIn(info, '/SCRATCH/mnt point')).toBe(true);
    expect(isMountedIn(info, '/SCRATCH/mnt')).toBe(false);
  });
});

describe('qemu-storage-daemon argv', () => {
  it('passes paths inside JSON options (a comma needs no QEMU escaping) and exports read-only', () => {
    const argv = storageDaemonArgv('/backups/vm,1/vda.vmkeep.0a1b2c3d.1.qcow2', '/run/vmkeep/mounts/x.raw', '/run/vmkeep/mounts/x.pid');
    expect(JSON.parse(argv[1]!)).toEqual({ driver: 'file', 'node-name': 'vmkeep-file', filename: '/backups/vm,1/vda.vmkeep.0a1b2c3d.1.qcow2', 'read-only': true });
    expect(JSON.parse(argv[3]!)).toMatchObject({ driver: 'qcow2', 'read-only': true });
    expect(JSON.parse(argv[5]!)).toMatchObject({ type: 'fuse', mountpoint: '/run/vmkeep/mounts/x.raw', writable: false });
    expect(argv.slice(6)).toEqual(['--pidfile', '/run/vmkeep/mounts/x.pid', '--daemonize']);
  });
});
