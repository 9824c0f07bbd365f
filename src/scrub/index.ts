/**
 * `vmkeep scrub`: remove backup checkpoints and dirty bitmaps from domains.
 *
 * Words:
 * - checkpoint: libvirt's record of a point in time (`virsh checkpoint-list`), naming one dirty
 *   bitmap per disk; an incremental backup copies what changed since a checkpoint.
 * - bitmap: a persistent dirty bitmap in a qcow2 image, one bit per cluster written since it was
 *   made. While the domain runs QEMU holds the live copy (ask QMP); when it is off, the image file
 *   does (ask qemu-img).
 * - orphan bitmap: a bitmap no checkpoint refers to (left by a crash, a hand-made checkpoint
 *   deleted with --metadata, or a tool that made it directly).
 * - dangling checkpoint: a checkpoint whose bitmap is gone; libvirt's plain delete fails on it and
 *   virtnbdbackup's full backup fails too, so scrub drops its metadata only.
 * - vmkeep-owned name: `virtnbdbackup.N` (the engine's fixed names) or `vmkeep.*` (reserved);
 *   anything else is left alone unless --force.
 * - plan: the ordered actions planScrub derives from a snapshot of the domain, each with a reason;
 *   --dry-run prints it, a real run carries it out and re-reads the domain to judge it.
 *
 * The planner, its executor and the domain reading they share with the in-place restore are in
 * src/domain/ (plan-scrub.ts, execute-scrub.ts, read-scrub-state.ts).
 *
 * docs/SCRUB.md records how libvirt 9.0 / QEMU 7.2 behave, which shapes the plan.
 */
export { runScrub, type ScrubOptions } from './run-scrub.js';
export type { ScrubDocument } from './types.js';
