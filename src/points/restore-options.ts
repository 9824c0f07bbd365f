/**
 * What `vmkeep restore` is asked. `restore --from` (src/replicate/) restores a scratch copy of a
 * replicated chain with the same options, so they live here rather than in either command.
 */
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import type { PointSelector } from './points.js';

export interface InPlaceRequest {
  /** Shut a running domain down for the swap. */
  force: boolean;
  checkpointCurrent: boolean;
  discardOld: boolean;
  shutdownTimeoutMs: number;
}

export type RestoreMode = { kind: 'directory'; dir: string; defineName: string | undefined; keepChain?: boolean } | ({ kind: 'in-place' } & InPlaceRequest);

export interface RestoreOptions {
  domain: string;
  output: string;
  mode: RestoreMode;
  selector: PointSelector;
  disks: readonly string[] | undefined;
  dryRun: boolean;
  lockWaitMs: number;
}

/** A local restore (the restore command), handed to `restore --from` by the CLI: commands don't import each other. */
export type RunRestore = (ctx: AppContext, options: RestoreOptions) => Promise<CommandResult>;
