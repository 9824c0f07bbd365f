/**
 * argv builders for the tools behind `vmkeep mount`: qemu-storage-daemon (a read-only FUSE
 * export of a qcow2 chain as a raw file), losetup and mount/umount. Options for QEMU are given
 * as JSON, so a path with a comma needs no QEMU-style escaping.
 */

/** qemu-storage-daemon: the image (and its backing chain) read-only, exported as the raw file `rawFile`. */
export function storageDaemonArgv(image: string, rawFile: string, pidFile: string): string[] {
  return [
    '--blockdev',
    JSON.stringify({ driver: 'file', 'node-name': 'vmkeep-file', filename: image, 'read-only': true }),
    '--blockdev',
    JSON.stringify({ driver: 'qcow2', 'node-name': 'vmkeep-qcow2', file: 'vmkeep-file', 'read-only': true }),
    '--export',
    JSON.stringify({ type: 'fuse', id: 'vmkeep-export', 'node-name': 'vmkeep-qcow2', mountpoint: rawFile, writable: false }),
    '--pidfile',
    pidFile,
    '--daemonize',
  ];
}

/** Read-only loop mount of a file holding a filesystem (`noload`: ext3/4 replay no journal). */
export function mountFileArgv(file: string, mountpoint: string, noload: boolean): string[] {
  return ['-o', noload ? 'ro,loop,noload' : 'ro,loop', '--', file, mountpoint];
}

export function mountDeviceArgv(device: string, mountpoint: string, noload: boolean): string[] {
  return ['-o', noload ? 'ro,noload' : 'ro', '--', device, mountpoint];
}

/** A read-only loop device with its partitions scanned; prints the device. */
export function losetupAttachArgv(file: string): string[] {
  return ['--find', '--show', '--read-only', '--partscan', '--', file];
}

export function losetupDetachArgv(device: string): string[] {
  return ['--detach', device];
}

/** Loop devices backed by `file` (`/dev/loop3: []: (/path)` lines). */
export function losetupListArgv(file: string): string[] {
  return ['--associated', file];
}

export function umountArgv(mountpoint: string, lazy: boolean): string[] {
  return [...(lazy ? ['--lazy'] : []), '--', mountpoint];
}

/** Loop devices named in `losetup --associated` output. */
export function parseLoopDevices(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => /^(\/dev\/loop\d+):/.exec(l.trim())?.[1])
    .filter((d): d is string => d !== undefined);
}

/** Is `path` a mount point, per /proc/self/mountinfo (field 5, octal escapes decoded)? */
export function isMountedIn(mountinfo: string, path: string): boolean {
  return mountinfo.split('\n').some((line) => {
    const field = line.split(' ')[4];
    return field !== undefined && field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) === path;
  });
}
