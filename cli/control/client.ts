import type { Command } from 'commander';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, ExitError } from '../exitCodes';
import { formatBytes, progressLine } from '../output';

/** Where the CLI finds the API: flags, then DBM_API_URL / DBM_API_TOKEN, then the config file. */
export interface ApiTarget {
  url: string;
  token: string | null;
  /** a CA certificate (PEM file) to trust for an https API, e.g. the stack's self-signed one */
  ca?: string;
}

export function configFile(): string {
  if (process.env.DBM_CONFIG) return process.env.DBM_CONFIG;
  const base = process.env.XDG_CONFIG_HOME || path.join(homedir(), '.config');
  return path.join(base, 'data-backup-manager', 'config.json');
}

function fromConfigFile(): { api_url?: string; token?: string; ca?: string } {
  const file = configFile();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  try {
    return JSON.parse(text) as { api_url?: string; token?: string; ca?: string };
  } catch {
    throw new ExitError(`${file} is not valid JSON (expected {"api_url": "...", "token": "..."})`, EXIT.usage);
  }
}

export function apiTarget(cmd: Command): ApiTarget {
  const flags = cmd.optsWithGlobals() as { apiUrl?: string; token?: string; ca?: string };
  const file = flags.apiUrl && flags.token ? {} : fromConfigFile();
  const url = (flags.apiUrl ?? process.env.DBM_API_URL ?? file.api_url ?? 'https://127.0.0.1:20010').replace(/\/+$/, '');
  try {
    new URL(url);
  } catch {
    throw new ExitError(`API URL ${url} is not a URL`, EXIT.usage);
  }
  const caFile = flags.ca ?? process.env.DBM_API_CA ?? file.ca;
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new ExitError(`cannot read the CA certificate ${caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.usage);
    }
  }
  return { url, token: flags.token ?? process.env.DBM_API_TOKEN ?? file.token ?? null, ca };
}

/** The CLI's own log: one line per API call (never a token or a body), for "what did I run, and what came back". */
function logCall(api: ApiTarget, method: string, route: string, outcome: string): void {
  const dir = path.join(process.env.XDG_DATA_HOME || path.join(homedir(), '.local', 'share'), 'data-backup-manager');
  try {
    mkdirSync(dir, { recursive: true });
    appendFileSync(path.join(dir, 'cli.log'), `${new Date().toISOString()} ${method} ${api.url}${route.split('?')[0]} ${outcome}\n`);
  } catch {
    // a log that cannot be written never fails the command
  }
}

/** One API call; an error answer becomes one line naming the problem, with an exit code to match. */
export async function call<T>(api: ApiTarget, method: string, route: string, body?: unknown, opts: { accept?: number[] } = {}): Promise<T> {
  const answer = await send<T>(api, method, route, body, opts.accept ?? []).catch((err: unknown) => {
    logCall(api, method, route, `error: ${(err as Error).message}`);
    throw err;
  });
  if (method !== 'GET') logCall(api, method, route, 'ok');
  return answer;
}

async function send<T>(api: ApiTarget, method: string, route: string, body: unknown, accept: number[]): Promise<T> {
  let res: Pick<Response, 'ok' | 'status' | 'text'>;
  try {
    const init = {
      method,
      headers: { ...(api.token ? { authorization: `Bearer ${api.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000),
    };
    res = api.ca ? await fetchTrusting(api.ca, `${api.url}${route}`, init) : await fetch(`${api.url}${route}`, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || cause?.code === 'SELF_SIGNED_CERT_IN_CHAIN' || cause?.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') {
      throw new ExitError(
        `the API at ${api.url} has a certificate this machine does not trust (${cause.code}): give its certificate with --ca FILE or DBM_API_CA (the stack's is <data>/secrets/tls-cert.pem)`,
        EXIT.unreachable,
      );
    }
    throw new ExitError(
      `cannot reach the API at ${api.url} (${cause?.code ?? cause?.message ?? (err as Error).message}); is \`data-backup-manager stack start\` running? (set --api-url or DBM_API_URL)`,
      EXIT.unreachable,
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw new ExitError(`the API at ${api.url} answered ${method} ${route} with HTTP ${res.status} and no JSON`, EXIT.failure);
  }
  if (!res.ok && !accept.includes(res.status)) {
    const message = (json as { error?: { message?: string } }).error?.message ?? `HTTP ${res.status}`;
    if (res.status === 401 && !api.token) throw new ExitError(`${message} (give --token, DBM_API_TOKEN, or "token" in ${configFile()})`, EXIT.unauthorized);
    // a dependency of the API that is down (the catalog) is "cannot reach", like the API itself
    const unavailable = res.status === 503 && (json as { error?: { unavailable?: string } }).error?.unavailable;
    const code = res.status === 401 || res.status === 403 ? EXIT.unauthorized : res.status === 400 ? EXIT.usage : unavailable ? EXIT.unreachable : EXIT.failure;
    throw new ExitError(message, code);
  }
  return json as T;
}

/** fetch with one more CA to trust (undici's own, loaded only then: the CLI starts without it). */
async function fetchTrusting(ca: string, url: string, init: RequestInit): Promise<Pick<Response, 'ok' | 'status' | 'text'>> {
  const undici = await import('undici');
  const dispatcher = new undici.Agent({ connect: { ca } });
  try {
    const res = await undici.fetch(url, { ...(init as object), dispatcher } as Parameters<typeof undici.fetch>[1]);
    const text = await res.text();
    return { ok: res.ok, status: res.status, text: async () => text };
  } finally {
    await dispatcher.close();
  }
}

export interface JobView {
  id: string;
  kind: string;
  type: string | null;
  targets: string[];
  status: string;
  progress: number;
  error: string | null;
  description: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  steps: { target: string; status: string; snapshot_id: string | null; bytes_read: number | null; bytes_added: number | null; bytes_stored?: number | null; duration_ms: number | null; error: string | null; details?: Record<string, unknown> }[];
  /** what running targets report while they work: bytes read so far, files */
  live?: Record<string, { bytes_read: number; files?: number }>;
  log: { at: string; level: string; message: string }[];
}

/**
 * Follows a job until it ends: a progress line on a terminal, and with
 * `verbose` each new log line as it arrives. A failed job is exit code 1.
 */
export async function waitForJob(api: ApiTarget, id: string, opts: { verbose?: boolean; timeoutMs?: number } = {}): Promise<JobView> {
  const started = Date.now();
  let job = await pollAcrossOutages(api, id, null);
  let shown = 0;
  // what is moving now: the targets still at work, with the bytes they have read
  const state = (): string => {
    const live = Object.entries(job.live ?? {})
      .filter(([target]) => !job.steps.some((s) => s.target === target))
      .map(([target, l]) => `${target}: ${formatBytes(l.bytes_read)} read${l.files ? `, ${l.files} files` : ''}`)
      .join('; ');
    return `${job.kind} ${job.id}: ${job.status} ${Math.round(job.progress * 100)} % (${job.steps.length}/${job.targets.length || '?'} steps)${live ? ` — ${live}` : ''}`;
  };
  const stop = progressLine(() => `${state()} ${Math.round((Date.now() - started) / 1000)} s`);
  // not on a terminal (a log, CI): a plain line when something changed, at most every 10 s
  let printed = '';
  let printedAt = 0;
  try {
    for (;;) {
      if (!process.stderr.isTTY && Date.now() - printedAt >= 10_000 && state() !== printed) {
        printed = state();
        printedAt = Date.now();
        process.stderr.write(`${printed}\n`);
      }
      if (opts.verbose) {
        const clear = process.stderr.isTTY ? '\r\x1b[K' : '';
        for (const line of job.log.slice(shown)) process.stderr.write(`${clear}${line.at.slice(11, 19)} ${line.message}\n`);
        shown = job.log.length;
      }
      if (['completed', 'failed', 'cancelled'].includes(job.status)) break;
      if (opts.timeoutMs && Date.now() - started > opts.timeoutMs) throw new ExitError(`job ${id} is still ${job.status} after ${opts.timeoutMs / 1000} s`, EXIT.failure);
      await sleep(1000);
      job = await pollAcrossOutages(api, id, job);
    }
  } finally {
    stop();
  }
  return job;
}

/**
 * The job again; while the API (or its catalog) cannot be reached, waits and retries with a backoff
 * (saying so once per outage), for up to 10 minutes: a restarted stack does not end a --wait.
 */
async function pollAcrossOutages(api: ApiTarget, id: string, last: JobView | null): Promise<JobView> {
  const route = `/api/v1/jobs/${encodeURIComponent(id)}`;
  const started = Date.now();
  for (let delay = 1000; ; delay = Math.min(delay * 2, 15_000)) {
    try {
      const job = await call<JobView>(api, 'GET', route);
      if (Date.now() - started > 1500) process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}the API answers again; following job ${id}\n`);
      return job;
    } catch (err) {
      if (!(err instanceof ExitError) || err.code !== EXIT.unreachable || Date.now() - started > 10 * 60_000) throw err;
      if (delay === 1000) process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}${err.message.split(';')[0]}; retrying (job ${id} was ${last?.status ?? 'queued'})\n`);
      await sleep(delay);
    }
  }
}

/** After --wait: a failed or cancelled job makes the command fail, naming why. */
export function assertSucceeded(job: JobView): void {
  if (job.status !== 'completed') throw new ExitError(`job ${job.id} ${job.status}: ${job.error ?? 'no reason recorded'}`, EXIT.failure);
}
