/**
 * restic, the engine for offsite copies: argv builders, parsers of its `--json` output, a client.
 *
 * Words:
 * - repository: a restic repository (`/path`, `sftp:host:/path`, `rest:http://...`, `s3:...`,
 *   `rclone:remote:path`); always handed to restic in RESTIC_REPOSITORY, never in argv, so a URL
 *   with credentials stays out of `ps`.
 * - password file: the repository password, handed over in RESTIC_PASSWORD_FILE (never argv).
 * - snapshot: one restic snapshot; vmkeep makes one per restore point, tagged `vmkeep`,
 *   `host=`, `domain=`, `chain=`, `checkpoint=` (values URI-encoded: restic splits tags on commas).
 * - pack: a file of restic's `data/` folder; `check --read-data` names a damaged one.
 */
export { ResticClient, type ResticRepo } from './client.js';
export { pointTags, readPointTags, redactRepository } from './tags.js';
