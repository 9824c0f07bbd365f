/**
 * The retention model: what the planner reads (histories of chains of points), what it is told
 * (a policy) and what it answers (a plan). Plans and simulation results hold only strings,
 * numbers, booleans and arrays, so `--json` can print them as they are.
 */

/** One restore point: a checkpoint inside a chain. */
export interface RetentionPoint {
  /** Checkpoint name, e.g. `virtnbdbackup.3`. */
  readonly id: string;
  readonly time: Date;
  /**
   * Place in the domain's recording order (absent: recorded before it was kept). Where the order
   * and the dates disagree (the host clock ran ahead, then was put back), the order wins: a point
   * recorded later is never older to the rules than one recorded before it.
   */
  readonly sequence?: number | undefined;
  /** Kept whatever the policy; does not count toward keep-N. */
  readonly protected: boolean;
}

/** Where a chain stands: finished and usable, being written, or known to be damaged. */
export type ChainState = 'complete' | 'in-progress' | 'broken';

/** A full backup and its incrementals: deleted whole or not at all. */
export interface RetentionChain {
  /** Chain folder name, e.g. `vmsnap-backup-monthly-2026-11` or `vmsnap-backup-monthly-2026-11.2`. */
  readonly id: string;
  readonly domain: string;
  /** Start of the period the chain belongs to, if known (else its oldest point decides). */
  readonly periodStart: Date | undefined;
  readonly state: ChainState;
  readonly protected: boolean;
  /**
   * Single points can be dropped by merging them into their child: any point of a chain of
   * qcow2 point images (push engine, `true`), the incrementals of a virtnbdbackup chain
   * (`'incrementals'`: its full stays). Other chains are deleted whole or not at all.
   */
  readonly mergeable?: boolean | 'incrementals' | undefined;
  /**
   * When the chain's last `vmkeep verify` failed (the manifest's lastVerify); undefined when it
   * passed or was never verified. Such a chain is neither the safety anchor nor a rule's pick,
   * and prune never removes it: a person decides what of it is still worth keeping.
   */
  readonly verifyFailedAt?: Date | undefined;
  /**
   * Recorded files of the chain are missing or changed size (what is wrong, in words). Like a
   * chain verify failed, it is neither the anchor nor a rule's pick, and prune never removes it:
   * the points before the damage may still restore, and a person decides.
   */
  readonly damaged?: string | undefined;
  /** Oldest first. */
  readonly points: readonly RetentionPoint[];
}

/** Everything the planner knows about one domain. */
export interface DomainHistory {
  readonly domain: string;
  readonly chains: readonly RetentionChain[];
  /** When the latest backup failed, nothing of the domain is pruned (unless forced). */
  readonly lastBackupFailed: boolean;
}

/** How backups are grouped into chains, as VMSnap's `--groupBy`. */
export type GroupBy = 'month' | 'quarter' | 'bi-annual' | 'year';

/** A calendar length such as `1d12h`; months and years follow the calendar, not 30/365 days. */
export interface Duration {
  readonly years: number;
  readonly months: number;
  readonly weeks: number;
  readonly days: number;
  readonly hours: number;
  /** Normalised spelling, e.g. `1d12h`. */
  readonly text: string;
}

/** A do-snapshot tier `INTERVAL:AGE`: one point per INTERVAL among points older than AGE. */
export interface KeepTier {
  readonly interval: Duration;
  readonly age: Duration;
  /** Normalised spelling, e.g. `1w:1m`. */
  readonly text: string;
}

/** Which points and chains to keep; every rule is optional and the rules are ORed. */
export interface RetentionPolicy {
  /** Period length for the VMSnap rule (and chain grouping in simulations). */
  readonly groupBy?: GroupBy | undefined;
  /** VMSnap's rule: drop earlier periods once the current one is 15/45/90/180 days old. */
  readonly vmsnapRule?: boolean | undefined;
  readonly keepLast?: number | undefined;
  readonly keepHourly?: number | undefined;
  readonly keepDaily?: number | undefined;
  readonly keepWeekly?: number | undefined;
  readonly keepMonthly?: number | undefined;
  readonly keepYearly?: number | undefined;
  readonly keepWithin?: Duration | undefined;
  /** Sorted youngest AGE first. */
  readonly keepTiers?: readonly KeepTier[] | undefined;
}

/**
 * Each domain's own policy (from the config file's layers); undefined: no policy applies to the
 * domain, and nothing of it is pruned.
 */
export type PolicyFor = (domain: string) => RetentionPolicy | undefined;

/** Domains that share one policy, and that policy in words (as `PrunePlan.policy` says it). */
export interface PolicyGroup {
  readonly domains: readonly string[];
  readonly lines: readonly string[];
}

/** The raw retention options as the CLI or a config file gives them (validated by parsePolicy). */
export interface RawRetentionOptions {
  groupBy?: unknown;
  vmsnapRule?: unknown;
  keepLast?: unknown;
  keepHourly?: unknown;
  keepDaily?: unknown;
  keepWeekly?: unknown;
  keepMonthly?: unknown;
  keepYearly?: unknown;
  keepWithin?: unknown;
  keepTiers?: unknown;
}

export type PruneAction = 'keep' | 'remove';

/** A point a rule selected, and the rule's words for it (e.g. `keep-daily 3/7`). */
export interface PointReason {
  readonly pointId: string;
  readonly reason: string;
}

/**
 * What happens to one point; it always follows its chain. Its time is in the history: a plan
 * over 100k points spends most of its time formatting dates, so only chains carry them.
 */
export interface PointDecision {
  readonly id: string;
  readonly action: PruneAction;
  /** Rules that selected this point, or why it goes along with its chain. */
  readonly reasons: readonly string[];
}

/** What happens to one chain, and why. */
export interface ChainDecision {
  readonly id: string;
  readonly state: ChainState;
  readonly action: PruneAction;
  /** Most important first: safety rules, period rule, then the points that kept it. */
  readonly reasons: readonly string[];
  /** The points whose selection keeps this chain. */
  readonly keptBy: readonly PointReason[];
  /** ISO 8601 of the oldest and newest point, if any. */
  readonly oldest: string | undefined;
  readonly newest: string | undefined;
  readonly points: readonly PointDecision[];
}

/**
 * Points of a kept push chain that go by merging them into the next kept point (`into`): its
 * image is rewritten to hold their data where it did not change it, and rests on `newParent`
 * afterwards (none: it becomes the chain's full).
 */
export interface PointMerge {
  readonly chain: string;
  /** Consecutive points, oldest first, ending right before `into`. */
  readonly dropped: readonly string[];
  readonly into: string;
  readonly newParent: string | undefined;
  readonly reasons: readonly string[];
}

/** One domain's part of a prune plan. */
export interface DomainPlan {
  readonly domain: string;
  readonly lastBackupFailed: boolean;
  readonly keep: readonly ChainDecision[];
  readonly remove: readonly ChainDecision[];
  /** Point-level drops inside kept chains (only with `mergePoints`), oldest first per chain. */
  readonly merges: readonly PointMerge[];
  /** No policy applies to this domain (a per-domain policy said none): nothing of it is pruned. */
  readonly noPolicy?: true;
}

/** The pure answer of planPrune: what an executor deletes, and what `--dry-run` prints. */
export interface PrunePlan {
  /** ISO 8601 of the `now` the plan was made for. */
  readonly now: string;
  readonly force: boolean;
  /**
   * describePolicy's lines, so a printed plan says which policy made it. With a policy per
   * domain: `for D1, D2:` and that policy's rules indented below it, per distinct policy.
   */
  readonly policy: readonly string[];
  /** Which domains each distinct policy applies to (one group when one policy is for all). */
  readonly policies: readonly PolicyGroup[];
  readonly warnings: readonly string[];
  readonly domains: readonly DomainPlan[];
  readonly totals: PruneTotals;
}

export interface PruneTotals {
  readonly keptChains: number;
  readonly removedChains: number;
  readonly keptPoints: number;
  /** Points removed with their chain or merged into their child. */
  readonly removedPoints: number;
  /** Of removedPoints, those merged into their child (kept chains). */
  readonly mergedPoints: number;
}

export interface PlanPruneOptions {
  /** Prune even a domain whose latest backup failed. */
  readonly force?: boolean;
  /** Drop single points of mergeable (push) chains by merging them into their child. */
  readonly mergePoints?: boolean;
  /** What the warning about a domain without a policy tells the user to do. */
  readonly noPolicyHint?: string;
}

/** Input of a do-snapshot style `--simulate`. */
export interface SimulationRequest {
  /** How often the scheduled job runs (backup, then prune). */
  readonly every: Duration;
  /** How long the simulation runs. */
  readonly over: Duration;
  readonly policy: RetentionPolicy;
  /** Skip a backup when the last one is younger than this. */
  readonly ifOlderThan?: Duration | undefined;
  /** Chain grouping; defaults to the policy's groupBy; none = one chain per backup. */
  readonly groupBy?: GroupBy | undefined;
  readonly start: Date;
  /** Model point-level prune: the points no rule keeps are merged into their child. */
  readonly mergePoints?: boolean | undefined;
  /**
   * The engine of the chains the simulation backs up into (default virtnbdbackup): a push chain's
   * full merges into its child like any point; a virtnbdbackup chain's full never does.
   */
  readonly engine?: SimulatedEngine | undefined;
  /**
   * Start from these recorded chains (one domain's, as a repository holds them) instead of
   * nothing: the first run, at `start`, only prunes them (what `prune` would do now); each later
   * run backs up and prunes. A recorded chain merges as its own engine does.
   */
  readonly history?: DomainHistory | undefined;
}

export type SimulatedEngine = 'virtnbdbackup' | 'push';

/** A merge a simulated run made: `dropped` folded into `into`, at `time` (ISO 8601). */
export interface SimulatedMerge extends Omit<PointMerge, 'reasons'> {
  readonly time: string;
}

/** A chain a simulated run removed whole, at `time` (ISO 8601). */
export interface SimulatedRemoval {
  readonly time: string;
  readonly chain: string;
  readonly points: readonly string[];
}

/** A point still present at the end of a simulation. */
export interface SimulatedPoint {
  readonly chain: string;
  readonly point: string;
  /** ISO 8601. */
  readonly time: string;
  readonly reasons: readonly string[];
}

/** What a simulation did and what survived it. */
export interface SimulationResult {
  readonly every: string;
  readonly over: string;
  readonly ifOlderThan: string | undefined;
  readonly groupBy: GroupBy | undefined;
  /** ISO 8601 of the first and last run. */
  readonly start: string;
  readonly end: string;
  readonly policy: readonly string[];
  readonly runs: number;
  readonly backups: number;
  readonly skippedBackups: number;
  readonly removedChains: number;
  readonly removedPoints: number;
  /** Of removedPoints, those merged into their child (with mergePoints). */
  readonly mergedPoints: number;
  readonly engine: SimulatedEngine;
  /** The domain whose recorded chains the simulation started from (none: it started empty). */
  readonly from: string | undefined;
  /** Every merge, in the order the runs made them. */
  readonly merges: readonly SimulatedMerge[];
  /** Every chain removed whole, in the order the runs removed them. */
  readonly removals: readonly SimulatedRemoval[];
  /** Oldest first. */
  readonly surviving: readonly SimulatedPoint[];
  readonly warnings: readonly string[];
}

/** What pruning one domain after its backup did (`backup --prune`): chains removed, kept, failed. */
export interface PruneOutcome {
  removed: string[];
  kept: string[];
  failed: Array<{ chain: string; error: string }>;
}
