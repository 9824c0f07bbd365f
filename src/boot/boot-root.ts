/** Where boot puts a new domain's overlays without --dir: DEFAULT_BOOT_ROOT/NAME (apart from run-boot.ts: --help names it without loading boot). */
export const DEFAULT_BOOT_ROOT = '/var/lib/libvirt/images/vmkeep-boot';
