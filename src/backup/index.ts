/**
 * `vmkeep backup`: full and incremental backups of libvirt domains, in chains by period.
 *
 * Words:
 * - checkpoint: libvirt's record of a point in time (`virtnbdbackup.N`), one dirty bitmap per
 *   disk; the next incremental copies what changed since it. libvirt 9 keeps every checkpoint's
 *   bitmap recording, so an incremental from checkpoint N needs only N's bitmap.
 * - chain: one folder OUTPUT/<domain>/<period folder>[.N] holding a full and the incrementals
 *   after it, with vmkeep's manifest (vmkeep-manifest.json) beside virtnbdbackup's own files.
 * - period: the month/quarter/half/year a chain belongs to (VMSnap's --groupBy); a new period
 *   starts a new chain with a full.
 * - restore point: a checkpoint the manifest recorded after its run finished. Anything in a
 *   folder the manifest does not record (a `.partial`, files and `.cpt` entries of a killed run)
 *   is a leftover, and the next run removes it.
 * - repair: a step planBackup adds, with its reason, to undo what an interrupted run or a crashed
 *   QEMU left behind (a running job, an orphan checkpoint, a bitmap in the way) before backing up.
 * - failure record: a failed run's event in its chain's manifest, in vmkeep's words (classified:
 *   no space, domain gone, permission, timeout, lock, engine missing or too old), written after the
 *   run's unrecorded files and checkpoint are removed; the next run says "the previous run failed".
 * - space estimate: what a run will write (a full: the disks' allocated size; an inc: the dirty
 *   bytes of the last checkpoint's bitmap); a run clearly short of space fails before it starts.
 * - offline point: one taken while the guest did not run (a shut-off domain, or --stop): the
 *   domain is started paused for the checkpoint and the plan is made from the images; after the
 *   run a domain vmkeep only started is shut off again, one --stop shut down is resumed
 *   (domain-power.ts).
 * - plan: planBackup's pure decision for one domain (skip, refuse, or back up at a level into a
 *   folder after repairs); --dry-run prints it, executeBackup carries it out.
 */
export {};
