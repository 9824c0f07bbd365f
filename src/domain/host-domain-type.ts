/**
 * Which domain type boots a guest on this host: `kvm` where the kernel offers hardware
 * virtualisation an unmodified guest can run under, else `qemu` (TCG: slower, same behaviour).
 * A /dev/kvm alone is not enough: a PVM kvm (kvm_pvm, on some cloud machines) runs firmware but
 * not a guest kernel, which stops with an emulation error and never reaches its console.
 */
import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import type { VirshClient } from '../virsh/client.js';

export type BootDomainType = 'kvm' | 'qemu';

/** The domain type for a booting guest on the host `virsh` talks to. */
export async function pickBootDomainType(virsh: VirshClient, local: boolean): Promise<BootDomainType> {
  if (local) {
    const hasDevice = await access('/dev/kvm', constants.R_OK | constants.W_OK).then(
      () => true,
      () => false,
    );
    if (!hasDevice) return 'qemu';
    if (
      await access('/sys/module/kvm_pvm').then(
        () => true,
        () => false,
      )
    )
      return 'qemu';
    const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
    if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) return 'qemu';
  }
  return (await virsh.supportsVirtType('kvm')) ? 'kvm' : 'qemu';
}
