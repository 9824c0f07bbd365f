/**
 * A private sshd on 127.0.0.1 for remote-host and sftp tests: its own config, host key, client
 * key and authorized_keys in a temp folder, root login by key only, a free high port. Started
 * and stopped by the test (by its own pid); a system sshd is never touched.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export interface TestSshd {
  port: number;
  dir: string;
  /** Private key of the client (root may log in with it). */
  clientKey: string;
  /** `qemu+ssh://root@127.0.0.1:PORT/system?keyfile=KEY&no_verify=1` */
  libvirtUri: string;
  /** ssh options for restic's sftp backend (`-o sftp.command=...`). */
  sftpCommand: string;
  stop(): Promise<void>;
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve();
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`sshd did not listen on 127.0.0.1:${port}`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

export async function startTestSshd(): Promise<TestSshd> {
  const dir = fs.mkdtempSync('/tmp/vmkeep-test-sshd-');
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = path.join(dir, 'host_ed25519');
  const clientKey = path.join(dir, 'client_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
  fs.copyFileSync(`${clientKey}.pub`, path.join(dir, 'authorized_keys'));
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The temp folder is the test's: skip the ownership checks meant for home folders.
      'StrictModes no',
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  // -D: stays in the foreground, so the child's pid is sshd's own and the test stops exactly it.
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (c: Buffer) => {
    log += c.toString();
  });
  try {
    await waitForPort(port, 10_000);
  } catch (e) {
    child.kill('SIGTERM');
    throw new Error(`${(e as Error).message}: ${log}`, { cause: e });
  }
  const sshOpts = [
    '-i',
    clientKey,
    '-p',
    String(port),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    `UserKnownHostsFile=${path.join(dir, 'known_hosts')}`,
    '-o',
    'BatchMode=yes',
  ];
  return {
    port,
    dir,
    clientKey,
    libvirtUri: `qemu+ssh://root@127.0.0.1:${port}/system?keyfile=${clientKey}&no_verify=1`,
    sftpCommand: ['ssh', ...sshOpts, 'root@127.0.0.1', '-s', 'sftp'].join(' '),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
          return;
        }
        child.once('exit', () => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
