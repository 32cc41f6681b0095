import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createApp } from '../../server/app';
import { openApiDocument } from '../../server/openapi';
import { claimJob, createJob, finishJob, getJob, markRunning, recordStep } from '../../catalog/jobs';
import { migrate } from '../../catalog/migrate';
import { createToken } from '../../catalog/tokens';
import { newCatalogDatabase } from '../support/catalog';
import { freePort } from '../support/ports';
import { startApiServer } from '../../server/serve';
import { EXIT } from '../../cli/exitCodes';
import { finish, runCli, startCli } from '../support/cli';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from '../support/backends';

type ErrorBody = { error: { status: number; message: string; field?: string } };

/**
 * The REST API against a real catalog. n8n is either unreachable, or a
 * recorder standing in for its webhooks (the real workflows are driven in
 * test/e2e): it shows what the API asks the workflows to do.
 */
describe('the REST API against a real catalog', () => {
  let pool: Pool;
  let app: ReturnType<typeof createApp>;
  let down: ReturnType<typeof createApp>;
  let n8nUrl: string;
  let hooks: Server;
  // body: the request the workflow will load from the catalog when it claims the job; sent: what crossed the wire
  const calls: { path: string; secret: string; body: Record<string, unknown>; sent: Record<string, unknown> }[] = [];
  const token: Record<'viewer' | 'operator' | 'admin', string> = { viewer: '', operator: '', admin: '' };

  beforeAll(async () => {
    pool = (await newCatalogDatabase()).pool;
    await migrate(pool);
    for (const role of ['viewer', 'operator', 'admin'] as const) token[role] = (await createToken(pool, { name: `${role}-test`, role })).token;
    hooks = createServer((req, res) => {
      let data = '';
      req.on('data', (d: Buffer) => (data += d.toString()));
      req.on('end', () => {
        const sent = JSON.parse(data) as { job_id: string };
        void getJob(pool, sent.job_id).then((job) => {
          calls.push({ path: req.url ?? '', secret: String(req.headers['x-backup-secret'] ?? ''), sent, body: { ...job?.params, job_id: sent.job_id } });
          res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'accepted', execution_id: String(calls.length) }));
        });
      });
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    const defaults = { paths: ['/srv/config'], restoreDir: '/srv/restores' };
    app = createApp({ catalog: pool, n8n: { url: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`, webhookSecret: 'shh' }, defaults, settings: { statusCacheMs: 0 } });
    n8nUrl = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    down = createApp({ catalog: pool, n8n: { url: n8nUrl, webhookSecret: 's' }, defaults });
  });

  afterAll(async () => {
    hooks.close();
    await pool.end();
  });

  const request = (target: ReturnType<typeof createApp>, method: string, path: string, opts: { role?: keyof typeof token | null; body?: unknown; raw?: string } = {}) =>
    target.request(path, {
      method,
      headers: {
        ...(opts.role === null ? {} : { authorization: `Bearer ${token[opts.role ?? 'admin']}` }),
        ...(opts.body !== undefined || opts.raw ? { 'content-type': 'application/json' } : {}),
      },
      body: opts.raw ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined),
    });
  const post = (path: string, body: unknown, role: keyof typeof token = 'admin') => request(app, 'POST', path, { role, body });
  const get = (path: string, role: keyof typeof token = 'viewer') => request(app, 'GET', path, { role });
  const errorOf = async (res: Response): Promise<ErrorBody['error']> => ((await res.json()) as ErrorBody).error;

  describe('bad input gets a 4xx naming the problem', () => {
    it.each([
      ['/api/v1/backup/create', {}, 'targets'],
      ['/api/v1/backup/create', { targets: [] }, 'targets'],
      ['/api/v1/backup/create', { targets: ['tape'] }, 'targets.0'],
      ['/api/v1/backup/create', { targets: ['files'], type: 'weekly' }, 'type'],
      ['/api/v1/backup/create', { targets: ['files'], retention_days: 'thirty' }, 'retention_days'],
      ['/api/v1/backup/create', { targets: ['files'], retention_days: -1 }, 'retention_days'],
      ['/api/v1/backup/create', { targets: ['files'], paths: 'not-a-list' }, 'paths'],
      ['/api/v1/backup/create', { targets: ['files'], paths: ['relative/dir'] }, 'paths.0'],
      ['/api/v1/backup/create', { targets: ['files'], colour: 'blue' }, 'colour'],
      ['/api/v1/backup/create', { targets: ['scenarios'] }, 'targets'],
      ['/api/v1/backup/create', { targets: ['minio'] }, 'buckets'],
      ['/api/v1/restore/create', {}, 'targets'],
      ['/api/v1/restore/create', { backup_job_id: '../etc' }, 'backup_job_id'],
      ['/api/v1/restore/create', { backup_job_id: 'job_x', snapshot: 'abcdef12' }, 'snapshot'],
      ['/api/v1/restore/create', { snapshot: 'not-hex!' }, 'snapshot'],
      ['/api/v1/restore/create', { snapshot: 'abcdef12' }, 'targets'],
      ['/api/v1/restore/create', { targets: ['files'], destination: { directory: 'rel' } }, 'destination.directory'],
      ['/api/v1/restore/create', { targets: ['files'], verify_before_restore: 'yes' }, 'verify_before_restore'],
      ['/api/v1/restore/create', { cluster: 'main', target_time: 'yesterday' }, 'target_time'],
      ['/api/v1/restore/create', { cluster: 'main', target_lsn: 'zero' }, 'target_lsn'],
      ['/api/v1/restore/create', { cluster: 'main', target_time: '2026-11-26T10:00:00Z', target_lsn: '0/3000060' }, 'target_lsn'],
      ['/api/v1/restore/create', { target_time: '2026-11-26T10:00:00Z' }, 'cluster'],
      ['/api/v1/restore/create', { cluster: '../etc' }, 'cluster'],
      ['/api/v1/restore/create', { cluster: 'main', data_directory: 'relative' }, 'data_directory'],
      ['/api/v1/backup/verify/latest', { mode: 'quick' }, 'mode'],
      ['/api/v1/backup/verify/latest', { percent: 500 }, 'percent'],
      ['/api/v1/schedules', { name: 'Bad Name', cron: '0 2 * * *', targets: ['files'] }, 'name'],
      ['/api/v1/schedules', { name: 'nightly', cron: '0 25 * * *', targets: ['files'] }, 'cron'],
      ['/api/v1/schedules', { name: 'nightly', cron: 'every day', targets: ['files'] }, 'cron'],
      ['/api/v1/schedules', { name: 'nightly', cron: '0 2 * * *', targets: ['files'], type: 'weekly' }, 'type'],
      ['/api/v1/schedules', { name: 'nightly', cron: '0 2 * * *' }, 'targets'],
      ['/api/v1/cleanup', {}, 'older_than'],
      ['/api/v1/cleanup', { older_than: 'a month' }, 'older_than'],
      ['/api/v1/cleanup', { older_than: '30d', dry_run: 'no' }, 'dry_run'],
      ['/api/v1/tokens', { name: 'ci', role: 'root' }, 'role'],
    ])('POST %s %j → 400 naming %s', async (path, body, field) => {
      const res = await post(path, body);
      expect(res.status).toBe(400);
      const error = await errorOf(res);
      expect(error.field).toBe(field);
      expect(error.message).toContain(field.split('.')[0]);
    });

    it.each([
      ['/api/v1/backup/list?type=weekly', 'type'],
      ['/api/v1/backup/list?status=done', 'status'],
      ['/api/v1/backup/list?target=tape', 'target'],
      ['/api/v1/backup/list?limit=0', 'limit'],
      ['/api/v1/backup/list?limit=abc', 'limit'],
      ['/api/v1/backup/list?offset=-1', 'offset'],
      ['/api/v1/backup/list?since=yesterday', 'since'],
      ['/api/v1/backup/list?colour=blue', 'colour'],
      [`/api/v1/jobs/${encodeURIComponent('../../etc')}`, 'id'],
    ])('GET %s → 400 naming %s', async (path, field) => {
      const res = await get(path);
      expect(res.status).toBe(400);
      expect((await errorOf(res)).field).toBe(field);
    });

    it('answers malformed JSON with 400 and a huge body with 413', async () => {
      const bad = await request(app, 'POST', '/api/v1/backup/create', { role: 'operator', raw: '{"targets": [' });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual({ error: { status: 400, message: 'the request body is not valid JSON', field: 'body' } });
      const huge = await post('/api/v1/backup/create', { targets: ['files'], description: 'x'.repeat(70_000) });
      expect(huge.status).toBe(413);
    });

    it('answers unknown ids with 404 and unknown routes as JSON', async () => {
      expect((await get('/api/v1/jobs/job_nope')).status).toBe(404);
      expect((await get('/api/v1/restore/job_nope')).status).toBe(404);
      expect((await post('/api/v1/jobs/job_nope/restart', undefined)).status).toBe(404);
      expect((await post('/api/v1/backup/verify/job_nope', {})).status).toBe(404);
      expect((await post('/api/v1/restore/create', { backup_job_id: 'job_nope' })).status).toBe(404);
      expect((await post('/api/v1/schedules/nope/enable', undefined)).status).toBe(404);
      expect((await request(app, 'DELETE', '/api/v1/schedules/nope')).status).toBe(404);
      expect((await request(app, 'DELETE', '/api/v1/tokens/tok_000000000000')).status).toBe(404);
      const none = await get('/api/v1/nothing');
      expect(none.status).toBe(404);
      expect(await none.json()).toEqual({ error: { status: 404, message: 'no route GET /api/v1/nothing' } });
    });
  });

  describe('tokens and roles', () => {
    it('refuses a call without a token or with an unknown one (401), and audits the refusal', async () => {
      const none = await request(app, 'GET', '/api/v1/backup/status', { role: null });
      expect(none.status).toBe(401);
      expect((await errorOf(none)).message).toContain('Authorization: Bearer');
      const wrong = await app.request('/api/v1/backup/status', { headers: { authorization: 'Bearer dbm_not-a-token' } });
      expect(wrong.status).toBe(401);
      expect((await request(app, 'GET', '/metrics', { role: null })).status).toBe(401);
      const audit = (await pool.query(`SELECT actor, outcome, status FROM audit_log WHERE path = '/api/v1/backup/status' ORDER BY id`)).rows;
      expect(audit).toEqual([
        { actor: 'anonymous', outcome: 'refused', status: 401 },
        { actor: 'anonymous', outcome: 'refused', status: 401 },
      ]);
    });

    it.each([
      ['viewer', 'POST', '/api/v1/backup/create', { targets: ['files'] }, 'operator'],
      ['viewer', 'POST', '/api/v1/restore/create', { targets: ['files'] }, 'operator'],
      ['operator', 'POST', '/api/v1/schedules', { name: 'n', cron: '0 2 * * *', targets: ['files'] }, 'admin'],
      ['operator', 'POST', '/api/v1/cleanup', { older_than: '30d' }, 'admin'],
      ['operator', 'GET', '/api/v1/tokens', undefined, 'admin'],
      ['viewer', 'DELETE', '/api/v1/schedules/nightly', undefined, 'admin'],
    ] as const)('a %s token on %s %s → 403 naming the role needed', async (role, method, path, body, needed) => {
      const res = await request(app, method, path, { role, body });
      expect(res.status).toBe(403);
      expect((await errorOf(res)).message).toContain(`needs the ${needed} role`);
    });

    it('creates, lists and revokes tokens; a revoked token no longer works', async () => {
      const res = await post('/api/v1/tokens', { name: 'grafana', role: 'viewer' });
      expect(res.status).toBe(201);
      const created = (await res.json()) as { id: string; token: string };
      expect(created.token).toMatch(/^dbm_/);
      expect((await app.request('/api/v1/backup/status', { headers: { authorization: `Bearer ${created.token}` } })).status).toBe(200);
      const { tokens } = (await (await get('/api/v1/tokens', 'admin')).json()) as { tokens: { id: string; token?: string }[] };
      expect(tokens.some((t) => t.id === created.id && t.token === undefined)).toBe(true);
      const stored = (await pool.query('SELECT token_hash FROM api_tokens WHERE id = $1', [created.id])).rows[0].token_hash as string;
      expect(stored).not.toContain(created.token.slice(4, 20)); // only a hash is kept
      expect((await request(app, 'DELETE', `/api/v1/tokens/${created.id}`)).status).toBe(200);
      expect((await app.request('/api/v1/backup/status', { headers: { authorization: `Bearer ${created.token}` } })).status).toBe(401);
    });
  });

  describe('jobs', () => {
    it('records the job as failed with the reason, and answers 503, when n8n cannot be reached', async () => {
      const res = await request(down, 'POST', '/api/v1/backup/create', { role: 'operator', body: { type: 'full', targets: ['postgres', 'files'], description: 'Manual backup', retention_days: 30 } });
      expect(res.status).toBe(503);
      const error = await errorOf(res);
      const id = /backup job (\S+) failed to start/.exec(error.message)![1];
      expect(error.message).toContain(`n8n at ${n8nUrl} cannot be reached (ECONNREFUSED)`);
      const job = (await (await get(`/api/v1/jobs/${id}`)).json()) as Record<string, unknown> & { log: { message: string }[] };
      expect(job).toMatchObject({ id, kind: 'backup', type: 'full', targets: ['postgres', 'files'], status: 'failed', description: 'Manual backup', retention_days: 30 });
      expect(String(job.error)).toContain('cannot be reached');
      expect(job.log.map((l) => l.message)).toEqual(['queued: backup full postgres,files', expect.stringMatching(/^failed: n8n at .* cannot be reached/)]);
      const audit = (await pool.query(`SELECT actor, outcome, status, details FROM audit_log WHERE path = '/api/v1/backup/create' AND status = 503`)).rows[0];
      expect(audit).toMatchObject({ actor: expect.stringContaining('operator-test'), outcome: 'failed', details: { error: expect.stringContaining(id) } });
    });

    it('starts a backup through the workflow webhook with the shared secret, the defaults filled in', async () => {
      calls.length = 0;
      const res = await post('/api/v1/backup/create', { type: 'full', targets: ['postgres', 'files'] }, 'operator');
      expect(res.status).toBe(202);
      const { job_id: id } = (await res.json()) as { job_id: string };
      expect(calls).toEqual([{ path: '/webhook/dbm-backup', secret: 'shh', sent: { job_id: id, claim: expect.any(String) }, body: { type: 'full', targets: ['postgres', 'files'], paths: ['/srv/config'], job_id: id } }]);
      // the call carries no request, only the job and a one-time claim; the workflow takes the job with it, once
      const job = (await (await get(`/api/v1/jobs/${id}`)).json()) as { status: string; claim_hash?: string };
      expect(job.status).toBe('queued');
      expect(job.claim_hash).toBeUndefined();
      await expect(claimJob(pool, id, 'a guessed claim', '7')).rejects.toThrow(/cannot be claimed/);
      expect((await claimJob(pool, id, String(calls[0].sent.claim), '7')).params).toMatchObject({ paths: ['/srv/config'] });
      await expect(claimJob(pool, id, String(calls[0].sent.claim), '8')).rejects.toThrow(/cannot be claimed/); // a replay
      expect(await getJob(pool, id)).toMatchObject({ status: 'running', n8n_execution_id: '7' });
    });

    it('takes a base backup of a PostgreSQL cluster under its cluster name (main unless named)', async () => {
      calls.length = 0;
      expect((await post('/api/v1/backup/create', { type: 'full', targets: ['postgres-cluster'] }, 'operator')).status).toBe(202);
      expect((await post('/api/v1/backup/create', { type: 'full', targets: ['postgres-cluster'], cluster: 'db1' }, 'operator')).status).toBe(202);
      expect(calls.map((c) => c.body.cluster)).toEqual(['main', 'db1']);
      const bad = await post('/api/v1/backup/create', { targets: ['postgres-cluster'], cluster: '../x' }, 'operator');
      expect((await errorOf(bad)).field).toBe('cluster');
    });

    it('lists jobs newest first with filters and pages, and sums them up in status', async () => {
      const mark = new Date().toISOString();
      const made: string[] = [];
      for (let i = 0; i < 5; i++) {
        const job = await createJob(pool, { kind: 'backup', type: i % 2 ? 'full' : 'incremental', targets: i < 3 ? ['postgres'] : ['files'] });
        await markRunning(pool, job.id);
        await recordStep(pool, job.id, { target: job.targets[0], status: 'completed', snapshot_id: `${'ab'.repeat(31)}${i}${i}`, bytes_read: 100, bytes_added: 10, bytes_stored: 5, duration_ms: 9 });
        await finishJob(pool, job.id, { status: i === 4 ? 'failed' : 'completed', error: i === 4 ? 'disk full' : undefined });
        made.unshift(job.id);
      }
      const page = (await (await get(`/api/v1/backup/list?since=${encodeURIComponent(mark)}&limit=2`)).json()) as { total: number; next_offset: number; jobs: { id: string; snapshots: { target: string }[] }[] };
      expect(page.total).toBe(5);
      expect(page.jobs.map((j) => j.id)).toEqual(made.slice(0, 2));
      expect(page.next_offset).toBe(2);
      expect(page.jobs[0].snapshots).toEqual([{ target: 'files', status: 'completed', snapshot_id: expect.any(String), bytes_added: 10 }]);
      const pg = (await (await get(`/api/v1/backup/list?since=${encodeURIComponent(mark)}&target=postgres&type=full`)).json()) as { total: number };
      expect(pg.total).toBe(1);
      const failed = (await (await get(`/api/v1/backup/list?since=10m&status=failed`)).json()) as { jobs: { id: string; error: string }[] };
      expect(failed.jobs[0]).toMatchObject({ id: made[0], error: 'disk full' });

      const status = (await (await get('/api/v1/backup/status?verbose=true')).json()) as { status: string; jobs: Record<string, number>; last_success: { target: string; job_id: string }[]; last_failure: { id: string }; recent: unknown[] };
      expect(status.status).toBe('attention'); // failures in the last 24 h
      expect(status.jobs.completed).toBeGreaterThanOrEqual(4);
      expect(status.last_success.map((s) => s.target).sort()).toEqual(['files', 'postgres']);
      expect(status.last_failure.id).toBe(made[0]);
      expect(status.recent.length).toBeGreaterThanOrEqual(5);
    });

    it('restarts a failed job (not a completed or a live one) with the same request', async () => {
      calls.length = 0;
      const original = await createJob(pool, { kind: 'backup', type: 'full', targets: ['files'], params: { type: 'full', targets: ['files'], paths: ['/srv/config/app'] } });
      await markRunning(pool, original.id);
      expect((await post(`/api/v1/jobs/${original.id}/restart`, undefined, 'operator')).status).toBe(409); // alive
      await finishJob(pool, original.id, { status: 'failed', error: 'n8n restarted' });
      const res = await post(`/api/v1/jobs/${original.id}/restart`, undefined, 'operator');
      expect(res.status).toBe(202);
      const { job_id: id } = (await res.json()) as { job_id: string };
      expect(calls[0]).toMatchObject({ path: '/webhook/dbm-backup', body: { type: 'full', targets: ['files'], paths: ['/srv/config/app'], job_id: id } });
      const restarted = (await (await get(`/api/v1/jobs/${id}`)).json()) as { restart_of: string };
      expect(restarted.restart_of).toBe(original.id);
      await finishJob(pool, id, { status: 'completed' });
      const again = await post(`/api/v1/jobs/${id}/restart`, undefined, 'operator');
      expect(again.status).toBe(409);
      expect((await errorOf(again)).message).toContain('completed');
    });

    it('restarts a stuck job and cancels the stuck one', async () => {
      const stuck = await createJob(pool, { kind: 'backup', type: 'incremental', targets: ['postgres'] });
      await markRunning(pool, stuck.id);
      await pool.query(`UPDATE jobs SET heartbeat_at = now() - interval '2 hours' WHERE id = $1`, [stuck.id]);
      const res = await post(`/api/v1/jobs/${stuck.id}/restart`, undefined, 'operator');
      expect(res.status).toBe(202);
      const { job_id: id } = (await res.json()) as { job_id: string };
      const old = (await (await get(`/api/v1/jobs/${stuck.id}`)).json()) as { status: string; error: string };
      expect(old).toMatchObject({ status: 'cancelled', error: `restarted as ${id}` });
    });

    it("verifies a backup job's snapshots, and restores them where asked", async () => {
      const backup = await createJob(pool, { kind: 'backup', type: 'full', targets: ['postgres', 'files'] });
      await markRunning(pool, backup.id);
      await recordStep(pool, backup.id, { target: 'postgres', status: 'completed', snapshot_id: 'aa'.repeat(32) });
      await recordStep(pool, backup.id, { target: 'files', status: 'completed', snapshot_id: 'bb'.repeat(32) });
      await finishJob(pool, backup.id, { status: 'completed' });
      calls.length = 0;
      const v = await post(`/api/v1/backup/verify/${backup.id}`, { mode: 'subset', percent: 20 }, 'operator');
      expect(v.status).toBe(202);
      expect(calls[0]).toMatchObject({
        path: '/webhook/dbm-verify',
        body: { snapshots: [{ snapshot: 'aa'.repeat(32), target: 'postgres' }, { snapshot: 'bb'.repeat(32), target: 'files' }], mode: 'subset', percent: 20 },
      });
      const r = await post('/api/v1/restore/create', { backup_job_id: backup.id, targets: ['postgres', 'files'], destination: { as: 'app_copy' }, verify_before_restore: true }, 'operator');
      expect(r.status).toBe(202);
      const { job_id: restoreId } = (await r.json()) as { job_id: string };
      expect(calls[1]).toMatchObject({
        path: '/webhook/dbm-restore',
        body: {
          job_id: restoreId,
          verify_before_restore: true,
          restores: [
            { snapshot: 'aa'.repeat(32), target: 'postgres', destination: 'postgres', as: 'app_copy', force: false },
            { snapshot: 'bb'.repeat(32), target: 'files', destination: 'directory', directory: `/srv/restores/${restoreId}/files` },
          ],
        },
      });
      expect(((await (await get(`/api/v1/restore/${restoreId}`)).json()) as { kind: string }).kind).toBe('restore');
      const base = await createJob(pool, { kind: 'backup', type: 'full', targets: ['postgres-cluster'] });
      await recordStep(pool, base.id, { target: 'postgres-cluster', status: 'completed', snapshot_id: 'cc'.repeat(32) });
      const physical = await post('/api/v1/restore/create', { backup_job_id: base.id }, 'operator');
      expect(physical.status).toBe(400);
      expect((await errorOf(physical)).message).toContain('restored to a moment: give cluster and target_time');
      const missing = await post('/api/v1/restore/create', { backup_job_id: backup.id, targets: ['minio'] }, 'operator');
      expect(missing.status).toBe(409);
      expect((await errorOf(missing)).message).toContain('no snapshot of minio');
    });

    it('restores a PostgreSQL cluster to a moment through the restore workflow', async () => {
      calls.length = 0;
      const res = await post('/api/v1/restore/create', { cluster: 'main', target_time: '2026-11-26T10:30:00Z', start_port: 5499 }, 'operator');
      expect(res.status).toBe(202);
      const { job_id: id } = (await res.json()) as { job_id: string };
      expect(calls[0]).toMatchObject({
        path: '/webhook/dbm-restore',
        body: {
          job_id: id,
          restores: [
            { target: 'postgres-cluster', destination: 'cluster', cluster: 'main', recovery_target: 'time', target_time: '2026-11-26T10:30:00Z', data_directory: `/srv/restores/${id}/postgres-cluster`, start_port: 5499 },
          ],
        },
      });
      expect(((await (await get(`/api/v1/jobs/${id}`)).json()) as { targets: string[] }).targets).toEqual(['postgres-cluster']);
    });

    it('cleans up through the retention workflow, a dry run unless told otherwise', async () => {
      calls.length = 0;
      const res = await post('/api/v1/cleanup', { older_than: '30d' });
      expect(res.status).toBe(202);
      expect(calls[0]).toMatchObject({ path: '/webhook/dbm-retention', body: { keep_within: '30d', keep_last: 1, dry_run: true, prune: true } });
    });
  });

  it('answers 503 naming the catalog while its database is down, and the CLI says so in one line with exit 3', async () => {
    const { Pool: PgPool } = await import('pg');
    const dead = new PgPool({ host: '127.0.0.1', port: await freePort(), user: 'x', database: 'x', connectionTimeoutMillis: 2000 });
    dead.on('error', () => undefined);
    const outage = createApp({ catalog: dead, n8n: { url: n8nUrl, webhookSecret: 's' } });
    for (const [method, route] of [['GET', '/api/v1/backup/status'], ['POST', '/api/v1/backup/create']] as const) {
      const res = await request(outage, method, route, { body: method === 'POST' ? { targets: ['files'] } : undefined });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ error: { status: 503, message: expect.stringContaining('the catalog database is unavailable (ECONNREFUSED)'), unavailable: 'catalog' } });
    }
    expect((await outage.request('/health')).status).toBe(503);
    const server = await startApiServer({ catalog: dead, n8n: { url: n8nUrl, webhookSecret: 's' } }, { port: 0 });
    try {
      const cli = await runCli(['status'], { DBM_API_URL: server.url, DBM_API_TOKEN: token.viewer, XDG_CONFIG_HOME: '/nonexistent', XDG_DATA_HOME: tempDir() });
      expect(cli.code).toBe(EXIT.unreachable);
      expect(cli.stderr.trim().split('\n')).toEqual([expect.stringContaining('the catalog database is unavailable')]);
    } finally {
      await server.close();
      await dead.end();
    }
  });

  it('--wait follows a job across a restart of the API, saying it retries', async () => {
    const port = await freePort();
    const deps = { catalog: pool, n8n: { url: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`, webhookSecret: 'shh' }, defaults: { paths: ['/srv/config'] } };
    let server = await startApiServer(deps, { port });
    const child = startCli(['backup', 'files', '--wait', '--description', 'waits across a restart'], { DBM_API_URL: server.url, DBM_API_TOKEN: token.operator, XDG_CONFIG_HOME: '/nonexistent', XDG_DATA_HOME: tempDir() });
    const done = finish(child);
    let id: string | undefined;
    for (let i = 0; i < 100 && !id; i++) {
      await sleep(100);
      id = (await pool.query<{ id: string }>(`SELECT id FROM jobs WHERE description = 'waits across a restart'`)).rows[0]?.id;
    }
    expect(id).toBeDefined();
    await server.close(); // the API goes away while the CLI waits
    await sleep(3000);
    server = await startApiServer(deps, { port });
    await finishJob(pool, id!, { status: 'completed' });
    const result = await done;
    await server.close();
    expect(result.code, result.stderr).toBe(EXIT.ok);
    expect(result.stderr).toMatch(/cannot reach the API at .*; retrying \(job \S+ was queued\)/);
    expect(result.stderr).toContain(`the API answers again; following job ${id}`);
    expect(result.stdout).toContain(`backup job ${id}: completed`);
  });

  it('says schedules need n8n when the server has no n8n API', async () => {
    const res = await post('/api/v1/schedules', { name: 'nightly', cron: '0 2 * * *', targets: ['postgres'] });
    expect(res.status).toBe(503);
  });

  it('serves Prometheus metrics from the catalog, and an OpenAPI document of every route', async () => {
    const text = await (await get('/metrics')).text();
    expect(text).toMatch(/^dbm_jobs\{kind="backup",status="completed"\} \d+$/m);
    expect(text).toMatch(/^dbm_last_success_timestamp_seconds\{target="postgres"\} \d+/m);
    expect(text).toMatch(/^dbm_backup_bytes\{target="postgres",stage="read"\} \d+/m);
    expect(text).toMatch(/^dbm_api_process_resident_memory_bytes \d+/m);
    // every name and help text as Prometheus's own linter wants them (.ci/run installs promtool: apt-get install prometheus)
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(promtool.error, 'promtool is not installed: apt-get install prometheus').toBeUndefined();
    expect(`${promtool.stdout}${promtool.stderr}`.trim()).toBe('');
    expect(promtool.status).toBe(0);
    const doc = (await (await app.request('/api/v1/openapi.json')).json()) as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: { 'application/json': { schema: { properties: Record<string, unknown> } } } } }>> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/backup/create', '/api/v1/backup/list', '/api/v1/restore/create', '/api/v1/schedules', '/api/v1/cleanup', '/api/v1/storage/status']));
    expect(Object.keys(doc.paths['/api/v1/backup/create'].post.requestBody!.content['application/json'].schema.properties)).toContain('retention_days');
  });

  it('describes itself from its routes: valid OpenAPI 3.1, lint-clean, an operationId, summary and role on every operation', async () => {
    const doc = (await (await app.request('/api/v1/openapi.json')).json()) as { paths: Record<string, Record<string, { operationId: string; summary: string; 'x-role'?: string; security?: unknown[] }>> };
    const validation = await new Validator().validate(doc);
    expect(validation.errors ?? [], 'the OpenAPI 3.1 schema').toEqual([]);
    expect(validation.valid).toBe(true);
    const { createConfig, lintFromString } = await import('@redocly/openapi-core');
    const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: 'openapi.json', config: await createConfig({ extends: ['recommended'] }) });
    expect(problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} (${p.location[0]?.pointer ?? ''})`)).toEqual([]);
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ at: `${method.toUpperCase()} ${path}`, ...op })));
    expect(operations.length).toBeGreaterThanOrEqual(25); // every route the seed names
    for (const op of operations) {
      expect(op.operationId, op.at).toMatch(/^[a-z][A-Za-z]+$/);
      expect(op.summary, op.at).toBeTruthy();
      expect(op['x-role'] ?? (op.security?.length === 0 ? 'public' : undefined), `${op.at} names its role or is public`).toBeTruthy();
    }
    expect(new Set(operations.map((o) => o.operationId)).size).toBe(operations.length);
    // the roles are the ones the routes check
    const role = (at: string) => operations.find((o) => o.at === at)?.['x-role'];
    expect([role('POST /api/v1/schedules'), role('POST /api/v1/backup/create'), role('GET /api/v1/jobs/{id}'), role('DELETE /api/v1/tokens/{id}')]).toEqual(['admin', 'operator', 'viewer', 'admin']);
    const refused = await app.request('/api/v1/schedules', { method: 'POST', headers: { authorization: `Bearer ${token.operator}`, 'content-type': 'application/json' }, body: '{}' });
    expect(refused.status).toBe(403);
    // a route nobody described cannot slip in
    expect(() => openApiDocument({ routes: [{ method: 'GET', path: '/api/v1/undocumented', handler: () => undefined }] }, '1')).toThrow(/GET \/api\/v1\/undocumented has no describe\(\)/);
  });

  it('reports health per dependency: 503 while n8n is down; up or down only without a token, details with one', async () => {
    const res = await down.request('/health');
    expect(res.status).toBe(503);
    const body = (await res.json()) as { status: string; checks: Record<string, { status: string; latency_ms?: number; error?: string }> };
    expect(body).toEqual({ status: 'unhealthy', checks: { catalog: { status: 'ok' }, n8n: { status: 'down' } } });
    const known = (await (await down.request('/health', { headers: { authorization: `Bearer ${token.viewer}` } })).json()) as typeof body;
    expect(known.checks.n8n).toMatchObject({ status: 'down', latency_ms: expect.any(Number), error: expect.stringContaining('fetch failed') });
  });
});
