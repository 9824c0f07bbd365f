/** Typed records for what QEMU and qemu-img tell about disk images. */

/** A dirty bitmap on one disk, seen in QEMU or in the image file. */
export interface DiskBitmap {
  name: string;
  /** Dirty bytes (QEMU only). */
  count: number | undefined;
  recording: boolean | undefined;
  persistent: boolean | undefined;
  /** qemu-img flags (in-use, auto) or QMP's "inconsistent". */
  inconsistent: boolean;
}
