/**
 * Retention: which backups to keep, decided by a pure planner (no fs, no runner, no clock).
 *
 * Glossary
 * - point: one restore point, a checkpoint (`virtnbdbackup.3`) with its time.
 * - chain: a full backup and its incrementals in one folder (`vmsnap-backup-monthly-2026-11`).
 *   Chains are deleted whole: a chain stays if any of its points is kept.
 * - merge: point-level retention inside a chain (`mergePoints`): a point no rule keeps is
 *   dropped by merging it into its child, whose image (push) or stream (virtnbdbackup, never
 *   the full) then holds its data. simulate models both engines.
 * - period: the month/quarter/half-year/year a chain belongs to (VMSnap's `groupBy`).
 * - current period: the period containing `now`.
 * - VMSnap period rule: earlier periods' chains go once the current period is 15 (month),
 *   45 (quarter), 90 (bi-annual) or 180 (year) days old, and only once the domain has a
 *   complete chain in the current period.
 * - bucket: the local hour/day/ISO week/month/year a point falls in; keep-daily 7 keeps the
 *   newest point of each of the 7 newest days that have one (restic's semantics).
 * - keep-within D: every point newer than `now - D`.
 * - tier `INTERVAL:AGE` (do-snapshot): among points older than AGE, one per INTERVAL, walking
 *   from the oldest; tiers run youngest AGE first, each thinning what the previous left, so an
 *   older tier can never keep more often than a younger one (findPolicyWarnings says so).
 *   `0d:AGE` keeps nothing older than AGE. Points younger than every AGE are not thinned.
 * - policy per domain: planPrune takes one policy for every domain, or a function giving each
 *   domain its own (`vmkeep prune` with the config file); a domain it gives none is held.
 * - reason: the words on every decision ("keep-daily 3/7", "newest complete chain"...).
 * - verify-failed chain: one whose last `vmkeep verify` failed (`verifyFailedAt`). It is never
 *   the anchor, its points count toward no rule, and prune never removes it (even with `force`):
 *   its earlier points may still restore, so a person inspects it and removes it by hand.
 * - anchor: the newest complete chain verify did not fail; it is never removed.
 * - safety rules: never removed whatever the policy: the anchor, verify-failed chains, chains in
 *   progress, protected chains and chains holding a protected point, and every chain of a
 *   domain whose latest backup failed (unless `force`). Protected points and points of broken
 *   or verify-failed chains do not count toward keep-N.
 *
 * How rules combine: they are ORed, as in restic (not consumed in order, as in Proxmox Backup
 * Server and borg). Each rule picks its points on its own from the same candidates and a chain
 * stays if any rule picked any of its points. Why: deletion is already an OR over the points of
 * a chain; adding a rule can then never remove more (a safe property for a destructive command,
 * checked by a property test); and a reason like "keep-daily 3/7" means the same whatever
 * other rules exist. The cost: overlapping rules share points (today's newest point is both
 * daily 1/7 and weekly 1/4), so for the same numbers history reaches less far back than in
 * PBS; raise the numbers. Tiers are the one place where order matters, by their definition.
 * See docs/RETENTION.md.
 */
export type {
  ChainDecision,
  ChainState,
  DomainHistory,
  PointMerge,
  PrunePlan,
  RawRetentionOptions,
  RetentionChain,
  RetentionPoint,
  SimulationRequest,
} from './types.js';
export { parseDuration, addDuration, subtractDuration } from './duration.js';
export { describePolicy, findPolicyWarnings, hasAnyRule, parsePolicy, policyLines } from './policy.js';
export { planPrune } from './plan-prune.js';
export { parseSimulateOption, simulate } from './simulate.js';
export { renderPrunePlan, renderSimulation } from './render.js';
