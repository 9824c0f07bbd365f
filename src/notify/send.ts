/**
 * Send a run's report to its targets. Every target gets a timeout per attempt and one retry;
 * a target that still fails is a warning and nothing more: notifications never change a run's
 * result or exit code.
 */
import { readFile } from 'node:fs/promises';
import type { Runner } from '../runner/runner.js';
import type { Logger } from '../util/log.js';
import { describeUrl, maskSecrets, secretsOfUrl } from '../util/mask-secrets.js';
import { renderReportText, targetHears, type RunReport } from './report.js';
import { defaultOutcomes, type NotifyOutcome, type NotifySettings, type NotifyTarget } from '../config/notify-schema.js';
import { messageOf } from '../errors.js';

export const DEFAULT_NOTIFY_TIMEOUT_SECONDS = 10;
export const DEFAULT_SENDMAIL = '/usr/sbin/sendmail';

export interface NotifyDeps {
  fetch: typeof fetch;
  runner: Runner;
  log: Logger;
  /** Pause before the one retry (tests shorten it). */
  retryDelayMs?: number;
}

/** A target with its URL and token read from wherever they live. */
export interface ResolvedTarget {
  target: NotifyTarget;
  /** For log lines: type and host, never a path, query or token. */
  label: string;
  url: string | undefined;
  token: string | undefined;
  on: readonly NotifyOutcome[];
  timeoutMs: number;
}

export interface ResolvedTargets {
  targets: ResolvedTarget[];
  /** Every secret value met (tokens, URLs and their keys): the logger masks them. */
  secrets: string[];
  /** Targets left out (a tokenFile that cannot be read...), one line each, already masked. */
  problems: string[];
}

/** First line of a secret file, trimmed. */
async function readSecretFile(path: string): Promise<string> {
  const text = await readFile(path, 'utf8');
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  if (line === undefined) throw new Error(`${path} is empty`);
  return line;
}

async function readSource(
  inline: string | undefined,
  file: string | undefined,
  envName: string | undefined,
  env: NodeJS.ProcessEnv,
  what: string,
): Promise<string | undefined> {
  if (inline !== undefined) return inline;
  if (file !== undefined) {
    try {
      return await readSecretFile(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(`cannot read its ${what} file ${file}${code ? ` (${code})` : ''}`, { cause: e });
    }
  }
  if (envName !== undefined) {
    const v = env[envName]?.trim();
    if (!v) throw new Error(`environment variable ${envName} (its ${what}) is not set`);
    return v;
  }
  return undefined;
}

/** Read URLs and tokens from files and the environment; a target whose secret is missing is left out with a problem line. */
export async function resolveTargets(settings: NotifySettings, env: NodeJS.ProcessEnv): Promise<ResolvedTargets> {
  const out: ResolvedTargets = { targets: [], secrets: [], problems: [] };
  for (const [i, target] of settings.targets.entries()) {
    const baseLabel = target.name ?? `${target.type} target ${i + 1}`;
    try {
      let url: string | undefined;
      let token: string | undefined;
      if (target.type === 'webhook' || target.type === 'healthchecks' || target.type === 'ntfy') {
        url = await readSource(target.url, target.urlFile, target.urlEnv, env, 'URL');
        if (!url || !/^https?:\/\/\S+$/i.test(url)) throw new Error('its URL is not an http:// or https:// URL');
        out.secrets.push(...secretsOfUrl(url));
      }
      if (target.type === 'webhook' || target.type === 'ntfy') {
        token = await readSource(undefined, target.tokenFile, target.tokenEnv, env, 'token');
        if (token) out.secrets.push(token);
      }
      const label =
        target.name ??
        (url
          ? `${target.type} ${describeUrl(url)}`
          : target.type === 'email'
            ? `email to ${target.to.join(', ')}`
            : `command ${target.type === 'command' ? target.argv[0] : ''}`);
      out.targets.push({
        target,
        label,
        url,
        token,
        on: target.on ?? defaultOutcomes(target.type),
        timeoutMs: (target.timeoutSeconds ?? settings.timeoutSeconds ?? DEFAULT_NOTIFY_TIMEOUT_SECONDS) * 1000,
      });
    } catch (e) {
      out.problems.push(`notification target ${baseLabel} left out: ${messageOf(e)}`);
    }
  }
  out.problems = out.problems.map((p) => maskSecrets(p, out.secrets));
  return out;
}

/** healthchecks `/start`, sent when the run begins. Other targets wait for the end. */
export async function notifyStart(targets: readonly ResolvedTarget[], runId: string, deps: NotifyDeps, secrets: readonly string[]): Promise<void> {
  await Promise.all(
    targets
      .filter((t) => t.target.type === 'healthchecks')
      .map((t) =>
        attempt(t, deps, secrets, (signal) => post(deps, pingUrl(t.url!, 'start', runId), '', { 'Content-Type': 'text/plain; charset=utf-8' }, signal)),
      ),
  );
}

/** Send the finished run's report to every target that wants to hear of its outcome. */
export async function notifyEnd(targets: readonly ResolvedTarget[], report: RunReport, deps: NotifyDeps, secrets: readonly string[]): Promise<void> {
  await Promise.all(targets.filter((t) => targetHears(t.on, report)).map((t) => attempt(t, deps, secrets, (signal) => sendOne(t, report, deps, signal))));
}

/** A healthchecks ping URL: base, base/start or base/fail, with the run id so the service pairs start and end. */
export function pingUrl(base: string, kind: 'start' | 'success' | 'fail', runId: string): string {
  const u = new URL(base);
  const path = u.pathname.replace(/\/+$/, '');
  u.pathname = kind === 'success' ? path || '/' : `${path}/${kind}`;
  u.searchParams.set('rid', runId);
  return u.toString();
}

async function sendOne(t: ResolvedTarget, report: RunReport, deps: NotifyDeps, signal: AbortSignal): Promise<void> {
  const target = t.target;
  const text = renderReportText(report);
  switch (target.type) {
    case 'webhook': {
      const headers: Record<string, string> = { ...target.headers, 'Content-Type': 'application/json' };
      if (t.token) headers[target.tokenHeader ?? 'Authorization'] = `${target.tokenPrefix ?? 'Bearer '}${t.token}`;
      return post(deps, t.url!, JSON.stringify(report), headers, signal);
    }
    case 'healthchecks':
      return post(
        deps,
        pingUrl(t.url!, report.outcome === 'success' ? 'success' : 'fail', report.runId),
        text,
        { 'Content-Type': 'text/plain; charset=utf-8' },
        signal,
      );
    case 'ntfy': {
      const headers: Record<string, string> = {
        'Content-Type': 'text/plain; charset=utf-8',
        // HTTP header values are Latin-1: keep the title plain.
        Title: asciiOnly(target.title ?? report.summary),
        Priority: String(target.priority ?? (report.outcome === 'success' ? 3 : 4)),
        Tags: (target.tags ?? [report.outcome === 'success' ? 'white_check_mark' : 'warning', 'vmkeep']).join(','),
      };
      if (t.token) headers[target.tokenHeader ?? 'Authorization'] = `${target.tokenPrefix ?? 'Bearer '}${t.token}`;
      return post(deps, t.url!, text, headers, signal);
    }
    case 'command':
      await deps.runner.run(target.argv[0]!, target.argv.slice(1), {
        input: `${JSON.stringify(report)}\n`,
        timeoutMs: t.timeoutMs,
        env: { VMKEEP_OUTCOME: report.outcome, VMKEEP_COMMAND: report.command, VMKEEP_RUN_ID: report.runId },
        cancelSignal: signal,
      });
      return;
    case 'email':
      await deps.runner.run(target.sendmail ?? DEFAULT_SENDMAIL, ['-oi', '-t'], {
        input: renderMail(target.to, target.from ?? `root@${report.host}`, report),
        timeoutMs: t.timeoutMs,
        cancelSignal: signal,
      });
      return;
  }
}

/** A plain-text mail for `sendmail -t` (recipients from the To: header, never from argv). */
export function renderMail(to: readonly string[], from: string, report: RunReport): string {
  return [
    `From: ${from}`,
    `To: ${to.join(', ')}`,
    `Subject: ${asciiOnly(report.summary)}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    `X-Vmkeep-Run-Id: ${report.runId}`,
    '',
    renderReportText(report),
    '',
  ].join('\n');
}

function asciiOnly(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

async function post(deps: NotifyDeps, url: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<void> {
  const res = await deps.fetch(url, { method: 'POST', body, headers: { 'User-Agent': 'vmkeep', ...headers }, signal });
  // Read the body so the connection is released.
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new Error(`the server answered HTTP ${res.status}`);
}

async function attempt(t: ResolvedTarget, deps: NotifyDeps, secrets: readonly string[], send: (signal: AbortSignal) => Promise<void>): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 2; i += 1) {
    try {
      await send(AbortSignal.timeout(t.timeoutMs));
      deps.log.debug(maskSecrets(`notified ${t.label}`, secrets));
      return;
    } catch (e) {
      last = e;
      if (i === 0) await new Promise((r) => setTimeout(r, deps.retryDelayMs ?? 1000));
    }
  }
  deps.log.warn(maskSecrets(`notification to ${t.label} failed (tried twice): ${describeError(last, t.timeoutMs)}`, secrets));
}

function describeError(e: unknown, timeoutMs: number): string {
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) return `no answer within ${timeoutMs / 1000} s`;
  if (e instanceof Error) {
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code) return `${e.message} (${cause.code})`;
    return e.message;
  }
  return String(e);
}
