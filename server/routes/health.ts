import { Hono } from 'hono';
import { Repository } from '../../engine';
import { findToken } from '../../catalog/tokens';
import { HEARTBEAT_MS, listWorkers, type WorkerRow } from '../../catalog/workers';
import type { TokenCache } from '../auth';
import type { AppDeps, AppEnv } from '../context';
import { describe } from '../describe';

type Check = { status: 'ok' | 'down'; latency_ms: number; error?: string } & Record<string, unknown>;

/**
 * `/health`: each dependency up or down; 503 when one is down. No token needed for that; with a
 * valid token it also shows latencies, errors and where the repository is (which a stranger need not know).
 */
export function healthRoutes(deps: AppDeps, tokens: TokenCache): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/', describe({ operationId: 'getHealth', summary: 'Catalog, repository and n8n (in queue mode also Redis and every worker): up or down (with a token: latency, errors, queued and running jobs too); 503 when one is down', answers: 'json', public: true }), async (c) => {
    const probe = async (check: () => Promise<Record<string, unknown> | void>): Promise<Check> => {
      const started = performance.now();
      try {
        const extra = (await check()) ?? {};
        return { status: 'ok', latency_ms: Math.round(performance.now() - started), ...extra };
      } catch (err) {
        return { status: 'down', latency_ms: Math.round(performance.now() - started), error: (err as Error).message };
      }
    };
    const cluster = deps.cluster;
    const [catalog, n8n, repository, redis, workers] = await Promise.all([
      probe(async () => {
        await deps.catalog.query('SELECT 1');
      }),
      probe(async () => {
        const res = await fetch(`${deps.n8n.url}/healthz/readiness`, { signal: AbortSignal.timeout(3000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
      }),
      deps.repository
        ? probe(async () => ({ location: deps.repository!.location, initialized: await Repository.exists(deps.repository!.storage) }))
        : Promise.resolve(null),
      cluster ? probe(async () => ({ queued: await cluster.queueDepth() })) : Promise.resolve(null),
      cluster ? listWorkers(deps.catalog).catch(() => []) : Promise.resolve([]),
    ]);
    const checks: Record<string, Check> = {
      catalog,
      n8n,
      ...(repository ? { repository } : {}),
      ...(redis ? { redis } : {}),
      // each worker, wherever it runs, as its stack last reported it: alive, and what it runs now
      ...Object.fromEntries(workers.map((w) => [`n8n ${w.name}`, workerCheck(w)])),
    };
    const ok = Object.values(checks).every((x) => x.status === 'ok');
    // a stranger learns up or down, not the workers' names and hosts: one line for all of them
    const strangers = Object.fromEntries(Object.entries(checks).filter(([name]) => !name.startsWith('n8n worker-')).map(([name, check]) => [name, { status: check.status }]));
    if (workers.length) strangers.workers = { status: workers.every((w) => workerCheck(w).status === 'ok') ? 'ok' : 'down' };
    const shown = (await knownCaller(deps, tokens, c.req.header('authorization'))) ? checks : strangers;
    return c.json({ status: ok ? 'healthy' : 'unhealthy', checks: shown }, ok ? 200 : 503);
  });
  return app;
}

function workerCheck(w: WorkerRow): Check {
  const age = Date.now() - w.heartbeat_at.getTime();
  const silent = age > 3 * HEARTBEAT_MS;
  const status = w.alive && !silent ? 'ok' : 'down';
  const error = silent ? `no report from ${w.host} for ${Math.round(age / 1000)} s` : w.alive ? undefined : 'its health check does not answer';
  return { status, latency_ms: 0, running: w.running, host: w.host, ...(error ? { error } : {}) };
}

async function knownCaller(deps: AppDeps, tokens: TokenCache, header: string | undefined): Promise<boolean> {
  const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!token) return false;
  if (tokens.get(token)) return true;
  return (await findToken(deps.catalog, token).catch(() => null)) !== null;
}
