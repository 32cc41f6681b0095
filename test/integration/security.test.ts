import { mkdirSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app';
import { createJob, finishJob } from '../../catalog/jobs';
import { migrate } from '../../catalog/migrate';
import { createToken } from '../../catalog/tokens';
import { startApiServer, type ApiServer } from '../../server/serve';
import { tempDir } from '../support/backends';
import { newCatalogDatabase } from '../support/catalog';

type ErrorBody = { error: { status: number; message: string; field?: string } };

/**
 * The attacks of the least-privilege issue, tried against the API over a real catalog: each is
 * refused, nothing reaches n8n, and the refusal is in the audit log. (The local-user attacks on
 * files run in test/e2e/stack.test.ts as `nobody`; the webhook replays in test/e2e/n8n.test.ts.)
 */
describe('least privilege: what an operator, a viewer or a forged header cannot do', () => {
  let pool: Pool;
  let app: ReturnType<typeof createApp>;
  let hooks: Server;
  const calls: string[] = [];
  const token: Record<'viewer' | 'operator' | 'admin', string> = { viewer: '', operator: '', admin: '' };
  const root = tempDir('dbm-policy-');
  const data = path.join(root, 'data');
  const policy = {
    backupRoots: [path.join(data, 'config'), path.join(root, 'srv')],
    restoreRoots: [path.join(data, 'restores')],
    protectedPaths: [path.join(data, 'secrets'), path.join(data, 'repository'), path.join(data, 'postgres'), path.join(data, 'n8n')],
    protectedDatabases: ['backup_catalog'],
  };
  const auditKey = 'audit key of the test';

  beforeAll(async () => {
    for (const d of ['config', 'restores', 'secrets', 'repository']) mkdirSync(path.join(data, d), { recursive: true });
    mkdirSync(path.join(root, 'srv'), { recursive: true });
    // a link inside a root that leads out of it, and one that leads into the secrets
    symlinkSync('/etc', path.join(data, 'restores', 'etc-link'));
    symlinkSync(path.join(data, 'secrets'), path.join(root, 'srv', 'secrets-link'));
    pool = (await newCatalogDatabase()).pool;
    await migrate(pool);
    for (const role of ['viewer', 'operator', 'admin'] as const) token[role] = (await createToken(pool, { name: `${role}-sec`, role })).token;
    hooks = createServer((req, res) => {
      calls.push(req.url ?? '');
      req.resume();
      req.on('end', () => res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"accepted"}'));
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    app = createApp({
      catalog: pool,
      n8n: { url: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`, webhookSecret: 'shh' },
      defaults: { paths: [path.join(data, 'config')], restoreDir: path.join(data, 'restores') },
      policy,
      auditKey,
      settings: { statusCacheMs: 0 },
    });
  });

  afterAll(async () => {
    hooks.close();
    await pool.end();
  });

  const post = (route: string, body: unknown, role: keyof typeof token = 'operator', headers: Record<string, string> = {}) =>
    app.request(route, { method: 'POST', headers: { authorization: `Bearer ${token[role]}`, 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const refusedWithout = async (res: Response, status: number, field?: string): Promise<ErrorBody['error']> => {
    const error = ((await res.json()) as ErrorBody).error;
    expect(res.status, error.message).toBe(status);
    if (field) expect(error.field).toBe(field);
    return error;
  };

  describe('host paths: restores only under the restore roots, backups only under the source roots', () => {
    it.each([
      ['/etc/dbm', 'is outside the allowed roots'],
      ['/root/loot', 'is outside the allowed roots'],
      [`${root}/data/restores/../../../../etc/x`, '".." is not allowed'],
      [`${root}/data/restores/etc-link/cron.d`, 'really /etc/cron.d'],
      [`${root}/data/secrets`, 'holds the product'],
      [`${root}/data/repository/x`, 'holds the product'],
      [`${root}/data`, 'contains'],
    ])('a restore into %s is refused (%s), nothing is dispatched, the refusal is audited', async (directory, why) => {
      const before = calls.length;
      const res = await post('/api/v1/restore/create', { targets: ['files'], destination: { directory } });
      expect((await refusedWithout(res, 400, 'destination.directory')).message).toContain(why);
      expect(calls.length).toBe(before);
      const audit = (await pool.query(`SELECT outcome, status FROM audit_log WHERE path = '/api/v1/restore/create' ORDER BY id DESC LIMIT 1`)).rows[0];
      expect(audit).toEqual({ outcome: 'failed', status: 400 });
    });

    it('a restore under the restore root is accepted', async () => {
      const res = await post('/api/v1/restore/create', { targets: ['files'], destination: { directory: path.join(data, 'restores', 'mine') } });
      expect(res.status).toBe(202);
    });

    it.each([
      ['/etc/shadow', 'outside the allowed roots'],
      ['/root', 'outside the allowed roots'],
      [`${root}/data/secrets`, 'holds the product'],
      [`${root}/srv/secrets-link`, 'holds the product'],
      [`${root}/srv/../data/secrets`, '".."'],
      ['/', 'contains'],
    ])('a backup of %s is refused (%s)', async (p, why) => {
      const before = calls.length;
      const res = await post('/api/v1/backup/create', { targets: ['files'], paths: [path.join(root, 'srv'), p] });
      expect((await refusedWithout(res, 400, 'paths.1')).message).toContain(why);
      expect(calls.length).toBe(before);
    });

    it('a cluster restored to a moment gets a data directory under the restore roots only', async () => {
      await refusedWithout(await post('/api/v1/restore/create', { cluster: 'main', data_directory: '/var/lib/postgresql/15/main' }), 400, 'data_directory');
      expect((await post('/api/v1/restore/create', { cluster: 'main', data_directory: path.join(data, 'restores', 'pitr') })).status).toBe(202);
    });
  });

  describe('roles decided by what a job does', () => {
    it('only an admin restores over the original files, replaces an existing database, or gives one another owner', async () => {
      const original = await post('/api/v1/restore/create', { targets: ['files'], destination: { original: true } });
      expect((await refusedWithout(original, 403)).message).toContain('a restore over the original files needs the admin role');
      const force = await post('/api/v1/restore/create', { targets: ['postgres'], destination: { database: 'shop', force: true } });
      expect((await refusedWithout(force, 403)).message).toContain('replaces an existing database needs the admin role');
      expect((await post('/api/v1/restore/create', { targets: ['postgres'], destination: { database: 'shop', force: true } }, 'admin')).status).toBe(202);
      const owner = await post('/api/v1/restore/create', { targets: ['postgres'], destination: { database: 'shop', as: 'shop_copy', owner: 'mallory' } });
      expect((await refusedWithout(owner, 403)).message).toContain('a restore that gives the database another owner needs the admin role');
      expect((await post('/api/v1/restore/create', { targets: ['postgres'], destination: { database: 'shop', as: 'shop_copy', owner: 'mallory' } }, 'admin')).status).toBe(202);
      const audit = (await pool.query(`SELECT outcome FROM audit_log WHERE path = '/api/v1/restore/create' AND status = 403`)).rows;
      expect(audit.length).toBeGreaterThanOrEqual(2);
      expect(audit.every((r) => r.outcome === 'refused')).toBe(true);
    });

    it('the catalog database is never a restore destination, not even for an admin', async () => {
      await refusedWithout(await post('/api/v1/restore/create', { targets: ['postgres'], destination: { database: 'backup_catalog', force: true } }, 'admin'), 400, 'destination.database');
      await refusedWithout(await post('/api/v1/restore/create', { targets: ['postgres'], destination: { database: 'shop', as: 'backup_catalog' } }, 'admin'), 400, 'destination.as');
    });

    it('an operator cannot restart a job an admin had to create', async () => {
      const cleanup = await createJob(pool, { kind: 'cleanup', params: { keep_within: '1h', prune: true, dry_run: false } });
      await finishJob(pool, cleanup.id, { status: 'failed', error: 'lock held' });
      expect((await refusedWithout(await post(`/api/v1/jobs/${cleanup.id}/restart`, ''), 403)).message).toContain('a cleanup (forget and prune) needs the admin role');
      const over = await createJob(pool, { kind: 'restore', params: { restores: [{ target: 'files', destination: 'original' }] } });
      await finishJob(pool, over.id, { status: 'failed', error: 'x' });
      await refusedWithout(await post(`/api/v1/jobs/${over.id}/restart`, ''), 403);
      expect((await post(`/api/v1/jobs/${cleanup.id}/restart`, '', 'admin')).status).toBe(202);
    });
  });

  describe('bad input is a 400 naming the field, never a 500', () => {
    it.each([
      ['/api/v1/backup/create', { targets: ['files'], description: 'a\u0000b' }, 'description'],
      ['/api/v1/restore/create', { targets: ['files'], destination: { directory: `${root}/data/restores/a\u0000b` } }, 'destination.directory'],
      ['/api/v1/tokens', { name: 'x\u0000', role: 'viewer' }, 'name'],
      ['/api/v1/cleanup', { older_than: '99999999999999d' }, 'older_than'],
    ])('POST %s %j → 400 %s', async (route, body, field) => {
      await refusedWithout(await post(route, body, 'admin'), 400, field);
    });

    it.each([['/api/v1/backup/list?since=99999999999999d', 'since'], ['/api/v1/backup/list?target=files%00', 'url'], ['/api/v1/jobs/job%00x', 'url']])('GET %s → 400 %s', async (route, field) => {
      await refusedWithout(await app.request(route, { headers: { authorization: `Bearer ${token.viewer}` } }), 400, field);
    });
  });

  describe('the audit log', () => {
    let server: ApiServer;
    let proxied: ApiServer;
    beforeAll(async () => {
      const deps = { catalog: pool, n8n: { url: 'http://127.0.0.1:9', webhookSecret: 'x' }, auditKey, policy };
      server = await startApiServer(deps, { port: 0 });
      proxied = await startApiServer({ ...deps, trustedProxies: ['127.0.0.1'] }, { port: 0 });
    });
    afterAll(async () => {
      await server.close();
      await proxied.close();
    });

    it('takes the client address from the socket; X-Forwarded-For only from a trusted proxy', async () => {
      const send = (url: string) => fetch(`${url}/api/v1/tokens`, { method: 'POST', headers: { authorization: 'Bearer forged', 'x-forwarded-for': '203.0.113.9, 198.51.100.7' } });
      expect((await send(server.url)).status).toBe(401);
      expect((await pool.query(`SELECT remote FROM audit_log ORDER BY id DESC LIMIT 1`)).rows[0].remote).toBe('127.0.0.1');
      expect((await send(proxied.url)).status).toBe(401);
      expect((await pool.query(`SELECT remote FROM audit_log ORDER BY id DESC LIMIT 1`)).rows[0].remote).toBe('198.51.100.7');
    });

    it('lists the newest first by time and numeric id, and finds an edited or a deleted row', async () => {
      for (let i = 0; i < 12; i++) await post('/api/v1/tokens', { name: `t${i}`, role: 'root' }, 'admin');
      const get = (route: string) => app.request(route, { headers: { authorization: `Bearer ${token.admin}` } });
      const { entries } = (await (await get('/api/v1/audit?limit=20')).json()) as { entries: { id: string }[] };
      const ids = entries.map((e) => Number(e.id));
      expect(ids).toEqual([...ids].sort((a, b) => b - a));
      expect(ids[0]).toBe(Number((await pool.query('SELECT max(id) AS m FROM audit_log')).rows[0].m));

      const ok = await get('/api/v1/audit/verify');
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ ok: true, checked: expect.any(Number) });

      const victim = ids[5];
      const saved = (await pool.query('SELECT actor FROM audit_log WHERE id = $1', [victim])).rows[0].actor as string;
      await pool.query(`UPDATE audit_log SET actor = 'someone else' WHERE id = $1`, [victim]);
      const edited = await get('/api/v1/audit/verify');
      expect(edited.status).toBe(409);
      expect(await edited.json()).toMatchObject({ ok: false, broken: { id: String(victim), problem: expect.stringContaining('edited') } });
      await pool.query('UPDATE audit_log SET actor = $2 WHERE id = $1', [victim, saved]);

      // a whole row deleted: the next one no longer links (re-hashing it needs the key the catalog does not hold)
      const row = (await pool.query('SELECT * FROM audit_log WHERE id = $1', [victim])).rows[0];
      await pool.query('DELETE FROM audit_log WHERE id = $1', [victim]);
      const deleted = (await (await get('/api/v1/audit/verify')).json()) as { ok: boolean; broken: { id: string; problem: string } };
      expect(deleted.ok).toBe(false);
      expect(deleted.broken.problem).toContain('deleted');
      expect(Number(deleted.broken.id)).toBeGreaterThan(victim);
      const cols = Object.keys(row);
      await pool.query(`INSERT INTO audit_log (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, cols.map((c) => row[c]));
      expect(((await (await get('/api/v1/audit/verify')).json()) as { ok: boolean }).ok).toBe(true);
    });
  });
});
