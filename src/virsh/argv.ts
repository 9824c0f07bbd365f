/** argv builders for virsh. Every command names the connection URI explicitly. */

const base = (uri: string): string[] => ['-c', uri];

export const virshArgv = {
  version: (uri: string) => [...base(uri), 'version'],
  listAllNames: (uri: string) => [...base(uri), 'list', '--all', '--name'],
  listAllUuidNames: (uri: string) => [...base(uri), 'list', '--all', '--uuid', '--name'],
  /** UUIDs of the domains in one state (libvirt's list filter: the state alone, as domstate prints it). */
  listUuidsInState: (uri: string, state: 'running' | 'paused' | 'shutoff') => [...base(uri), 'list', '--all', '--uuid', `--state-${state}`],
  domState: (uri: string, domain: string) => [...base(uri), 'domstate', '--domain', domain],
  dumpXml: (uri: string, domain: string, inactive = false) => [...base(uri), 'dumpxml', '--domain', domain, ...(inactive ? ['--inactive'] : [])],
  checkpointListNames: (uri: string, domain: string) => [...base(uri), 'checkpoint-list', '--domain', domain, '--name', '--topological'],
  checkpointDumpXml: (uri: string, domain: string, checkpoint: string, size = false) => [
    ...base(uri),
    'checkpoint-dumpxml',
    '--domain',
    domain,
    '--checkpointname',
    checkpoint,
    '--no-domain',
    ...(size ? ['--size'] : []),
  ],
  checkpointDelete: (uri: string, domain: string, checkpoint: string, metadataOnly = false) => [
    ...base(uri),
    'checkpoint-delete',
    '--domain',
    domain,
    '--checkpointname',
    checkpoint,
    ...(metadataOnly ? ['--metadata'] : []),
  ],
  qmp: (uri: string, domain: string, command: object) => [...base(uri), 'qemu-monitor-command', '--domain', domain, '--cmd', JSON.stringify(command)],
  start: (uri: string, domain: string, paused = false) => [...base(uri), 'start', '--domain', domain, ...(paused ? ['--paused'] : [])],
  resume: (uri: string, domain: string) => [...base(uri), 'resume', '--domain', domain],
  suspend: (uri: string, domain: string) => [...base(uri), 'suspend', '--domain', domain],
  shutdown: (uri: string, domain: string) => [...base(uri), 'shutdown', '--domain', domain],
  destroy: (uri: string, domain: string) => [...base(uri), 'destroy', '--domain', domain],
  define: (uri: string, xmlFile: string) => [...base(uri), 'define', '--file', xmlFile],
  domJobInfo: (uri: string, domain: string, completed = false) => [...base(uri), 'domjobinfo', '--domain', domain, ...(completed ? ['--completed'] : [])],
  domJobAbort: (uri: string, domain: string) => [...base(uri), 'domjobabort', '--domain', domain],
  blockJobAbort: (uri: string, domain: string, disk: string) => [...base(uri), 'blockjob', '--domain', domain, '--path', disk, '--abort'],
  /** Push-mode backup (`--reuse-external`: the caller made the targets, e.g. qcow2 overlays). */
  /** Freeze every guest filesystem through the guest agent (libvirt tracks the freeze). */
  domFsFreeze: (uri: string, domain: string) => [...base(uri), 'domfsfreeze', '--domain', domain],
  /** Thaw every guest filesystem; never with --mountpoint (libvirt 9.0 refuses it and leaves the guest frozen). */
  domFsThaw: (uri: string, domain: string) => [...base(uri), 'domfsthaw', '--domain', domain],
  /** One raw guest agent command, answered within `timeoutSeconds`. */
  agentCommand: (uri: string, domain: string, command: object, timeoutSeconds: number) => [
    ...base(uri),
    'qemu-agent-command',
    '--domain',
    domain,
    '--timeout',
    String(timeoutSeconds),
    JSON.stringify(command),
  ],
  backupBegin: (uri: string, domain: string, backupXmlFile: string, checkpointXmlFile: string, reuseExternal: boolean) => [
    ...base(uri),
    'backup-begin',
    '--domain',
    domain,
    '--backupxml',
    backupXmlFile,
    '--checkpointxml',
    checkpointXmlFile,
    ...(reuseExternal ? ['--reuse-external'] : []),
  ],
  /** Raw job statistics (`Job type: 3`, `disk_processed: N`...); `completed` reads and clears the last finished job's. */
  domJobStats: (uri: string, domain: string, completed: boolean) => [
    ...base(uri),
    'domjobinfo',
    '--domain',
    domain,
    '--rawstats',
    ...(completed ? ['--completed'] : []),
  ],
  undefine: (uri: string, domain: string) => [...base(uri), 'undefine', '--domain', domain, '--checkpoints-metadata'],
  /** Undefine and remove the NVRAM file libvirt made for the domain (a verify domain's). */
  undefineWithNvram: (uri: string, domain: string) => [...base(uri), 'undefine', '--domain', domain, '--checkpoints-metadata', '--nvram'],
  /** A PNG of the domain's first screen (needs a graphics device). */
  screenshot: (uri: string, domain: string, file: string) => [...base(uri), 'screenshot', '--domain', domain, '--file', file],
  /** What libvirt can do for a domain here; with a type, exits 1 when it cannot make domains of that type. */
  domCapabilities: (uri: string, virtType?: string) => [...base(uri), 'domcapabilities', ...(virtType === undefined ? [] : ['--virttype', virtType])],
  /** Copy a disk's backing chain into its top image while the domain runs; the image stands alone afterwards. */
  blockPull: (uri: string, domain: string, disk: string) => [...base(uri), 'blockpull', '--domain', domain, '--path', disk, '--wait'],
  // --- tags in the domain's metadata, guest-agent freeze ---
  /** Read the element stored under a metadata namespace URI (exits 1 when there is none). */
  metadataGet: (uri: string, domain: string, nsUri: string, live = false) => [
    ...base(uri),
    'metadata',
    '--domain',
    domain,
    '--uri',
    nsUri,
    ...(live ? ['--live'] : ['--config']),
  ],
  /** Store `xml` (one element, passed as one argv element) under the namespace URI with prefix `key`. */
  metadataSet: (uri: string, domain: string, nsUri: string, key: string, xml: string, live: boolean) => [
    ...base(uri),
    'metadata',
    '--domain',
    domain,
    '--uri',
    nsUri,
    '--key',
    key,
    '--set',
    xml,
    ...(live ? ['--live', '--config'] : ['--config']),
  ],
  /** Remove the element stored under the namespace URI. */
  metadataRemove: (uri: string, domain: string, nsUri: string, live: boolean) => [
    ...base(uri),
    'metadata',
    '--domain',
    domain,
    '--uri',
    nsUri,
    '--remove',
    ...(live ? ['--live', '--config'] : ['--config']),
  ],
};
