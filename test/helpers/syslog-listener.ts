/**
 * A Unix datagram socket a test listens on, standing where /dev/log stands. Node has no Unix
 * datagram sockets, so a small python3 process binds it and prints every datagram as one JSON
 * string per line.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

const LISTENER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready", flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps(data.decode("utf-8", "replace")), flush=True)
`;

export interface SyslogListener {
  socket: string;
  messages: string[];
  close(): void;
}

export async function listenSyslog(socketPath: string): Promise<SyslogListener> {
  fs.rmSync(socketPath, { force: true });
  const child = spawn('python3', ['-c', LISTENER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  let buffered = '';
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.stdout.on('data', (c: Buffer) => {
      buffered += c.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const l of lines) {
        if (l === 'ready') resolve();
        else if (l !== '') messages.push(JSON.parse(l) as string);
      }
    });
  });
  return {
    socket: socketPath,
    messages,
    close: () => {
      child.kill('SIGTERM');
      fs.rmSync(socketPath, { force: true });
    },
  };
}
