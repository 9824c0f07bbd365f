/** `promtool check metrics` on a metrics textfile: its verdict and what it printed. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

export function promtool(file: string): { ok: boolean; out: string } {
  try {
    return {
      ok: true,
      out: execFileSync('promtool', ['check', 'metrics'], { input: fs.readFileSync(file), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }),
    };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}
