import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupStreams, openStorage, Repository } from '../../engine';
import { createApp } from '../../server/app';
import { migrate } from '../../catalog/migrate';
import { createToken } from '../../catalog/tokens';
import { startApiServer } from '../../server/serve';
import { tlsCertificate } from '../../server/tls';
import { tempDir } from '../support/backends';
import { newCatalogDatabase } from '../support/catalog';
import { archiveWithGap } from '../support/pitr';

/** The API's views of a real repository: storage status, the snapshot cache, health; and TLS. */
describe('the REST API over a real repository', () => {
  let pool: Pool;
  let token: string;
  const dir = tempDir('dbm-api-repo-');
  const passphrase = 'api repository passphrase';

  beforeAll(async () => {
    pool = (await newCatalogDatabase()).pool;
    await migrate(pool);
    token = (await createToken(pool, { name: 'admin', role: 'admin' })).token;
    const repo = await Repository.init(openStorage(dir), { passphrase });
    for (const target of ['one', 'two']) {
      await backupStreams(repo, [{ name: 'dump.sql', open: () => Readable.from([Buffer.from(`${target} `.repeat(50_000))]) }], { target, tags: { job: `job_${target}` } });
    }
  });

  afterAll(async () => {
    await pool.end();
  });

  const appWith = (capacityBytes?: number) => {
    const storage = openStorage(dir);
    return createApp({
      catalog: pool,
      n8n: { url: 'http://127.0.0.1:9', webhookSecret: 's' },
      repository: { location: dir, storage, localPath: dir, open: () => Repository.open(storage, { passphrase }) },
      settings: { capacityBytes },
    });
  };
  const call = (app: ReturnType<typeof createApp>, method: string, path: string) => app.request(path, { method, headers: { authorization: `Bearer ${token}` } });

  it('rebuilds the snapshot cache from the repository, removing what the repository no longer has', async () => {
    await pool.query(`INSERT INTO snapshots (id, target, type, time) VALUES ('stale', 'one', 'full', now())`);
    const res = await call(appWith(), 'POST', '/api/v1/catalog/rebuild');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ cached: 2, removed: 1 });
    const rows = (await pool.query('SELECT target, job_id FROM snapshots ORDER BY target')).rows;
    expect(rows).toEqual([{ target: 'one', job_id: 'job_one' }, { target: 'two', job_id: 'job_two' }]);
  });

  it('reports storage: size and objects from the repository, and warns near the allowance', async () => {
    const res = await call(appWith(1024), 'GET', '/api/v1/storage/status');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { repository: { bytes: number; snapshots: number; packs: number }; filesystem: { free_bytes: number }; warnings: string[] };
    expect(body.repository.snapshots).toBe(2);
    expect(body.repository.packs).toBeGreaterThan(0);
    expect(body.repository.bytes).toBeGreaterThan(1024);
    expect(body.filesystem.free_bytes).toBeGreaterThan(0);
    expect(body.warnings.some((w) => /of its 0\.0 GiB allowance/.test(w))).toBe(true);
    const metrics = await (await call(appWith(), 'GET', '/metrics')).text();
    expect(metrics).toMatch(new RegExp(`^dbm_repository_size_bytes ${body.repository.bytes}$`, 'm'));
  });

  it('exports each archived cluster\'s restorable window and WAL gaps as metrics', async () => {
    const repo = await Repository.open(openStorage(dir), { passphrase });
    const stoppedAt = new Date(Date.now() - 60_000).toISOString();
    await archiveWithGap(repo, 'c1', new Date(stoppedAt));
    const text = await (await call(appWith(), 'GET', '/metrics')).text();
    expect(text).toMatch(/^dbm_pitr_wal_gap_segments\{cluster="c1"\} 1$/m);
    const latest = Number(/^dbm_pitr_latest_restorable_timestamp_seconds\{cluster="c1"\} (\S+)$/m.exec(text)![1]);
    expect(latest).toBeGreaterThanOrEqual(Date.parse(stoppedAt) / 1000); // segment 3, archived just now: before the gap
  });

  it('reports the repository in /health: where it is only to a caller with a token', async () => {
    const body = (await (await call(appWith(), 'GET', '/health')).json()) as { checks: { repository: { status: string; initialized: boolean; location: string } } };
    expect(body.checks.repository).toMatchObject({ status: 'ok', initialized: true, location: expect.any(String) });
    const stranger = (await (await appWith().request('/health')).json()) as typeof body;
    expect(stranger.checks.repository).toEqual({ status: 'ok' });
  });

  it('serves HTTPS with a self-signed certificate, refusing anything below TLS 1.3', async () => {
    const tls = tlsCertificate(tempDir('dbm-tls-'));
    const server = await startApiServer({ catalog: pool, n8n: { url: 'http://127.0.0.1:9', webhookSecret: 's' } }, { port: 0, tls });
    try {
      expect(server.url).toMatch(/^https:/);
      const get = (maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
        new Promise<{ status: number; protocol: string }>((resolve, reject) => {
          const req = httpsRequest(`${server.url}/api/v1/backup/status`, { ca: tls.cert, maxVersion, headers: { authorization: `Bearer ${token}` } }, (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, protocol: (res.socket as import('node:tls').TLSSocket).getProtocol() ?? '' });
          });
          req.on('error', reject);
          req.end();
        });
      expect(await get('TLSv1.3')).toEqual({ status: 200, protocol: 'TLSv1.3' });
      await expect(get('TLSv1.2')).rejects.toThrow(/protocol|version|alert/i);
    } finally {
      await server.close();
    }
  });
});
