/**
 * `vmkeep report`: one self-contained HTML file about the fleet's backups.
 *
 * Words:
 * - row: one (host, domain) with its verdict, last good backup, points, chains, size, last
 *   verify, last boot proof, protected points and labels.
 * - verdict: ok, warning or critical for a row, a folder, and the fleet (the worst of them).
 * - folder forecast: the output folder's net growth and the day it is full (src/repository/forecast.ts).
 * - self-contained: CSS, SVG charts and the sorting script are inline; a Content-Security-Policy
 *   forbids every request.
 */
export { runReport, buildReport, writeReportAfterRun, checkReportInput, type ReportOptions } from './run-report.js';
export { DEFAULT_REPORT_THRESHOLDS, type ReportThresholds, type ReportRow, type RowState } from './judge-report.js';
