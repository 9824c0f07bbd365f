/**
 * `vmkeep boot`: instant recovery from a push chain.
 *
 * Words:
 * - boot domain: a new domain defined and started by `vmkeep boot`, whose disks are overlays on
 *   a restore point's images in the repository.
 * - overlay: a fresh qcow2 per disk, in the boot folder, whose backing file is the point's image
 *   (an absolute path into the repository); every write of the boot domain lands in it, the
 *   backup images are only read.
 * - boot record: `vmkeep-boot.json` beside the overlays: which domain, point and images; finish
 *   and discard find it through the domain's disks.
 * - finish: copy the backing data into the overlays (blockpull while running, a safe rebase when
 *   shut off) so the domain stands alone; its record goes, and it is an ordinary domain.
 * - discard: destroy and undefine the boot domain and remove its overlays.
 */
export {};
