import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Pool } from 'pg';
import { ApiError } from './errors';
import type { WorkflowEndpoint } from './n8n/trigger';
import { backupRoutes } from './routes/backups';
import { healthRoutes } from './routes/health';
import { jobRoutes } from './routes/jobs';

export interface AppDeps {
  catalog: Pool;
  n8n: WorkflowEndpoint;
}

/** The REST API: an app per resource, one error shape, no stack traces. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.use('*', bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.json({ error: { status: 413, message: 'the request body is larger than 64 KiB' } }, 413) }));
  app.route('/health', healthRoutes(deps));
  app.route('/api/v1/backup', backupRoutes(deps));
  app.route('/api/v1/jobs', jobRoutes(deps));
  app.notFound((c) => c.json({ error: { status: 404, message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((err, c) => {
    if (err instanceof ApiError) {
      return c.json({ error: { status: err.status, message: err.message, ...(err.field ? { field: err.field } : {}) } }, err.status);
    }
    if (err instanceof SyntaxError || (err instanceof HTTPException && /JSON/i.test(err.message))) {
      return c.json({ error: { status: 400, message: 'the request body is not valid JSON', field: 'body' } }, 400);
    }
    if (err instanceof HTTPException) return c.json({ error: { status: err.status, message: err.message } }, err.status);
    process.stderr.write(`unexpected error on ${c.req.method} ${c.req.path}: ${err.stack ?? err}\n`);
    return c.json({ error: { status: 500, message: 'internal error' } }, 500);
  });
  return app;
}
