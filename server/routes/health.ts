import { Hono } from 'hono';
import { Repository } from '../../engine';
import type { AppDeps, AppEnv } from '../context';

type Check = { status: 'ok' | 'down'; latency_ms: number; error?: string } & Record<string, unknown>;

/** `/health`: each dependency with its status and latency; 503 when one is down. No token needed. */
export function healthRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/', async (c) => {
    const probe = async (check: () => Promise<Record<string, unknown> | void>): Promise<Check> => {
      const started = performance.now();
      try {
        const extra = (await check()) ?? {};
        return { status: 'ok', latency_ms: Math.round(performance.now() - started), ...extra };
      } catch (err) {
        return { status: 'down', latency_ms: Math.round(performance.now() - started), error: (err as Error).message };
      }
    };
    const [catalog, n8n, repository] = await Promise.all([
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
    ]);
    const checks: Record<string, Check> = { catalog, n8n, ...(repository ? { repository } : {}) };
    const ok = Object.values(checks).every((x) => x.status === 'ok');
    return c.json({ status: ok ? 'healthy' : 'unhealthy', checks }, ok ? 200 : 503);
  });
  return app;
}
