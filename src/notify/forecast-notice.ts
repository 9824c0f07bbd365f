/**
 * The forecast's word in a run's notification: after a run that writes or removes backups, the
 * output folder's forecast is read, and when it says the folder is full in fewer days than the
 * warning threshold (check's --min-days-left), the notification says so, and goes to the targets
 * that hear of runs needing attention even when the run itself succeeded.
 */
import prettyBytes from 'pretty-bytes';
import type { OutputForecast } from '../repository/forecast.js';

/** The warning days when neither the config nor a flag names any (as `vmkeep report`'s default). */
export const DEFAULT_DAYS_LEFT_WARNING = 14;

/** What the notification carries about the output folder filling up. */
export interface ForecastNotice {
  output: string;
  daysLeft: number;
  fullAt: string;
  warningDays: number;
  /** One line for people, in vmkeep's words. */
  message: string;
}

/**
 * Is the folder full sooner than `warningDays`? Pure: a folder without a forecast (not enough
 * history, it does not grow) gets no notice, nor one with days to spare.
 */
export function judgeForecastNotice(
  output: string,
  forecast: Pick<OutputForecast, 'daysLeft' | 'fullAt' | 'bytesPerDay'> | undefined,
  warningDays: number,
): ForecastNotice | undefined {
  if (!forecast || forecast.daysLeft === null || forecast.fullAt === null) return undefined;
  if (forecast.daysLeft >= warningDays) return undefined;
  const days = Math.floor(forecast.daysLeft);
  const when = days < 1 ? 'within a day' : `in ${days} day${days === 1 ? '' : 's'}`;
  return {
    output,
    daysLeft: forecast.daysLeft,
    fullAt: forecast.fullAt,
    warningDays,
    message: `output folder ${output} will be full ${when} (on ${forecast.fullAt.slice(0, 10)}) at the current rate${
      forecast.bytesPerDay !== null ? ` of ${prettyBytes(forecast.bytesPerDay, { maximumFractionDigits: 1 })} a day` : ''
    }, under the warning of ${warningDays} days: free space, or keep fewer restore points (prune)`,
  };
}
