/**
 * Several hypervisors in one run: `--connect` repeated (or `hosts:` in the config).
 *
 * Words:
 * - host: one hypervisor, a name and a libvirt URI (src/app/hosts.ts).
 * - host context: an AppContext whose virsh talks to that host's URI; runner, clock, logger and
 *   signal are the run's own.
 * - address: `host/domain`, how a domain is named where one name alone is ambiguous.
 * - host layout: with more than one host each host's backups live in `OUTPUT/<host>/`; a single
 *   host keeps `OUTPUT/<domain>/`.
 * - unreachable host: a host whose libvirtd cannot be reached; it is one failed item, the others go on.
 */
export { runAcrossHosts, checkHostPrefixes, hostOutputDir, withHostLocks, createHostContext, optionsForHost, type HostOutcome } from './run-across-hosts.js';
export { mergeStatus, mergeBackup, mergeList, mergeByDomainKey, mergePerHost, mergeCheck } from './merge-results.js';
