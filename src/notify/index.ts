/**
 * Notifications: telling people and services how a run ended.
 *
 * Words:
 * - target: where a notification goes: webhook (JSON POST of the run report), healthchecks
 *   (ping URL: /start, success, /fail), ntfy (plain-text POST), command (argv array, report on
 *   stdin), email (local sendmail, recipients in the To: header).
 * - outcome: success, partial or failure; a target's `on:` lists the outcomes it hears about.
 * - run report: the JSON a target receives: command, host, run id, outcome, exit code, a
 *   one-line summary, detail lines and the command's own result document (`--json`'s).
 * - secret: a token or a URL with a key, read from `tokenFile:`/`urlFile:` or an environment
 *   variable; masked (***) in every log line.
 * - forecast notice: the output folder fills sooner than the warning days; said in the run's
 *   notification, which then also reaches the targets that hear of partial runs.
 */
export {
  NotifySettingsSchema,
  NotifyTargetSchema,
  NOTIFY_OUTCOMES,
  defaultOutcomes,
  type NotifySettings,
  type NotifyTarget,
  type NotifyOutcome,
} from '../config/notify-schema.js';
export { parseNotifyFlag, parseNotifyOn } from './parse-flag.js';
export { loadNotifySettings, mergeTargets } from './load-settings.js';
export { buildRunReport, notifyOutcomeOf, renderReportText, targetHears, type RunReport } from './report.js';
export { DEFAULT_DAYS_LEFT_WARNING, judgeForecastNotice, type ForecastNotice } from './forecast-notice.js';
export { notifyEnd, notifyStart, pingUrl, resolveTargets, type ResolvedTarget, type ResolvedTargets, type NotifyDeps } from './send.js';
export { maskSecrets, describeUrl, redactNotifySettings } from '../util/mask-secrets.js';
