import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from 'pg';
import { createApp } from '../../server/app';
import { migrate } from '../../server/catalog/migrate';
import { newCatalogDatabase } from '../support/catalog';
import { freePort } from '../support/ports';

describe('the REST API against a real catalog, with n8n unreachable', () => {
  let pool: Pool;
  let app: ReturnType<typeof createApp>;
  let n8nUrl: string;

  beforeAll(async () => {
    pool = (await newCatalogDatabase()).pool;
    await migrate(pool);
    n8nUrl = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    app = createApp({ catalog: pool, n8n: { url: n8nUrl, webhookSecret: 's' } });
  });

  afterAll(async () => {
    await pool.end();
  });

  const post = (path: string, body: unknown, raw?: string) =>
    app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) });

  it.each([
    [{}, 'targets'],
    [{ targets: [] }, 'targets'],
    [{ targets: ['tape'] }, 'targets.0'],
    [{ targets: ['files'], type: 'weekly' }, 'type'],
    [{ targets: ['files'], retention_days: 'thirty' }, 'retention_days'],
    [{ targets: ['files'], retention_days: -1 }, 'retention_days'],
    [{ targets: ['files'], paths: 'not-a-list' }, 'paths'],
    [{ targets: ['files'], colour: 'blue' }, 'colour'],
  ])('answers %j with 400 naming %s', async (body, field) => {
    const res = await post('/api/v1/backup/create', body);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: { status: number; message: string; field: string } };
    expect(json.error.field).toBe(field);
    expect(json.error.message).toContain(field);
  });

  it('answers malformed JSON with 400 and a huge body with 413', async () => {
    const bad = await post('/api/v1/backup/create', null, '{"targets": [');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { status: 400, message: 'the request body is not valid JSON', field: 'body' } });
    const huge = await post('/api/v1/backup/create', { targets: ['files'], description: 'x'.repeat(70_000) });
    expect(huge.status).toBe(413);
  });

  it('records the job as failed with the reason, and answers 503, when n8n cannot be reached', async () => {
    const res = await post('/api/v1/backup/create', { type: 'full', targets: ['postgres', 'files'], description: 'Manual backup', retention_days: 30 });
    expect(res.status).toBe(503);
    const { error } = (await res.json()) as { error: { message: string } };
    const id = /backup job (\S+) failed to start/.exec(error.message)![1];
    expect(error.message).toContain(`n8n at ${n8nUrl} cannot be reached (ECONNREFUSED)`);
    const job = (await (await app.request(`/api/v1/jobs/${id}`)).json()) as Record<string, unknown>;
    expect(job).toMatchObject({ id, kind: 'backup', type: 'full', targets: ['postgres', 'files'], status: 'failed', description: 'Manual backup', retention_days: 30 });
    expect(String(job.error)).toContain('cannot be reached');
  });

  it('answers unknown jobs, malformed ids and unknown routes as JSON', async () => {
    expect((await app.request('/api/v1/jobs/job_nope')).status).toBe(404);
    const bad = await app.request(`/api/v1/jobs/${encodeURIComponent('../../etc')}`);
    expect(bad.status).toBe(400);
    const none = await app.request('/api/v1/nothing');
    expect(none.status).toBe(404);
    expect(await none.json()).toEqual({ error: { status: 404, message: 'no route GET /api/v1/nothing' } });
  });

  it('reports health per dependency: 503 while n8n is down', async () => {
    const res = await app.request('/health');
    expect(res.status).toBe(503);
    const body = (await res.json()) as { status: string; checks: Record<string, { status: string; latency_ms: number }> };
    expect(body.status).toBe('unhealthy');
    expect(body.checks.catalog.status).toBe('ok');
    expect(body.checks.n8n.status).toBe('down');
  });
});
