/** Where mount records its mounts (apart from run-mount.ts: building the options does not load mount). */
export function mountStateDir(env: NodeJS.ProcessEnv): string {
  return env['VMKEEP_MOUNT_DIR'] ?? '/run/vmkeep/mounts';
}
