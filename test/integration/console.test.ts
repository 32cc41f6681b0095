import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordHealthCheck } from '../../catalog/healthChecks';
import { migrate } from '../../catalog/migrate';
import { createToken, revokeToken } from '../../catalog/tokens';
import { acquireLock, backupTree, listSnapshots, openStorage, Repository, type SnapshotRef } from '../../engine';
import { createApp } from '../../server/app';
import { tempDir } from '../support/backends';
import { newCatalogDatabase } from '../support/catalog';
import { seededBytes } from '../support/trees';

type ErrorBody = { error: { status: number; message: string; field?: string } };

/**
 * The web console's server side against a real catalog and a real repository:
 * its page and headers, the session cookie and its CSRF token, and the API
 * calls it adds (browsing a snapshot, downloading a file, the monitor's
 * alerts, a cron's next runs). The page itself is driven in a real Chromium
 * in test/e2e/console.test.ts.
 */
describe('the web console, server side', () => {
  let pool: Pool;
  let app: ReturnType<typeof createApp>;
  let snap: SnapshotRef;
  const token: Record<'viewer' | 'operator' | 'admin', string> = { viewer: '', operator: '', admin: '' };
  const dir = tempDir('dbm-console-repo-');
  const source = tempDir('dbm-console-src-');
  const passphrase = 'console test passphrase';
  const big = seededBytes('console-big', 3 * 1024 * 1024 + 17);

  beforeAll(async () => {
    pool = (await newCatalogDatabase()).pool;
    await migrate(pool);
    for (const role of ['viewer', 'operator', 'admin'] as const) token[role] = (await createToken(pool, { name: `${role}-console`, role })).token;
    await fs.mkdir(path.join(source, 'docs', 'deep'), { recursive: true });
    await fs.writeFile(path.join(source, 'docs', 'readme.txt'), 'hello from the snapshot\n');
    await fs.writeFile(path.join(source, 'docs', 'deep', 'big.bin'), big);
    await fs.symlink('readme.txt', path.join(source, 'docs', 'link'));
    const repo = await Repository.init(openStorage(dir), { passphrase });
    snap = await backupTree(repo, [source], { target: 'files', tags: { job: 'job_console' } });
    const storage = openStorage(dir);
    app = createApp({
      catalog: pool,
      n8n: { url: 'http://127.0.0.1:9', webhookSecret: 's' },
      repository: { location: dir, storage, localPath: dir, open: () => Repository.open(storage, { passphrase }) },
    });
  });

  afterAll(async () => {
    await pool.end();
  });

  const login = async (role: keyof typeof token, base = 'http://localhost'): Promise<{ cookie: string; setCookie: string; csrf: string }> => {
    const res = await app.request(`${base}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: token[role] }) });
    expect(res.status).toBe(200);
    const setCookie = res.headers.get('set-cookie')!;
    const body = (await res.json()) as { role: string; csrf: string };
    expect(body.role).toBe(role);
    return { cookie: setCookie.split(';')[0], setCookie, csrf: body.csrf };
  };
  const bearer = (role: keyof typeof token) => ({ authorization: `Bearer ${token[role]}` });

  it('serves the page with a policy that runs only its own scripts, and nothing outside its folder', async () => {
    const page = await app.request('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(await page.text()).toContain('/console/app.js');
    const script = await app.request('/console/app.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('javascript');
    for (const bad of ['/console/..%2Fpackage.json', '/console/app.ts', '/console/tsconfig.json', '/console/nothing.js']) expect((await app.request(bad)).status, bad).toBe(404);
    // the whole of the page's script, as the issue bounds it
    const files = (await fs.readdir(path.join(__dirname, '..', '..', 'dist', 'console'))).filter((f) => f.endsWith('.js'));
    let total = 0;
    for (const f of files) total += (await fs.stat(path.join(__dirname, '..', '..', 'dist', 'console', f))).size;
    expect(total).toBeLessThan(150 * 1024);
  });

  it('logs in with a token into an HttpOnly, SameSite=Strict cookie (Secure under TLS), and refuses a bad token, audited', async () => {
    const bad = await app.request('/ui/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'dbm_not_a_token' }) });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('set-cookie')).toBeNull();
    const refused = (await pool.query(`SELECT outcome FROM audit_log WHERE path = '/ui/session' ORDER BY id DESC LIMIT 1`)).rows[0];
    expect(refused.outcome).toBe('refused');
    const plain = await login('viewer');
    expect(plain.setCookie).toMatch(/^dbm_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
    const tls = await login('viewer', 'https://localhost');
    expect(tls.setCookie).toMatch(/; Secure/);
    expect(tls.setCookie).not.toContain(token.viewer); // the token stays on the server
    const me = await app.request('/ui/session', { headers: { cookie: plain.cookie } });
    expect(((await me.json()) as { name: string }).name).toBe('viewer-console');
    expect((await app.request('/api/v1/backup/status', { headers: { cookie: plain.cookie } })).status).toBe(200);
    expect((await app.request('/api/v1/backup/status', { headers: { cookie: 'dbm_session=forged' } })).status).toBe(401);
  });

  it('lets a session change things only with its CSRF token, from its own origin; logging out or revoking the token ends it', async () => {
    const s = await login('operator');
    const cancel = (headers: Record<string, string>) => app.request('/api/v1/jobs/job_none/cancel', { method: 'POST', headers: { cookie: s.cookie, ...headers } });
    const none = await cancel({});
    expect(none.status).toBe(403);
    expect(((await none.json()) as ErrorBody).error.field).toBe('x-dbm-csrf');
    expect((await cancel({ 'x-dbm-csrf': 'wrong' })).status).toBe(403);
    expect((await cancel({ 'x-dbm-csrf': s.csrf, origin: 'https://evil.example' })).status).toBe(403);
    // through authentication and the role check to the route, which knows no such job
    expect((await cancel({ 'x-dbm-csrf': s.csrf, origin: 'http://localhost' })).status).toBe(404);
    const viewer = await login('viewer');
    expect((await app.request('/api/v1/jobs/job_none/cancel', { method: 'POST', headers: { cookie: viewer.cookie, 'x-dbm-csrf': viewer.csrf } })).status).toBe(403);

    expect((await app.request('/ui/session', { method: 'DELETE', headers: { cookie: s.cookie } })).status).toBe(403); // no CSRF token: another site cannot log you out
    expect((await app.request('/ui/session', { method: 'DELETE', headers: { cookie: s.cookie, 'x-dbm-csrf': s.csrf } })).status).toBe(200);
    expect((await app.request('/api/v1/backup/status', { headers: { cookie: s.cookie } })).status).toBe(401);

    const { info, token: doomed } = await createToken(pool, { name: 'doomed', role: 'viewer' });
    const res = await app.request('/ui/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: doomed }) });
    const cookie = res.headers.get('set-cookie')!.split(';')[0];
    await revokeToken(pool, info.id);
    await new Promise((r) => setTimeout(r, 5100)); // the token cache's few seconds
    expect((await app.request('/api/v1/backup/status', { headers: { cookie } })).status).toBe(401);
  }, 20_000);

  it('behind a trusted TLS proxy, takes the origin the browser sees (and marks the cookie Secure); forwarded headers from anyone else change nothing', async () => {
    const storage = openStorage(dir);
    const proxied = createApp({ catalog: pool, n8n: { url: 'http://127.0.0.1:9', webhookSecret: 's' }, repository: { location: dir, storage, open: () => Repository.open(storage, { passphrase }) }, trustedProxies: ['10.0.0.7'] });
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'backups.example', origin: 'https://backups.example' };
    const from = (address: string) => ({ incoming: { socket: { remoteAddress: address } } });
    const login = (address: string) => proxied.request('http://10.0.0.2:20010/ui/session', { method: 'POST', headers: { 'content-type': 'application/json', ...forwarded }, body: JSON.stringify({ token: token.operator }) }, from(address));
    const res = await login('10.0.0.7');
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/; Secure/);
    const { csrf } = (await res.json()) as { csrf: string };
    const cookie = res.headers.get('set-cookie')!.split(';')[0];
    const cancel = (address: string) => proxied.request('http://10.0.0.2:20010/api/v1/jobs/job_none/cancel', { method: 'POST', headers: { cookie, 'x-dbm-csrf': csrf, ...forwarded } }, from(address));
    expect((await cancel('10.0.0.7')).status).toBe(404); // past the session's checks, to the route
    // the same headers from a socket that is not the proxy: its own origin is http://10.0.0.2:20010, so https://backups.example is another site
    expect((await login('10.0.0.99')).status).toBe(403);
    expect((await cancel('10.0.0.99')).status).toBe(403);
  });

  it('lists snapshots with their sizes, browses their directories, and refuses paths out of them', async () => {
    const list = (await (await app.request('/api/v1/snapshots?target=files', { headers: bearer('viewer') })).json()) as { snapshots: { id: string; job_id: string; stats: { bytes_read: number } }[] };
    expect(list.snapshots.map((s) => s.id)).toEqual([snap.id]);
    expect(list.snapshots[0].job_id).toBe('job_console');
    expect(list.snapshots[0].stats.bytes_read).toBeGreaterThan(big.length);
    const tree = async (p: string) => app.request(`/api/v1/snapshots/${snap.id.slice(0, 12)}/tree?path=${encodeURIComponent(p)}`, { headers: bearer('viewer') });
    const root = (await (await tree('/')).json()) as { snapshot: { id: string; target: string; job_id: string }; entries: { name: string; type: string }[] };
    expect(root.snapshot).toMatchObject({ id: snap.id, target: 'files', job_id: 'job_console' }); // all the page needs of it, without listing every snapshot
    expect(root.entries.map((e) => e.name)).toEqual([path.basename(source)]);
    const docs = (await (await tree(`/${path.basename(source)}/docs`)).json()) as { entries: { name: string; type: string; size?: number; target?: string }[] };
    expect(docs.entries).toMatchObject([{ name: 'deep', type: 'dir' }, { name: 'link', type: 'symlink', target: 'readme.txt' }, { name: 'readme.txt', type: 'file', size: 24 }]);
    const up = await tree(`/${path.basename(source)}/../..`);
    expect(up.status).toBe(400);
    expect(((await up.json()) as ErrorBody).error.field).toBe('path');
    expect((await tree(`/${path.basename(source)}/nothing`)).status).toBe(404);
    expect((await tree(`/${path.basename(source)}/docs/readme.txt`)).status).toBe(400); // a file, not a directory
    expect((await app.request('/api/v1/snapshots/zz/tree', { headers: bearer('viewer') })).status).toBe(400);
    expect((await app.request('/api/v1/snapshots/0123456789abcdef/tree', { headers: bearer('viewer') })).status).toBe(404);

    // a backup made since, by another process: listed and browsable within seconds, new data and all
    await fs.writeFile(path.join(source, 'docs', 'later.txt'), seededBytes('later', 70_000));
    const later = await backupTree(await Repository.open(openStorage(dir), { passphrase }), [source], { target: 'files' });
    await new Promise((r) => setTimeout(r, 2100));
    const again = (await (await app.request('/api/v1/snapshots?target=files', { headers: bearer('viewer') })).json()) as { snapshots: { id: string }[] };
    expect(again.snapshots.map((s) => s.id)).toEqual([later.id, snap.id]);
    const res = await app.request(`/api/v1/snapshots/${later.id}/file?path=${encodeURIComponent(`/${path.basename(source)}/docs/later.txt`)}`, { headers: bearer('operator') });
    expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), seededBytes('later', 70_000))).toBe(0);

    // while a prune holds the repository, browsing says so (409), and works again after
    const prune = await acquireLock(await Repository.open(openStorage(dir), { passphrase }), { exclusive: true, operation: 'prune' });
    const busy = await tree('/');
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as ErrorBody).error.message).toMatch(/prune.*try again when it is done/);
    await prune.release();
    expect((await tree('/')).status).toBe(200);

    // listing again reads only manifests it has not read, and forgets those gone from the repository
    const repo = await Repository.open(openStorage(dir), { passphrase });
    const known = new Map<string, SnapshotRef>();
    expect((await listSnapshots(repo, {}, known)).map((r) => r.id)).toEqual([snap.id, later.id]);
    const sentinel = { ...known.get(snap.key)! };
    known.set(snap.key, sentinel);
    expect((await listSnapshots(repo, {}, known))[0]).toBe(sentinel);
    await repo.storage.delete(later.key);
    expect((await listSnapshots(repo, {}, known)).map((r) => r.id)).toEqual([snap.id]);
    expect([...known.keys()]).toEqual([snap.key]);
  });

  it('downloads a file byte for byte for an operator, audited, and not for a viewer', async () => {
    const file = `/${path.basename(source)}/docs/deep/big.bin`;
    const url = `/api/v1/snapshots/${snap.id}/file?path=${encodeURIComponent(file)}`;
    expect((await app.request(url, { headers: bearer('viewer') })).status).toBe(403);
    const res = await app.request(url, { headers: bearer('operator') });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain('filename="big.bin"');
    expect(Number(res.headers.get('content-length'))).toBe(big.length);
    expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), big)).toBe(0);
    const audit = (await pool.query(`SELECT actor, details FROM audit_log WHERE details ? 'download' ORDER BY id DESC LIMIT 1`)).rows[0];
    expect(audit.actor).toContain('operator-console');
    expect(audit.details).toMatchObject({ download: file, snapshot: snap.id, bytes: big.length });
    // a download abandoned after its first chunk leaves no lock behind: the next exclusive operation can run
    const partial = await app.request(url, { headers: bearer('operator') });
    const reader = partial.body!.getReader();
    await reader.read();
    expect(await fs.readdir(path.join(dir, 'locks'))).toHaveLength(1); // held while it is read
    await reader.cancel();
    const locks = await fs.readdir(path.join(dir, 'locks')).catch(() => []);
    expect(locks).toEqual([]);
  });

  it("shows the monitor's latest finding, 30 days of growth, and a cron's next runs", async () => {
    expect(((await (await app.request('/api/v1/alerts', { headers: bearer('viewer') })).json()) as { latest: unknown }).latest).toBeNull();
    await recordHealthCheck(pool, [{ kind: 'missed_schedule', target: 'files', message: 'the newest files snapshot is old' }]);
    const alerts = (await (await app.request('/api/v1/alerts', { headers: bearer('viewer') })).json()) as { latest: { ok: boolean; problems: { kind: string }[] } };
    expect(alerts.latest.ok).toBe(false);
    expect(alerts.latest.problems[0].kind).toBe('missed_schedule');
    const storage = (await (await app.request('/api/v1/storage/status', { headers: bearer('viewer') })).json()) as { growth: { daily: { day: string }[] } };
    expect(storage.growth.daily).toHaveLength(30);
    expect(storage.growth.daily.at(-1)!.day).toBe(new Date().toISOString().slice(0, 10));
    const next = (await (await app.request('/api/v1/schedules/next-runs?cron=0%202%20*%20*%20*&count=3', { headers: bearer('viewer') })).json()) as { next_runs: string[] };
    expect(next.next_runs).toHaveLength(3);
    expect(Date.parse(next.next_runs[1]) - Date.parse(next.next_runs[0])).toBe(86_400_000);
    const bad = await app.request('/api/v1/schedules/next-runs?cron=61%20*%20*%20*%20*', { headers: bearer('viewer') });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as ErrorBody).error.field).toBe('cron');
  });

  it('takes a restore of one path of a snapshot, and refuses paths that leave it', async () => {
    const restore = (destination: Record<string, unknown>, targets = ['files']) =>
      app.request('/api/v1/restore/create', { method: 'POST', headers: { ...bearer('operator'), 'content-type': 'application/json' }, body: JSON.stringify({ snapshot: snap.id, targets, destination }) });
    for (const include of [['/etc/passwd'], ['a/../../b']]) {
      const res = await restore({ include, directory: '/tmp/x' });
      expect(res.status, include[0]).toBe(400);
      expect(((await res.json()) as ErrorBody).error.field).toMatch(/^destination\.include/);
    }
    const pg = await restore({ include: ['x'], database: 'app', as: 'app_copy' }, ['postgres']);
    expect(pg.status).toBe(400);
    expect(((await pg.json()) as ErrorBody).error.field).toBe('destination.include');
  });
});
