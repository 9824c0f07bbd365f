/**
 * The repository: what vmkeep keeps on disk under an output folder. backup writes it; status,
 * list, restore, verify, prune and protect read it. Commands never walk the folders themselves.
 *
 * Words:
 * - output folder: OUTPUT, given with --output; holds one folder per domain and `.vmkeep.lock`.
 * - chain: OUTPUT/<domain>/<period folder>[.N]: a full backup and the incrementals after it.
 * - period folder: VMSnap's name for a chain's period (`vmsnap-backup-monthly-2026-11`,
 *   `-quarterly-2026-Q4`, `-bi-annually-2026-p2`, `-yearly-2026`); `.N` marks a chain restarted
 *   within its period.
 * - manifest: `vmkeep-manifest.json` in a chain folder, written atomically after every run:
 *   restore points with per-file size and sha256, state, events, protection, last verify.
 * - legacy chain: a VMSnap/virtnbdbackup folder without a manifest; read from its own files.
 * - restore point: a checkpoint a finished run recorded in the manifest.
 * - replica: a restore point copied into a restic repository, recorded on the point (`replicas`).
 * - removal leftover: a chain folder an interrupted prune had renamed to `.vmkeep-removing-*`
 *   and not yet deleted; the next prune finishes it.
 * - merge: a push chain's point dropped by merging it into its child's image (prune
 *   --merge-points); a `merging` record in the manifest marks one a crash left half done.
 * - run history: a domain's last run, last success and last verify, read from its chains'
 *   points and failure events (summarizeRunHistory).
 * - recording order: which point is newest: by each point's `sequence` (its place in the
 *   domain's record), never by its date alone (a clock that ran ahead dates points in the future).
 * - gone domain: a domain folder whose domain libvirt no longer defines (renamed or undefined);
 *   the UUID its manifests record names the domain it was renamed to.
 * - damaged chain: one whose recorded files are not all there with their recorded sizes
 *   (checkRecordedFiles); read as broken, its damage named, whatever its manifest says.
 * - domain verify verdict: failed while any chain still present failed its own last verify,
 *   whatever other chains passed (pickDomainVerify); status, check and metrics use it.
 */
export { listBackedUpDomains, requireOutputFolder, listChains } from './chains.js';
export { MANIFEST_FILE, readManifest, writeManifest, recordReplica, reconcileReplicas, type ReplicaMarkChange, type ChainManifest } from './manifest.js';
export { parseChainFolderName } from './period-folders.js';
