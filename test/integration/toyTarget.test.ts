import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupStreams, listSnapshots, restoreStream, type Repository } from '../../engine';
import { registerTarget, targetEntry, unregisterTarget, type BackupTarget } from '../../engine/targets/registry';
import { getJob } from '../../catalog/jobs';
import { migrate } from '../../catalog/migrate';
import { createToken } from '../../catalog/tokens';
import { createApp } from '../../server/app';
import { localBackend, newRepository } from '../support/backends';
import { newCatalogDatabase } from '../support/catalog';

/** A target that backs up a greeting: all it takes is this module and its registry entry. */
const toy: BackupTarget<string, { text: string }> = {
  name: 'toy',
  description: 'a greeting, as one stream',
  discover: async (greeting) => [greeting],
  backup: async (repo, greeting, opts) => [await backupStreams(repo, [{ name: 'greeting.txt', open: () => Readable.from([Buffer.from(greeting)]) }], { ...opts, target: 'toy' })],
  restore: async (repo, ref, into) => {
    const chunks: Buffer[] = [];
    await restoreStream(repo, ref, 'greeting.txt', new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) }));
    into.text = Buffer.concat(chunks).toString();
  },
  verify: async (repo, ref) => {
    const into = { text: '' };
    await toy.restore(repo, ref, into);
    return { ok: into.text.length > 0 };
  },
};

describe('a toy target added through the registry alone', () => {
  let pool: Pool;
  let hooks: Server;
  let token = '';
  let repo: Repository;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    registerTarget({
      name: 'toy',
      description: toy.description,
      fields: [{ name: 'greeting', description: 'what to say', list: false, maxLength: 100, required: { fromDefault: 'greeting' }, pattern: { regex: /^[a-z ]+$/, message: 'must be lowercase words' } }],
      restoresTo: 'directory',
      engine: toy as BackupTarget<never, never, never, never>,
    });
    repo = (await newRepository(localBackend)).repo;
    pool = (await newCatalogDatabase()).pool;
    await migrate(pool);
    token = (await createToken(pool, { name: 'toy-operator', role: 'operator' })).token;
    hooks = createServer((_req, res) => res.writeHead(202, { 'content-type': 'application/json' }).end('{"execution_id":"1"}'));
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    app = createApp({ catalog: pool, n8n: { url: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`, webhookSecret: 's' } });
  });

  afterAll(async () => {
    unregisterTarget('toy');
    hooks.close();
    await pool.end();
  });

  const post = (path: string, body: unknown) =>
    app.request(path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('backs up and restores through the engine, found by name', async () => {
    const entry = targetEntry('toy')!;
    const target = entry.engine as unknown as BackupTarget<string, { text: string }>;
    const [ref] = await target.backup(repo, 'hello there', {});
    expect((await listSnapshots(repo, { target: 'toy' })).map((r) => r.id)).toEqual([ref.id]);
    const into = { text: '' };
    await target.restore(repo, ref, into);
    expect(into.text).toBe('hello there');
    expect(await target.verify(repo, ref, into)).toEqual({ ok: true });
  });

  it('is a target the API takes, with its own field, checked and required by its entry', async () => {
    const missing = await post('/api/v1/backup/create', { targets: ['toy'] });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { field: 'greeting', message: 'greeting: the toy target needs greeting (none given)' } });
    const bad = await post('/api/v1/backup/create', { targets: ['toy'], greeting: 'HELLO!' });
    expect(((await bad.json()) as { error: { field: string } }).error.field).toBe('greeting');
    const ok = await post('/api/v1/backup/create', { targets: ['toy'], greeting: 'hello there' });
    expect(ok.status).toBe(202);
    const job = await getJob(pool, ((await ok.json()) as { job_id: string }).job_id);
    expect(job).toMatchObject({ targets: ['toy'], params: { greeting: 'hello there', targets: ['toy'] } });
    expect((await post('/api/v1/backup/create', { targets: ['nope'] })).status).toBe(400);
    // the document says so too
    const doc = (await (await app.request('/api/v1/openapi.json')).json()) as { paths: Record<string, { post: { requestBody: { content: { 'application/json': { schema: { properties: Record<string, { items?: { enum?: string[] } }> } } } } } }> };
    const body = doc.paths['/api/v1/backup/create'].post.requestBody.content['application/json'].schema;
    expect(body.properties.targets.items?.enum).toContain('toy');
    expect(Object.keys(body.properties)).toContain('greeting');
  });
});
