/**
 * `vmkeep check`: a Nagios/Icinga plugin.
 *
 * Words:
 * - state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the plugin's exit code).
 * - age: seconds since the newest restore point of a domain (the start of its last good run).
 * - perfdata: `age_<domain>=<s>s;<warn>;<crit>;0;` after the `|` of the first line.
 */
export { judgeCheck, summarizeVerdicts, type CheckThresholds, type DomainVerdict } from './judge-check.js';
export { checkResult } from './run-check.js';
