/**
 * argv builders for the tools behind `vmkeep mount`: qemu-storage-daemon (a read-only FUSE
 * export of a qcow2 chain as a raw file), losetup and mount/umount. Options for QEMU are given
 * as JSON, so a path with a comma needs no QEMU-style escaping.
 */

/**
 * qemu-storage-daemon: the image (and its backing chain) exported as the raw file `rawFile`;
 * read-only, or (`writable`, for a throwaway overlay) with the overlay writable. QEMU opens
 * backing files read-only either way.
 */
export function storageDaemonArgv(image: string, rawFile: string, pidFile: string, writable = false): string[] {
  const ro = writable ? {} : { 'read-only': true };
  return [
    '--blockdev',
    JSON.stringify({ driver: 'file', 'node-name': 'vmkeep-file', filename: image, ...ro }),
    '--blockdev',
    JSON.stringify({ driver: 'qcow2', 'node-name': 'vmkeep-qcow2', file: 'vmkeep-file', ...ro }),
    '--export',
    JSON.stringify({ type: 'fuse', id: 'vmkeep-export', 'node-name': 'vmkeep-qcow2', mountpoint: rawFile, writable }),
    '--pidfile',
    pidFile,
    '--daemonize',
  ];
}

/** What holds the filesystem: the raw file (or a byte range of it, a partition), or a partition device. */
export type FilesystemSource = { kind: 'file'; file: string; offset?: number; size?: number } | { kind: 'device'; device: string };

/** `mount` of a filesystem source with these options (a file through a loop device). */
export function mountArgv(source: FilesystemSource, mountpoint: string, options: readonly string[]): string[] {
  if (source.kind === 'device') return ['-o', options.join(','), '--', source.device, mountpoint];
  const range = source.offset === undefined ? [] : [`offset=${source.offset}`, `sizelimit=${source.size}`];
  return ['-o', [...options, 'loop', ...range].join(','), '--', source.file, mountpoint];
}

/** A loop device with its partitions scanned; prints the device. */
export function losetupAttachArgv(file: string): string[] {
  return ['--find', '--show', '--partscan', '--', file];
}

/** The partition table as JSON (sfdisk only reads). */
export function sfdiskJsonArgv(file: string): string[] {
  return ['--json', '--', file];
}

export interface PartitionEntry {
  number: number;
  offset: number;
  size: number;
  /** MBR: the type byte in hex ("83", "5" for an extended container); GPT: the type GUID. */
  type?: string;
}

/** `sfdisk --json` → partitions by number, in bytes (MBR and GPT alike). */
export function parsePartitionTable(stdout: string): PartitionEntry[] {
  const table = (
    JSON.parse(stdout) as {
      partitiontable?: { device?: string; sectorsize?: number; partitions?: Array<{ node?: string; start?: number; size?: number; type?: string }> };
    }
  ).partitiontable;
  const device = table?.device ?? '';
  const sector = table?.sectorsize ?? 512;
  return (table?.partitions ?? []).flatMap((p) => {
    // The node is the device's name and the number, with a 'p' between when the name ends in a digit.
    const m = p.node?.startsWith(device) ? /^p?(\d+)$/.exec(p.node.slice(device.length)) : null;
    if (!m || p.start === undefined || p.size === undefined) return [];
    return [{ number: Number(m[1]), offset: p.start * sector, size: p.size * sector, ...(p.type === undefined ? {} : { type: p.type.toLowerCase() }) }];
  });
}

/** MBR extended containers (types 5, f, 85) hold the logical partitions, not a filesystem of their own. */
export function isContainerPartition(p: PartitionEntry): boolean {
  return p.type === '5' || p.type === 'f' || p.type === '85';
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

/** Mount points in /proc/self/mountinfo (field 5, octal escapes decoded). */
function mountPoints(mountinfo: string): string[] {
  return mountinfo.split('\n').flatMap((line) => {
    const field = line.split(' ')[4];
    return field === undefined ? [] : [field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))];
  });
}

/** Is `path` a mount point, per /proc/self/mountinfo? */
export function isMountedIn(mountinfo: string, path: string): boolean {
  return mountPoints(mountinfo).includes(path);
}

/** Mount points inside the folder `dir` (not `dir` itself), deepest first: the order to unmount them in. */
export function mountPointsUnder(mountinfo: string, dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return [...new Set(mountPoints(mountinfo).filter((p) => p.startsWith(prefix)))].sort((a, b) => b.length - a.length);
}
