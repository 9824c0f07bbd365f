/** The pieces of `vmkeep mount` that read tool output (captured by scripts/capture-mount-fixtures.sh) and build argv. */
import { describe, expect, it } from 'vitest';
import {
  isContainerPartition,
  isMountedIn,
  mountArgv,
  mountPointsUnder,
  parseLoopDevices,
  parsePartitionTable,
  storageDaemonArgv,
} from '../../../src/mount/tools.js';
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

  it('mountinfo: the mount points inside a folder, by their real names, not the folder itself nor a name it prefixes', () => {
    const info = fixture('mount/mountinfo-space.txt');
    expect(mountPointsUnder(info, '/SCRATCH')).toEqual(['/SCRATCH/mnt point']);
    expect(mountPointsUnder(info, '/SCRATCH/')).toEqual(['/SCRATCH/mnt point']);
    expect(mountPointsUnder(info, '/SCRATCH/mnt point')).toEqual([]);
    expect(mountPointsUnder(info, '/SCRATCH/mnt')).toEqual([]);
  });
});

describe('qemu-storage-daemon argv', () => {
  it('passes paths inside JSON options (a comma needs no QEMU escaping) and exports read-only', () => {
    const argv = storageDaemonArgv('/backups/vm,1/vda.vmkeep.0a1b2c3d.1.qcow2', '/run/vmkeep/mounts/x.raw', '/run/vmkeep/mounts/x.pid');
    expect(JSON.parse(argv[1]!)).toEqual({
      driver: 'file',
      'node-name': 'vmkeep-file',
      filename: '/backups/vm,1/vda.vmkeep.0a1b2c3d.1.qcow2',
      'read-only': true,
    });
    expect(JSON.parse(argv[3]!)).toMatchObject({ driver: 'qcow2', 'read-only': true });
    expect(JSON.parse(argv[5]!)).toMatchObject({ type: 'fuse', mountpoint: '/run/vmkeep/mounts/x.raw', writable: false });
    expect(argv.slice(6)).toEqual(['--pidfile', '/run/vmkeep/mounts/x.pid', '--daemonize']);
  });
});

describe('writable overlay export and partitions by offset', () => {
  it('exports a throwaway overlay writable (QEMU opens its backing chain read-only itself)', () => {
    const argv = storageDaemonArgv('/var/tmp/vmkeep-mount-x/replay.qcow2', '/run/vmkeep/mounts/x.raw', '/run/vmkeep/mounts/x.pid', true);
    expect(JSON.parse(argv[1]!)).toEqual({ driver: 'file', 'node-name': 'vmkeep-file', filename: '/var/tmp/vmkeep-mount-x/replay.qcow2' });
    expect(JSON.parse(argv[5]!)).toMatchObject({ type: 'fuse', writable: true });
  });

  it('sfdisk --json (MBR, captured): partition 1 at 1 MiB', () => {
    expect(parsePartitionTable(fixture('mount/sfdisk--json-mbr.json'))).toEqual([{ number: 1, offset: 1048576, size: 129024 * 512, type: '83' }]);
  });

  it('sfdisk --json (MBR with an extended partition, captured): the container is told apart from the logical partition in it', () => {
    const table = parsePartitionTable(fixture('mount/sfdisk--json-extended.json'));
    expect(table.map((p) => [p.number, p.type, isContainerPartition(p)])).toEqual([
      [1, '83', false],
      [2, '5', true],
      [5, '83', false],
    ]);
    expect(table.find((p) => p.number === 5)).toMatchObject({ offset: 24576 * 512, size: 10240 * 512 });
  });

  it('sfdisk --json (GPT, captured): both partitions by number', () => {
    expect(parsePartitionTable(fixture('mount/sfdisk--json-gpt.json')).map((p) => [p.number, p.offset, p.size])).toEqual([
      [1, 2048 * 512, 20480 * 512],
      [2, 22528 * 512, 106496 * 512],
    ]);
  });

  it('mounts a partition of the raw file by offset and size through a loop device', () => {
    expect(mountArgv({ kind: 'file', file: '/r/x.raw', offset: 1048576, size: 66060288 }, '/mnt/a', ['ro'])).toEqual([
      '-o',
      'ro,loop,offset=1048576,sizelimit=66060288',
      '--',
      '/r/x.raw',
      '/mnt/a',
    ]);
    expect(mountArgv({ kind: 'file', file: '/r/x.raw' }, '/mnt/a', ['ro', 'noload'])).toEqual(['-o', 'ro,noload,loop', '--', '/r/x.raw', '/mnt/a']);
    expect(mountArgv({ kind: 'device', device: '/dev/loop3p1' }, '/mnt/a', ['rw'])).toEqual(['-o', 'rw', '--', '/dev/loop3p1', '/mnt/a']);
  });
});
