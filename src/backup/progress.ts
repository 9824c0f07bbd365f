/**
 * Progress for people: one bar per domain on a terminal (cli-progress), plain log lines
 * otherwise. Never on stdout, so --json documents stay clean.
 */
import cliProgress from 'cli-progress';
import prettyBytes from 'pretty-bytes';
import type { Logger } from '../util/log.js';

export interface ProgressSink {
  update(domain: string, doneBytes: number, totalBytes: number): void;
  finish(domain: string): void;
  /** A logger whose lines do not tear the bars apart while they are drawn. */
  logger(base: Logger, verbose: boolean): Logger;
  stop(): void;
}

const fmt = (n: number) => prettyBytes(n, { binary: true });

/** Bars on a TTY; a log line per domain every 15 s or 25 % otherwise. */
export function createProgressSink(interactive: boolean, log: Logger, stream: NodeJS.WritableStream = process.stderr): ProgressSink {
  if (interactive) return barSink(stream);
  return lineSink(log);
}

function barSink(stream: NodeJS.WritableStream): ProgressSink {
  const multi = new cliProgress.MultiBar(
    {
      stream,
      // Not {value}/{total}: cli-progress fills those itself, with raw numbers.
      format: '{domain} [{bar}] {percentage}% {doneText}/{totalText} {rate}/s',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, { bar: cliProgress.SingleBar; started: number }>();
  let drawing = false;
  let stopped = false;
  return {
    update(domain, done, total) {
      if (stopped) return;
      let entry = bars.get(domain);
      if (!entry) {
        entry = { bar: multi.create(Math.max(total, 1), 0, { domain, doneText: '0 B', totalText: fmt(total), rate: '0 B' }), started: Date.now() };
        bars.set(domain, entry);
        drawing = true;
      }
      const seconds = Math.max((Date.now() - entry.started) / 1000, 0.001);
      entry.bar.setTotal(Math.max(total, done, 1));
      entry.bar.update(done, { domain, doneText: fmt(done), totalText: fmt(total), rate: fmt(done / seconds) });
    },
    finish(domain) {
      const entry = bars.get(domain);
      if (entry) entry.bar.update(entry.bar.getTotal());
    },
    logger(base, verbose) {
      // While bars are drawn, lines go through the bar area, which prints them above the bars.
      // Lines drawn above the bars still reach the log file and syslog (base.sideOnly).
      const route = (line: string, direct: () => void, side: () => void) => {
        if (drawing && !stopped) {
          multi.log(`${line}\n`);
          side();
        } else direct();
      };
      return {
        info: (m) =>
          route(
            m,
            () => base.info(m),
            () => base.sideOnly?.info(m),
          ),
        warn: (m) =>
          route(
            `warning: ${m}`,
            () => base.warn(m),
            () => base.sideOnly?.warn(m),
          ),
        debug: (m) => {
          if (verbose)
            route(
              `debug: ${m}`,
              () => base.debug(m),
              () => base.sideOnly?.debug(m),
            );
        },
      };
    },
    stop() {
      if (stopped) return;
      stopped = true;
      // Flush lines logged since the last redraw: stop() alone would drop them.
      if (!drawing) return;
      multi.update();
      multi.stop();
    },
  };
}

function lineSink(log: Logger): ProgressSink {
  const last = new Map<string, { at: number; fraction: number; started: number }>();
  return {
    update(domain, done, total) {
      // Until virtnbdbackup announces the size there is nothing worth a line.
      if (total === 0 && done === 0) return;
      const now = Date.now();
      const prev = last.get(domain) ?? { at: 0, fraction: -1, started: now };
      const fraction = total > 0 ? done / total : 0;
      // A line every 15 s or 25%, and always the one that says it is all there.
      const complete = total > 0 && done >= total && prev.fraction < 1;
      if (!complete && now - prev.at < 15_000 && fraction - prev.fraction < 0.25) {
        if (!last.has(domain)) last.set(domain, prev);
        return;
      }
      // The first figure can arrive when a small disk is already done: no rate from a blink.
      const seconds = (now - prev.started) / 1000;
      const rate = seconds >= 1 ? `, ${fmt(done / seconds)}/s` : '';
      log.info(`${domain}: ${fmt(done)} of ${fmt(total)} (${Math.round(fraction * 100)}%)${rate}`);
      last.set(domain, { at: now, fraction, started: prev.started });
    },
    finish() {},
    logger: (base) => base,
    stop() {},
  };
}
