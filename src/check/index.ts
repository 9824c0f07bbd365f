/**
 * `vmkeep check`: a Nagios/Icinga plugin.
 *
 * Words:
 * - state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the plugin's exit code).
 * - age: seconds since the newest restore point of a domain (the start of its last good run).
 * - perfdata: `age_<domain>=<s>s;<warn>;<crit>;0;` after the `|` of the first line.
 */
export {
  judgeCheck,
  judgeForecast,
  summarizeVerdicts,
  formatAge,
  worst,
  STATE_WORD,
  type CheckState,
  type CheckThresholds,
  type CheckVerdict,
  type DomainCheckInput,
  type DomainVerdict,
  type DaysLeftThresholds,
} from './judge-check.js';
export { runCheck, checkResult, type CheckOptions } from './run-check.js';
