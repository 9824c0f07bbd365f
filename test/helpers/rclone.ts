/** A REST restic backend served by `rclone serve restic` on 127.0.0.1 (a free port, a temp folder), stopped by the test. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { freePort } from './sshd.js';

export interface TestRestServer {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startRcloneRestic(): Promise<TestRestServer> {
  const dir = fs.mkdtempSync('/tmp/vmkeep-test-rclone-');
  const port = await freePort();
  const child = spawn('rclone', ['serve', 'restic', '--addr', `127.0.0.1:${port}`, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (c: Buffer) => {
    log += c.toString();
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => (s.destroy(), resolve(false)));
    });
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGTERM');
      throw new Error(`rclone serve restic did not listen on 127.0.0.1:${port}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `rest:http://127.0.0.1:${port}/`,
    dir,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', done);
        child.kill('SIGTERM');
      }),
  };
}
