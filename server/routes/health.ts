import { Hono } from 'hono';
import type { Pool } from 'pg';
import type { WorkflowEndpoint } from '../n8n/trigger';

/** `/health`: each dependency with its status and latency; 503 when one is down. */
export function healthRoutes(deps: { catalog: Pool; n8n: WorkflowEndpoint }): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const probe = async (check: () => Promise<unknown>): Promise<{ status: 'ok' | 'down'; latency_ms: number; error?: string }> => {
      const started = performance.now();
      try {
        await check();
        return { status: 'ok', latency_ms: Math.round(performance.now() - started) };
      } catch (err) {
        return { status: 'down', latency_ms: Math.round(performance.now() - started), error: (err as Error).message };
      }
    };
    const checks = {
      catalog: await probe(() => deps.catalog.query('SELECT 1')),
      n8n: await probe(async () => {
        const res = await fetch(`${deps.n8n.url}/healthz/readiness`, { signal: AbortSignal.timeout(3000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
      }),
    };
    const ok = Object.values(checks).every((x) => x.status === 'ok');
    return c.json({ status: ok ? 'healthy' : 'unhealthy', checks }, ok ? 200 : 503);
  });
  return app;
}
