import type { ReportOptions } from '../../report/run-report.js';
import { usageError } from '../../errors.js';
import { nominalHours } from '../../retention/duration.js';
import type { Duration } from '../../retention/types.js';
import { durationFlag } from '../flag-values.js';
import { bootMaxAgeOf, parseDaysLeft } from '../parse-values.js';
import { addSelectionOptions, buildSelection } from '../selection-options.js';
import { readVersion } from '../version.js';
import { defineCommand } from './types.js';

export const reportCommand = defineCommand<ReportOptions>({
  name: 'report',
  describe: 'write one self-contained HTML report of the backups in one or more output folders (--output repeatable)',
  builder: (y) =>
    addSelectionOptions(y)
      .option('html', { type: 'string', describe: 'the HTML file to write (replaced atomically)' })
      .option('warning', { ...durationFlag('warning'), default: '26h', describe: 'last good backup older than this is a warning (as check --warning)' })
      .option('critical', { ...durationFlag('critical'), default: '50h', describe: 'last good backup older than this is critical (as check --critical)' })
      .option('min-days-left', { type: 'string', default: '14,7', describe: 'D[,C]: an output folder full in fewer days is a warning (critical under C)' })
      .option('boot-max-age', {
        ...durationFlag('boot-max-age'),
        describe:
          "a last boot proof (verify --boot) older than this, or none, is a warning, as check --boot-max-age (default: the config's check.bootMaxAge; neither: not judged)",
      })
      .option('host', { type: 'string', describe: "host name shown for a one-host output folder (default: this machine's)" }),
  buildOptions: (argv, global) => {
    const outputs = global.outputs ?? (global.output ? [global.output] : []);
    if (outputs.length === 0) throw usageError('report needs --output DIR (repeatable)');
    if (typeof argv['html'] !== 'string' || argv['html'].trim() === '') throw usageError('report needs --html FILE');
    const warning = argv['warning'] as Duration;
    const critical = argv['critical'] as Duration;
    if (nominalHours(warning) >= nominalHours(critical))
      throw usageError(`--warning ${warning.text} must be shorter than --critical ${critical.text} (swapped?)`);
    return Object.freeze({
      outputs,
      html: argv['html'],
      selection: buildSelection(argv, global),
      thresholds: Object.freeze({
        warningHours: nominalHours(warning),
        criticalHours: nominalHours(critical),
        minDaysLeft: parseDaysLeft(String(argv['min-days-left'])),
        bootMaxAge: bootMaxAgeOf(argv['boot-max-age'], global.config?.config.check?.bootMaxAge),
      }),
      version: readVersion(),
      host: typeof argv['host'] === 'string' ? argv['host'] : undefined,
      libvirt: true,
    });
  },
  run: async (ctx, options) => (await import('../../report/run-report.js')).runReport(ctx, options),
});
