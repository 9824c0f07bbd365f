/** Parsers for the guest agent's answers as virsh prints them. */
import { VmkeepError } from '../errors.js';

/**
 * `virsh domfsfreeze` → the number of filesystems frozen ("Froze 1 filesystem(s)"); undefined
 * when virsh printed nothing (a quiet `-q` session drops that line; exit 0 is the success).
 */
export function parseFsFreezeCount(stdout: string): number | undefined {
  const m = /Froze (\d+) filesystem/.exec(stdout);
  return m ? Number(m[1]) : undefined;
}

/** `qemu-agent-command … guest-fsfreeze-status` → 'frozen' | 'thawed'. */
export function parseFsFreezeStatus(stdout: string): 'frozen' | 'thawed' {
  let reply: unknown;
  try {
    reply = JSON.parse(stdout);
  } catch {
    throw new VmkeepError('failure', `the guest agent's fsfreeze status is not JSON: ${JSON.stringify(stdout.trim().slice(0, 200))}`);
  }
  const value = (reply as { return?: unknown } | null)?.return;
  if (value === 'frozen' || value === 'thawed') return value;
  throw new VmkeepError('failure', `unexpected fsfreeze status from the guest agent: ${JSON.stringify(stdout.trim().slice(0, 200))}`);
}

/** `qemu-agent-command …` → the reply's `return` member. */
export function parseAgentReturn(stdout: string): unknown {
  let reply: unknown;
  try {
    reply = JSON.parse(stdout);
  } catch {
    throw new VmkeepError('failure', `the guest agent's answer is not JSON: ${JSON.stringify(stdout.trim().slice(0, 200))}`);
  }
  if (reply === null || typeof reply !== 'object' || !('return' in reply)) {
    throw new VmkeepError('failure', `unexpected answer from the guest agent: ${JSON.stringify(stdout.trim().slice(0, 200))}`);
  }
  return reply.return;
}
