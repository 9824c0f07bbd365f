/**
 * argv builders for virtnbdbackup and virtnbdrestore (pure). Only options that mean the same in
 * 1.9.15 and 2.x are used, always in their long form: `-S` is --scratchdir in 1.x but
 * --start-domain in 2.x, `-L` is --syslog for virtnbdbackup but --logfile for virtnbdrestore.
 * docs/VIRTNBDBACKUP.md explains each choice.
 */
import { usageError } from '../errors.js';

/** A virtnbdbackup/virtnbdrestore version, from `--version` ("1.9.15"). */
export interface ToolVersion {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

/** Parse `virtnbdbackup --version` output; null if it is not a version. */
export function parseToolVersion(stdout: string): ToolVersion | null {
  const m = /^\s*(\d+)\.(\d+)(?:\.(\d+))?\s*$/.exec(stdout);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), text: stdout.trim() };
}

/** What one virtnbdbackup run should do. */
export interface BackupArgs {
  domain: string;
  /** Never 'auto': vmkeep decides the level itself. */
  level: 'full' | 'inc' | 'diff' | 'copy';
  outputDir: string;
  /** NBD socket; QEMU creates it, so its folder must be writable by the QEMU user. */
  socketFile: string;
  /** Where libvirt puts the backup job's scratch files (default /var/tmp). */
  scratchDir: string;
  uri?: string;
  /** true = lz4 level 2 (virtnbdbackup's default); a number = that level (1..16). */
  compress?: boolean | number;
  exclude?: readonly string[];
  /** Include raw-format disks (copied whole every time). */
  raw?: boolean;
  include?: string;
  workers?: number;
  noProgress?: boolean;
  /** Only log "Estimated checkpoint backup size" for an inc/diff and exit 0. */
  printOnly?: boolean;
  verbose?: boolean;
  /** Remote mode (a `qemu+ssh://` URI to another machine): how the remote side is reached. */
  remote?: RemoteArgs;
}

/**
 * virtnbdbackup's remote mode (same options in 1.9.15 and 2.x). It is remote only when libvirtd's
 * hostname differs from the local one; then QEMU serves NBD on TCP (one port per concurrent
 * backup job; an offline backup takes port+1.. per disk) and files are copied over ssh (port 22).
 */
export interface RemoteArgs {
  /** User for virtnbdbackup's own ssh session (default root). */
  sshUser: string;
  /** The TCP port QEMU's NBD server listens on for this run: unique per concurrent job on a host. */
  nbdPort: number;
  /** Address QEMU binds NBD to and vmkeep connects to (default: the hostname libvirtd reports). */
  nbdIp?: string;
}

/** argv (after the program name) for one virtnbdbackup run. */
export function buildBackupArgv(args: BackupArgs, version: ToolVersion): string[] {
  const argv = [
    '--uri',
    args.uri ?? 'qemu:///system',
    '--domain',
    args.domain,
    '--level',
    args.level,
    '--output',
    args.outputDir,
    '--socketfile',
    args.socketFile,
    '--scratchdir',
    args.scratchDir,
  ];
  if (args.compress === true) argv.push('--compress');
  else if (typeof args.compress === 'number') {
    // 0 writes uncompressed payloads but "compressed": 0 in the meta header, which
    // virtnbdrestore then reads as compressed: such a backup does not restore.
    if (!Number.isInteger(args.compress) || args.compress < 1 || args.compress > 16) {
      throw usageError(`compression level must be 1..16, got ${args.compress}`);
    }
    // One token: --compress takes an optional value (nargs='?').
    argv.push(`--compress=${args.compress}`);
  }
  if (args.exclude && args.exclude.length > 0) argv.push('--exclude', joinDisks(args.exclude));
  if (args.raw) argv.push('--raw');
  if (args.include !== undefined) argv.push('--include', checkDisk(args.include));
  if (args.workers !== undefined) argv.push('--worker', String(args.workers));
  if (args.noProgress) argv.push('--noprogress');
  if (args.printOnly) argv.push('--printonly');
  if (args.verbose) argv.push('--verbose');
  if (args.remote) {
    const { sshUser, nbdPort, nbdIp } = args.remote;
    if (!Number.isInteger(nbdPort) || nbdPort < 1 || nbdPort > 65535) throw usageError(`NBD port must be 1..65535, got ${nbdPort}`);
    argv.push('--ssh-user', sshUser, '--nbd-port', String(nbdPort));
    if (nbdIp !== undefined) argv.push('--nbd-ip', nbdIp);
  }
  if (version.major >= 2) argv.push('--nocolor');
  return argv;
}

/** What one virtnbdrestore run should do. */
export interface RestoreArgs {
  inputDir: string;
  outputDir: string;
  socketFile: string;
  /** Where virtnbdrestore appends its log (default $HOME/virtnbdrestore.log; fails without HOME). */
  logFile: string;
  uri?: string;
  /**
   * Data file names (relative to inputDir) to apply in this order, for one disk. Restores that
   * disk to `outputDir/<disk>`; no --until needed or allowed: the list ends at the restore point.
   */
  sequence?: readonly string[];
  /** Checkpoint to stop at. Unreliable in 1.9.15 (see docs); prefer `sequence`. */
  until?: string;
  disk?: string;
  noProgress?: boolean;
  verbose?: boolean;
}

/** argv (after the program name) for one virtnbdrestore run. */
export function buildRestoreArgv(args: RestoreArgs, version: ToolVersion): string[] {
  const argv = [
    '--uri',
    args.uri ?? 'qemu:///system',
    '--input',
    args.inputDir,
    '--output',
    args.outputDir,
    '--socketfile',
    args.socketFile,
    '--logfile',
    args.logFile,
  ];
  if (args.sequence !== undefined) {
    if (args.until !== undefined) {
      // 1.9.15 raises UntilCheckpointReached out of restoreSequence: traceback, exit 1.
      throw usageError('virtnbdrestore: give either a sequence or an until checkpoint, not both');
    }
    if (args.sequence.length === 0) throw usageError('virtnbdrestore: empty sequence');
    for (const name of args.sequence) {
      if (name.includes(',') || name.includes('/'))
        throw usageError(`virtnbdrestore: sequence entry ${JSON.stringify(name)} must be a plain file name without commas`);
    }
    if (!/\.(full|copy)\.data$/.test(args.sequence[0]!)) {
      throw usageError(`virtnbdrestore: a sequence must start with a full or copy data file, not ${args.sequence[0]}`);
    }
    argv.push('--sequence', args.sequence.join(','));
  }
  if (args.until !== undefined) argv.push('--until', args.until);
  if (args.disk !== undefined) argv.push('--disk', checkDisk(args.disk));
  if (args.noProgress) argv.push('--noprogress');
  if (args.verbose) argv.push('--verbose');
  if (version.major >= 2) argv.push('--nocolor');
  return argv;
}

/** argv of the checksum verify of virtnbdrestore 1.9.40+ (adler32 `.chksum` files written by the backup). */
export function buildRestoreVerifyArgv(inputDir: string, outputDir: string): string[] {
  return ['--action', 'verify', '--input', inputDir, '--output', outputDir, '--noprogress'];
}

function checkDisk(disk: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(disk)) throw usageError(`not a disk target name: ${JSON.stringify(disk)}`);
  return disk;
}

function joinDisks(disks: readonly string[]): string {
  return disks.map(checkDisk).join(',');
}
