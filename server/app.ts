import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { authenticate, requireRole, TokenCache } from './auth';
import { recordAudit } from './catalog/audit';
import type { AppDeps, AppEnv } from './context';
import { ApiError } from './errors';
import { createMetrics } from './metrics';
import { openApiDocument } from './openapi';
import { adminRoutes } from './routes/admin';
import { backupRoutes } from './routes/backups';
import { cleanupRoutes } from './routes/cleanup';
import { healthRoutes } from './routes/health';
import { jobRoutes } from './routes/jobs';
import { restoreRoutes } from './routes/restores';
import { scheduleRoutes } from './routes/schedules';
import { StorageMonitor } from './storageStatus';

export type { AppDeps } from './context';

export const API_VERSION = '1.0.0';

/**
 * The REST API: a sub-app per resource, bearer tokens with roles, every
 * mutating (or refused) call audited, one error shape, no stack traces.
 */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const storage = new StorageMonitor(deps.catalog, deps.repository ? () => deps.repository!.open() : undefined, {
    capacityBytes: deps.settings?.capacityBytes,
    localPath: deps.repository?.localPath,
    location: deps.repository?.location,
  });
  const metrics = createMetrics(deps.catalog, storage);
  const tokens = new TokenCache();

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    deps.log?.info({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round((performance.now() - started) * 10) / 10, actor: c.get('actor')?.name }, 'request');
  });
  app.use('*', bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.json({ error: { status: 413, message: 'the request body is larger than 64 KiB' } }, 413) }));
  app.use('/api/v1/*', audit(deps));

  app.route('/health', healthRoutes(deps));
  app.get('/api/v1/openapi.json', (c) => c.json(openApiDocument(API_VERSION)));
  app.use('/api/v1/*', authenticate(deps.catalog, tokens));
  app.use('/metrics', authenticate(deps.catalog, tokens));
  app.get('/metrics', requireRole('viewer'), async (c) => c.body(await metrics.metrics(), 200, { 'content-type': metrics.contentType }));
  app.route('/api/v1/backup', backupRoutes(deps));
  app.route('/api/v1/jobs', jobRoutes(deps));
  app.route('/api/v1/restore', restoreRoutes(deps));
  app.route('/api/v1/schedules', scheduleRoutes(deps));
  app.route('/api/v1/cleanup', cleanupRoutes(deps));
  app.get('/api/v1/storage/status', requireRole('viewer'), async (c) => c.json(await storage.status()));
  app.route('/api/v1', adminRoutes(deps, tokens));

  app.notFound((c) => c.json({ error: { status: 404, message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((err, c) => {
    if (err instanceof ApiError) {
      return c.json({ error: { status: err.status, message: err.message, ...(err.field ? { field: err.field } : {}) } }, err.status);
    }
    if (err instanceof SyntaxError || (err instanceof HTTPException && /JSON/i.test(err.message))) {
      return c.json({ error: { status: 400, message: 'the request body is not valid JSON', field: 'body' } }, 400);
    }
    if (err instanceof HTTPException) return c.json({ error: { status: err.status, message: err.message } }, err.status);
    if (deps.log) deps.log.error({ err, method: c.req.method, path: c.req.path }, 'unexpected error');
    else process.stderr.write(`unexpected error on ${c.req.method} ${c.req.path}: ${err.stack ?? err}\n`);
    return c.json({ error: { status: 500, message: 'internal error' } }, 500);
  });
  return app;
}

/** The audit log: every mutating call, and every refused one, with who, what, from where, and how it went. */
function audit(deps: AppDeps) {
  return async (c: import('hono').Context<AppEnv>, next: () => Promise<void>): Promise<void> => {
    await next();
    const status = c.res.status;
    const mutating = c.req.method !== 'GET' && c.req.method !== 'HEAD';
    if (!mutating && status !== 401 && status !== 403) return;
    const actor = c.get('actor');
    let details: Record<string, unknown> = {};
    if ((c.res.headers.get('content-type') ?? '').includes('json')) {
      const answer = (await c.res.clone().json().catch(() => ({}))) as { job_id?: string; error?: { message?: string } };
      details = { ...(answer.job_id ? { job_id: answer.job_id } : {}), ...(answer.error?.message ? { error: answer.error.message } : {}) };
    }
    const remote = c.req.header('x-forwarded-for') ?? (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress ?? null;
    await recordAudit(deps.catalog, {
      actor: actor ? `${actor.name} (${actor.id})` : 'anonymous',
      role: actor?.role,
      method: c.req.method,
      path: c.req.path,
      remote,
      status,
      outcome: status === 401 || status === 403 ? 'refused' : status < 400 ? 'ok' : 'failed',
      details,
    }).catch((err: Error) => deps.log?.error({ err }, 'cannot write the audit log'));
  };
}
