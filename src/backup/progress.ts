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
      stream: stream as NodeJS.WriteStream,
      format: '{domain} [{bar}] {percentage}% {done}/{total} {rate}/s',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, { bar: cliProgress.SingleBar; started: number }>();
  return {
    update(domain, done, total) {
      let entry = bars.get(domain);
      if (!entry) {
        entry = { bar: multi.create(Math.max(total, 1), 0, { domain, done: '0 B', total: fmt(total), rate: '0 B' }), started: Date.now() };
        bars.set(domain, entry);
      }
      const seconds = Math.max((Date.now() - entry.started) / 1000, 0.001);
      entry.bar.setTotal(Math.max(total, done, 1));
      entry.bar.update(done, { domain, done: fmt(done), total: fmt(total), rate: fmt(done / seconds) });
    },
    finish(domain) {
      const entry = bars.get(domain);
      if (entry) entry.bar.update(entry.bar.getTotal());
    },
    stop() {
      multi.stop();
    },
  };
}

function lineSink(log: Logger): ProgressSink {
  const last = new Map<string, { at: number; fraction: number; started: number }>();
  return {
    update(domain, done, total) {
      const now = Date.now();
      const prev = last.get(domain) ?? { at: 0, fraction: -1, started: now };
      const fraction = total > 0 ? done / total : 0;
      if (now - prev.at < 15_000 && fraction - prev.fraction < 0.25) {
        if (!last.has(domain)) last.set(domain, prev);
        return;
      }
      const rate = done / Math.max((now - prev.started) / 1000, 0.001);
      log.info(`${domain}: ${fmt(done)} of ${fmt(total)} (${Math.round(fraction * 100)}%), ${fmt(rate)}/s`);
      last.set(domain, { at: now, fraction, started: prev.started });
    },
    finish() {},
    stop() {},
  };
}
