/** Facts about a domain's state word. */
import type { DomainState } from './types.js';

/** Does QEMU hold the disks (checkpoint-delete and QMP work), or only the image files? */
export function isLive(state: DomainState): boolean {
  return state === 'running' || state === 'paused';
}
