/**
 * Prometheus metrics for node_exporter's textfile collector.
 *
 * Words:
 * - textfile: DIR/vmkeep.prom (name configurable), replaced atomically (temp file, fsync,
 *   rename) so the collector never reads half a file.
 * - series: one gauge per domain and fact, labelled host and domain; the run facts come from
 *   the repository's run history, consistency from libvirt (as `vmkeep status`).
 */
export {};
