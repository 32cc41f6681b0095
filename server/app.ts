import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { authenticate, requireRole, TokenCache } from './auth';
import { recordAudit } from '../catalog/audit';
import { catalogUnavailable } from '../catalog/availability';
import { latestHealthCheck } from '../catalog/healthChecks';
import type { AppDeps, AppEnv } from './context';
import { describe } from './describe';
import { ApiError } from './errors';
import { clientAddress } from './clientAddress';
import { consoleRoutes } from './console';
import { createMetrics } from './metrics';
import { openApiDocument } from './openapi';
import { adminRoutes } from './routes/admin';
import { backupRoutes } from './routes/backups';
import { cleanupRoutes } from './routes/cleanup';
import { healthRoutes } from './routes/health';
import { jobRoutes } from './routes/jobs';
import { restoreRoutes } from './routes/restores';
import { scheduleRoutes } from './routes/schedules';
import { snapshotRoutes } from './routes/snapshots';
import { SessionStore, sessionRoutes } from './session';
import { StorageMonitor } from './storageStatus';

export type { AppDeps } from './context';
export { clientAddress } from './clientAddress';

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
  const metrics = createMetrics(deps.catalog, storage, deps.cluster);
  const tokens = new TokenCache();
  const sessions = new SessionStore();

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    deps.log?.info({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round((performance.now() - started) * 10) / 10, actor: c.get('actor')?.name }, 'request');
  });
  app.use('*', bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.json({ error: { status: 413, message: 'the request body is larger than 64 KiB' } }, 413) }));
  app.use('/api/v1/*', audit(deps));
  app.use('/api/v1/*', refuseNulBytes);
  const audited = audit(deps);
  app.use('/ui/*', (c, next) => (c.req.method === 'GET' ? next() : audited(c, next))); // logins and logouts; not the page asking whether it is logged in
  app.use('/ui/*', refuseNulBytes);
  app.route('/', consoleRoutes());
  app.route('/ui/session', sessionRoutes(deps, sessions));

  app.route('/health', healthRoutes(deps, tokens));
  let document: Record<string, unknown> | undefined; // made once, from the routes, when first asked for
  app.get('/api/v1/openapi.json', describe({ operationId: 'getOpenApi', summary: 'This document', answers: 'json', public: true }), (c) => c.json((document ??= openApiDocument(app, API_VERSION))));
  const cookies = { store: sessions, trustedProxies: deps.trustedProxies ?? [] };
  app.use('/api/v1/*', authenticate(deps.catalog, tokens, cookies));
  app.use('/metrics', authenticate(deps.catalog, tokens, cookies));
  app.get('/metrics', describe({ operationId: 'getMetrics', summary: 'Prometheus metrics: jobs, last successes, repository size', answers: 'text' }), requireRole('viewer'), async (c) => c.body(await metrics.metrics(), 200, { 'content-type': metrics.contentType }));
  app.route('/api/v1/backup', backupRoutes(deps));
  app.route('/api/v1/jobs', jobRoutes(deps));
  app.route('/api/v1/restore', restoreRoutes(deps));
  app.route('/api/v1/schedules', scheduleRoutes(deps));
  app.route('/api/v1/cleanup', cleanupRoutes(deps));
  app.route('/api/v1/snapshots', snapshotRoutes(deps));
  app.get('/api/v1/storage/status', describe({ operationId: 'getStorageStatus', summary: 'Repository size, objects, dedup and compression ratios, growth, capacity warnings', answers: 'json' }), requireRole('viewer'), async (c) => c.json(await storage.status()));
  app.get('/api/v1/pitr', describe({ operationId: 'listPitrWindows', summary: "Every archived cluster's point-in-time window: base backups, earliest and latest moments, WAL gaps", answers: 'json' }), requireRole('viewer'), async (c) => c.json({ clusters: await storage.pitrWindows() }));
  app.get('/api/v1/alerts', describe({ operationId: 'getAlerts', summary: "What the monitor found when it last looked (stuck and failed jobs, missed schedules, WAL gaps, capacity)", answers: 'json' }), requireRole('viewer'), async (c) => c.json({ latest: await latestHealthCheck(deps.catalog) }));
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
    const down = catalogUnavailable(err);
    if (down) {
      deps.log?.error({ method: c.req.method, path: c.req.path, reason: down }, 'the catalog database is unavailable');
      return c.json({ error: { status: 503, message: `the catalog database is unavailable (${down}); try again when it is back`, unavailable: 'catalog' } }, 503);
    }
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
    const marked = c.get('audit');
    if (!mutating && !marked && status !== 401 && status !== 403) return;
    const actor = c.get('actor');
    let details: Record<string, unknown> = { ...marked };
    if ((c.res.headers.get('content-type') ?? '').includes('json')) {
      const answer = (await c.res.clone().json().catch(() => ({}))) as { job_id?: string; error?: { message?: string } };
      details = { ...details, ...(answer.job_id ? { job_id: answer.job_id } : {}), ...(answer.error?.message ? { error: answer.error.message } : {}) };
    }
    await recordAudit(deps.catalog, {
      actor: actor ? `${actor.name} (${actor.id})` : 'anonymous',
      role: actor?.role,
      method: c.req.method,
      path: c.req.path,
      remote: clientAddress(c, deps.trustedProxies ?? []),
      status,
      outcome: status === 401 || status === 403 ? 'refused' : status < 400 ? 'ok' : 'failed',
      details,
    }, deps.auditKey).catch((err: Error) => deps.log?.error({ err }, 'cannot write the audit log'));
  };
}

/**
 * PostgreSQL stores no NUL character in text: a request carrying one is a 400
 * naming the field, before it reaches a query (it used to be a 500).
 */
async function refuseNulBytes(c: import('hono').Context<AppEnv>, next: () => Promise<void>): Promise<Response | void> {
  if (/%00/.test(c.req.url) || c.req.url.includes('\0')) {
    return c.json({ error: { status: 400, message: 'the URL contains a NUL character', field: 'url' } }, 400);
  }
  if (c.req.method !== 'GET' && (c.req.header('content-type') ?? '').includes('json')) {
    const text = await c.req.text();
    if (text.includes('\\u0000') || text.includes('\0')) {
      let field: string | null = 'body';
      try {
        field = nulField(JSON.parse(text));
      } catch {
        // not JSON: the route's validation says so
      }
      if (field) return c.json({ error: { status: 400, message: `${field}: contains a NUL character`, field } }, 400);
    }
  }
  await next();
}

function nulField(value: unknown, at = ''): string | null {
  if (typeof value === 'string') return value.includes('\0') ? at || 'body' : null;
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k.includes('\0')) return at ? `${at}.${k.replace(/\0/g, '')}` : k.replace(/\0/g, '');
      const found = nulField(v, at ? `${at}.${k}` : k);
      if (found) return found;
    }
  }
  return null;
}
