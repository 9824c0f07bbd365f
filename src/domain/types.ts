/** The records of the domain layer: what libvirt and QEMU tell about a domain. */
export type { DomainState, DiskSourceType, DomainDisk, DomainDefinition, CheckpointDisk, Checkpoint } from '../virsh/types.js';
export type { DiskBitmap } from '../qemu/types.js';
