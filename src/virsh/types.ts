/** Typed records for what libvirt tells about a domain (parsed from virsh output). */

export type DomainState = 'running' | 'paused' | 'shut off' | 'other';

export type DiskSourceType = 'file' | 'block' | 'network' | 'volume' | 'dir' | 'nvme' | 'vhostuser' | 'other';

/** One `<disk>` of a domain definition. */
export interface DomainDisk {
  /** Target device name, e.g. vda. */
  target: string;
  /** disk, cdrom, floppy or lun. */
  device: string;
  sourceType: DiskSourceType;
  /** File or block device path; undefined for network/empty sources. */
  path: string | undefined;
  /** Network protocol (nbd, iscsi, rbd...) for network sources. */
  protocol: string | undefined;
  /** Driver type: qcow2, raw... */
  format: string | undefined;
  bus: string | undefined;
  readonly: boolean;
  shareable: boolean;
  transient: boolean;
  /** Device alias on a running domain, e.g. virtio-disk0 (the QEMU device id). */
  alias: string | undefined;
}

/** The parts of a domain definition vmkeep uses. */
export interface DomainDefinition {
  name: string;
  uuid: string | undefined;
  type: string | undefined;
  disks: DomainDisk[];
  /**
   * A guest agent channel (virtio, org.qemu.guest_agent.0) is defined. Without one libvirt
   * answers every agent command with "not configured", so there is nothing to ask.
   */
  guestAgentChannel: boolean;
  /** The running domain's id: libvirt's live definition carries one, the persistent one does not. */
  id: string | undefined;
  /** vmkeep's tags in this definition's metadata (the persistent definition's are the tags). */
  tags: string[];
}

/** Per-disk entry of a checkpoint. */
export interface CheckpointDisk {
  name: string;
  /** 'bitmap' when the checkpoint tracks this disk, 'no' when it does not. */
  checkpoint: string;
  bitmap: string | undefined;
  /** Bytes changed since this checkpoint (only with `checkpoint-dumpxml --size` on a running domain). */
  size: number | undefined;
}

/** A libvirt checkpoint. */
export interface Checkpoint {
  name: string;
  creationTime: Date | undefined;
  parent: string | undefined;
  disks: CheckpointDisk[];
}
