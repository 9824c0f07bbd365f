/** Letting QEMU (user libvirt-qemu) reach images in a chain folder. */
import { chmod, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * QEMU opens images by path as another user: the chain folder and the domain folder become 0711
 * (traversable, not listable) and the output folder gets o+x. Returns a function that makes the
 * chain and domain folders 0700 again; the output folder keeps o+x (other domains' jobs may be
 * opening their files at the same time).
 */
export async function openChainToQemu(chainDir: string): Promise<() => Promise<void>> {
  const domainDir = dirname(chainDir);
  const outputDir = dirname(domainDir);
  const mode = (await stat(outputDir)).mode & 0o7777;
  if ((mode & 0o001) === 0) await chmod(outputDir, mode | 0o001);
  await chmod(domainDir, 0o711);
  await chmod(chainDir, 0o711);
  return async () => {
    await chmod(chainDir, 0o700).catch(() => undefined);
    await chmod(domainDir, 0o700).catch(() => undefined);
  };
}
