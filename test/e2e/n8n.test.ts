import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findSnapshot, listSnapshots, openStorage, Repository, restoreTree } from '../../engine';
import { ensureN8nInstalled, installCommunityPackage, N8nClient, N8nProcess, provisionOwner } from '../../server/stack/n8n';
import { tempDir } from '../support/backends';
import { contentFingerprint, fillDatabase, pgConnection, recreateDatabase } from '../support/postgres';
import { describeTree, makeSampleTree } from '../support/trees';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Imports a shipped workflow, putting the ids of the credentials we created where it names them. */
function loadWorkflow(file: string, credentialIds: Record<string, string>): Record<string, unknown> {
  let text = readFileSync(path.resolve(__dirname, '../../workflows', file), 'utf8');
  for (const [type, id] of Object.entries(credentialIds)) text = text.replaceAll(`__CRED_${type}__`, id);
  return JSON.parse(text) as Record<string, unknown>;
}

describe('the shipped workflows in a real n8n', () => {
  const s3 = inject('s3');
  const secret = randomBytes(12).toString('hex');
  const bucket = `e2e-${randomBytes(4).toString('hex')}`;
  const passphrase = 'e2e repository passphrase';
  let n8n: N8nProcess;
  let client: N8nClient;
  let workflowId: string;

  beforeAll(async () => {
    ensureN8nInstalled();
    const userFolder = tempDir('dbm-n8n-');
    installCommunityPackage(userFolder);
    n8n = new N8nProcess({ userFolder, port: await freePort(), brokerPort: await freePort() });
    await n8n.start();
    const { apiKey } = await provisionOwner(n8n.baseUrl, { email: 'owner@example.com', password: 'Backup-Owner-1234' });
    client = new N8nClient(n8n.baseUrl, apiKey);
    const conn = pgConnection();
    const ids = {
      httpHeaderAuth: (await client.createCredential('Backup webhook secret', 'httpHeaderAuth', { name: 'X-Backup-Secret', value: secret })).id,
      dbmRepositoryApi: (
        await client.createCredential('Backup repository', 'dbmRepositoryApi', {
          storage: 's3', endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey,
          bucket, prefix: 'repo', region: 'us-east-1', passphrase, createIfMissing: true,
        })
      ).id,
      dbmPostgresApi: (
        await client.createCredential('PostgreSQL source', 'dbmPostgresApi', {
          host: conn.host, port: conn.port, user: conn.user, password: conn.password, sslmode: 'disable', database: 'postgres',
        })
      ).id,
    };
    workflowId = (await client.createWorkflow(loadWorkflow('backup-on-demand.json', ids))).id;
    await client.activate(workflowId);
  }, 600_000);

  afterAll(async () => {
    await n8n?.stop();
  }, 60_000);

  it('backs up PostgreSQL and a directory into S3 when the on-demand webhook is called', async () => {
    const db = `e2e_${randomBytes(3).toString('hex')}`;
    await recreateDatabase(db);
    await fillDatabase(db, 300);
    const dir = path.join(tempDir(), 'app-config');
    await makeSampleTree(dir);

    const refused = await fetch(`${n8n.baseUrl}/webhook/dbm-backup`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-Backup-Secret': 'wrong' }, body: '{}' });
    expect(refused.status).toBe(403);

    const started = Date.now();
    const res = await fetch(`${n8n.baseUrl}/webhook/dbm-backup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Backup-Secret': secret },
      body: JSON.stringify({ job_id: 'job-e2e-1', type: 'full', databases: [db], paths: [dir] }),
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ status: 'accepted', job_id: 'job-e2e-1' });

    // The workflow answered at once and works on: wait for its snapshots (it creates the repository too).
    const storage = openStorage(`s3://${bucket}/repo`, { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey });
    let repo: Repository | null = null;
    let snapshots: Awaited<ReturnType<typeof listSnapshots>> = [];
    while (Date.now() - started < 120_000) {
      repo ??= (await Repository.exists(storage)) ? await Repository.open(storage, { passphrase }) : null;
      snapshots = repo ? await listSnapshots(repo, { tags: { job: 'job-e2e-1' } }) : [];
      if (snapshots.length === 2) break;
      await sleep(500);
    }
    if (!repo) throw new Error('the workflow created no repository');
    // and the run as a whole, the Verify step included, succeeded
    let status = '';
    while (Date.now() - started < 120_000) {
      const runs = (await client.executions(workflowId)).data;
      status = runs[0]?.status ?? '';
      if (runs[0]?.finished || (status && status !== 'running' && status !== 'new')) break;
      await sleep(500);
    }
    expect(status).toBe('success');
    expect(snapshots.map((s) => s.snapshot.target).sort()).toEqual(['files', 'postgres']);

    // the files came through whole
    const out = tempDir();
    await restoreTree(repo, await findSnapshot(repo, 'latest', { target: 'files' }), out);
    expect(await describeTree(path.join(out, 'app-config'))).toEqual(await describeTree(dir));
    // and the database
    const { restorePostgres } = await import('../../engine/targets');
    const copy = `${db}_copy`;
    await restorePostgres(repo, await findSnapshot(repo, 'latest', { target: 'postgres' }), pgConnection(), { as: copy });
    expect(await contentFingerprint(copy)).toEqual(await contentFingerprint(db));
    await fs.rm(out, { recursive: true, force: true });
  }, 180_000);
});
