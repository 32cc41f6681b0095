import { randomBytes } from 'node:crypto';
import { chmodSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { freePort } from '../support/ports';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findSnapshot, listSnapshots, openStorage, Repository, restoreTree } from '../../engine';
import { ensureN8nInstalled, installCommunityPackage, N8nClient, N8nProcess, provisionOwner } from '../../stack/n8n';
import { createScheduleWorkflow, n8nControl, provisionWorkflows } from '../../stack/provision';
import { createJob, getJob, type JobKind } from '../../catalog/jobs';
import { dispatchJob } from '../../server/dispatch';
import { migrate } from '../../catalog/migrate';
import { newCatalogDatabase } from '../support/catalog';
import { startSmtpSink } from '../support/smtpSink';
import { tempDir } from '../support/backends';
import { contentFingerprint, databaseExists, fillDatabase, pgConnection, recreateDatabase } from '../support/postgres';
import { describeTree, makeSampleTree } from '../support/trees';


/** An HTTP sink for alerts: records every JSON body posted to it. */
async function startSink(): Promise<{ url: string; received: Record<string, unknown>[]; close: () => void }> {
  const { createServer: createHttp } = await import('node:http');
  const received: Record<string, unknown>[] = [];
  const server = createHttp((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      try {
        received.push(JSON.parse(body) as Record<string, unknown>);
      } catch {
        received.push({ unparsed: body });
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/alerts`, received, close: () => server.close() };
}

describe('the shipped workflows in a real n8n', () => {
  const s3 = inject('s3');
  const secret = randomBytes(12).toString('hex');
  const bucket = `e2e-${randomBytes(4).toString('hex')}`;
  const passphrase = 'e2e repository passphrase';
  let n8n: N8nProcess;
  let client: N8nClient;
  let workflowId: string;
  let credentialIds: Record<string, string>;
  let provisioned: Awaited<ReturnType<typeof provisionWorkflows>>;
  let sink: Awaited<ReturnType<typeof startSink>>;
  let backedUpDb = '';
  let catalog: Awaited<ReturnType<typeof newCatalogDatabase>>;
  let smtp: Awaited<ReturnType<typeof startSmtpSink>>;

  const call = (route: string, body: unknown): Promise<Response> =>
    fetch(`${n8n.baseUrl}/webhook/${route}`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-Backup-Secret': secret }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  // as the API does: record the job with its request and a one-time claim, then call the workflow with the id and the claim alone
  const dispatch = (kind: JobKind, request: Record<string, unknown>, id?: string) =>
    dispatchJob({ catalog: catalog.pool, n8n: { url: n8n.baseUrl, webhookSecret: secret } }, { kind, targets: (request.targets as string[]) ?? [], type: request.type as string, request, id });
  const guarded = tempDir('dbm-guarded-'); // what the nodes' path policy protects in this n8n
  const openRepo = async (): Promise<Repository> => {
    const repo = await Repository.open(openStorage(`s3://${bucket}/repo`, { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey }), { passphrase });
    // the every-5-s schedule's retention prunes meanwhile: wait out its lock, as the nodes do
    repo.lockWaitMs = 60_000;
    return repo;
  };

  beforeAll(async () => {
    await ensureN8nInstalled();
    const userFolder = tempDir('dbm-n8n-');
    chmodSync(userFolder, 0o755); // restore_command runs the installed package's CLI as PostgreSQL's user
    installCommunityPackage(userFolder);
    // the nodes enforce a path policy of their own, whatever the job in the catalog says
    n8n = new N8nProcess({
      userFolder,
      port: await freePort(),
      brokerPort: await freePort(),
      env: { DBM_BACKUP_ROOTS: tmpdir(), DBM_RESTORE_ROOTS: tmpdir(), DBM_PROTECTED_PATHS: guarded, DBM_PROTECTED_DATABASES: 'guarded_catalog' },
    });
    await n8n.start();
    const { apiKey } = await provisionOwner(n8n.baseUrl, { email: 'owner@example.com', password: 'Backup-Owner-1234' });
    client = new N8nClient(n8n.baseUrl, apiKey);
    const conn = pgConnection();
    sink = await startSink();
    smtp = await startSmtpSink();
    catalog = await newCatalogDatabase();
    await migrate(catalog.pool); // as the server does when it starts
    const stack = await provisionWorkflows(client, {
      webhookSecret: secret,
      repository: { storage: 's3', endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket, prefix: 'repo', region: 'us-east-1', passphrase },
      postgres: { host: conn.host, port: conn.port, user: conn.user, password: conn.password },
      catalog: { host: conn.host, port: conn.port, user: conn.user, password: conn.password, database: catalog.name },
      alertUrl: sink.url,
      smtp: { host: '127.0.0.1', port: smtp.port, secure: false, from: 'backups@example.com', to: 'ops@example.com' },
      // the crons never fire during a test run (the tests call the webhooks): a timed run would post alerts of its own
      monitor: { cron: '0 0 1 1 *', stuckMinutes: 30, expectedTargets: 'postgres,files,minio', maxAgeHours: 26, capacityGb: 0 },
      retention: { cron: '0 0 1 1 *', policy: { keep_daily: 7 } },
    });
    credentialIds = stack.credentials;
    workflowId = stack.workflows['backup-on-demand.json'];
    provisioned = stack;
  }, 600_000);

  afterAll(async () => {
    sink?.close();
    smtp?.close();
    await catalog?.pool.end();
    await n8n?.stop();
  }, 60_000);

  it('backs up PostgreSQL and a directory into S3 when the on-demand webhook is called', async () => {
    const db = `e2e_${randomBytes(3).toString('hex')}`;
    backedUpDb = db;
    await recreateDatabase(db);
    await fillDatabase(db, 300);
    const dir = path.join(tempDir(), 'app-config');
    await makeSampleTree(dir);

    const refused = await fetch(`${n8n.baseUrl}/webhook/dbm-backup`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-Backup-Secret': 'wrong' }, body: '{}' });
    expect(refused.status).toBe(403);

    // as the server does: record the job, then trigger the workflow with its id and claim
    const started = Date.now();
    await dispatch('backup', { type: 'full', targets: ['postgres', 'files'], databases: [db], paths: [dir], retention_days: 30 }, 'job-e2e-1');

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
    // the job in the catalog went through to completed, with a step per target
    const job = await getJob(catalog.pool, 'job-e2e-1');
    expect(job).toMatchObject({ status: 'completed', progress: 1, error: null });
    expect(job!.n8n_execution_id).toMatch(/^\d+$/);
    expect(job!.steps.map((s) => [s.target, s.status])).toEqual([['postgres', 'completed'], ['files', 'completed']]);
    expect(job!.steps.map((s) => s.snapshot_id).sort()).toEqual(snapshots.map((s) => s.id).sort());
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

    // only the targets asked for run; the call's claim works once, and a replay of it runs nothing
    await createJob(catalog.pool, { id: 'job-e2e-files-only', kind: 'backup', type: 'incremental', targets: ['files'], params: { targets: ['files'], paths: [dir] }, claim: 'claim-once' });
    const first = await call('dbm-backup', { job_id: 'job-e2e-files-only', claim: 'claim-once', targets: ['postgres'] });
    expect(first.status).toBe(202);
    const replay = await call('dbm-backup', { job_id: 'job-e2e-files-only', claim: 'claim-once' });
    expect(replay.status).not.toBe(202);
    const answer = await replay.text();
    expect(answer).not.toMatch(/node_modules|\n\s+at /); // n8n's error answers carry no stack trace
    let filesOnly = await getJob(catalog.pool, 'job-e2e-files-only');
    while (filesOnly?.status !== 'completed' && Date.now() - started < 150_000) {
      await sleep(500);
      filesOnly = await getJob(catalog.pool, 'job-e2e-files-only');
    }
    expect(filesOnly!.steps.map((s) => s.target)).toEqual(['files']); // the catalog's request, not the call's
    expect(filesOnly!.n8n_execution_id).toBe(String(((await first.json()) as { execution_id: string }).execution_id));
  }, 180_000);

  it('runs nothing for a forged webhook call, even with the secret header: no job, no snapshot, an alert', async () => {
    const repo = await openRepo();
    const before = (await listSnapshots(repo)).length;
    const alerts = sink.received.length;
    for (const body of [
      { job_id: 'job-forged', claim: 'guess', type: 'full', targets: ['files'], paths: ['/etc'] },
      { job_id: 'job-e2e-1', claim: 'guess' }, // a real job, already done
      { type: 'full', targets: ['files'], paths: ['/etc'] },
    ]) {
      const res = await call('dbm-backup', body);
      expect(res.status).not.toBe(202);
      expect(await res.text()).not.toMatch(/node_modules|\n\s+at /);
    }
    const restore = await call('dbm-restore', { job_id: 'job-forged', restores: [{ destination: 'directory', directory: '/etc/dbm', snapshot: 'latest', target: 'files' }] });
    expect(restore.status).not.toBe(202);
    expect(await getJob(catalog.pool, 'job-forged')).toBeNull();
    expect((await getJob(catalog.pool, 'job-e2e-1'))!.status).toBe('completed');
    await sleep(2000);
    expect((await listSnapshots(await openRepo())).length).toBe(before);
    expect(await fs.stat('/etc/dbm').then(() => true, () => false)).toBe(false);
    // each attempt failed at the claim, and the error workflow said so
    const started = Date.now();
    while (sink.received.filter((a) => a.failed_node === 'Claim the job').length < 4 && Date.now() - started < 30_000) await sleep(300);
    expect(sink.received.slice(alerts).filter((a) => a.failed_node === 'Claim the job').length).toBeGreaterThanOrEqual(4);
  }, 120_000);

  it('the nodes enforce the path policy themselves: a job recorded behind the API\'s back cannot reach outside the roots', async () => {
    const secretFile = path.join(guarded, 'passphrase');
    await fs.writeFile(secretFile, 'not for backups');
    const outside = await dispatch('backup', { type: 'full', targets: ['files'], paths: [guarded] });
    const dest = await dispatch('restore', { restores: [{ snapshot: 'latest', target: 'files', destination: 'directory', directory: '/etc/dbm-restore' }] });
    const db = await dispatch('restore', { restores: [{ snapshot: 'latest', target: 'postgres', destination: 'postgres', database: backedUpDb, as: 'guarded_catalog' }] });
    for (const [job, why] of [[outside, 'holds the product'], [dest, 'outside the allowed roots'], [db, 'never a restore destination']] as const) {
      const started = Date.now();
      let seen = await getJob(catalog.pool, job.id);
      while (seen?.status !== 'failed' && Date.now() - started < 60_000) {
        await sleep(500);
        seen = await getJob(catalog.pool, job.id);
      }
      expect(seen).toMatchObject({ status: 'failed' });
      expect(seen!.error).toContain(why);
    }
    expect(await fs.stat('/etc/dbm-restore').then(() => true, () => false)).toBe(false);
    expect(await databaseExists('guarded_catalog')).toBe(false);
  }, 180_000);

  it('marks the job failed and alerts through the error workflow when a backup fails', async () => {
    await dispatch('backup', { type: 'full', targets: ['postgres'], databases: ['no_such_database'] }, 'job-e2e-fail');
    const started = Date.now();
    const failures = () => sink.received.filter((a) => a.event === 'backup_failed' && a.failed_node === 'Back up PostgreSQL');
    while (failures().length === 0 && Date.now() - started < 60_000) await sleep(300);
    expect(failures()).toHaveLength(1);
    expect(failures()[0]).toMatchObject({ event: 'backup_failed', workflow: 'Backup on demand', failed_node: 'Back up PostgreSQL' });
    expect(String(failures()[0].error)).toContain('database "no_such_database" does not exist');
    let job = await getJob(catalog.pool, 'job-e2e-fail');
    while (job?.status !== 'failed' && Date.now() - started < 60_000) {
      await sleep(300);
      job = await getJob(catalog.pool, 'job-e2e-fail');
    }
    expect(job).toMatchObject({ status: 'failed' });
    expect(job!.error).toMatch(/^Back up PostgreSQL: .*database "no_such_database" does not exist/);
    // n8n lives on, and the failed node left no lock behind
    const { listLocks } = await import('../../engine');
    expect(await listLocks(await openRepo())).toEqual([]);
    // and by e-mail, since SMTP is configured
    while (smtp.messages.length === 0 && Date.now() - started < 60_000) await sleep(300);
    const mail = smtp.messages.find((m) => m.includes('no_such_database')) ?? '';
    expect(mail).toMatch(/^Subject: data-backup-manager: backup_failed$/m);
    expect(mail).toMatch(/^To: ops@example\.com$/m);
  }, 120_000);

  it('reconciles: a job whose n8n execution failed, vanished or never came is ended with the reason', async () => {
    const { JobReconciler } = await import('../../stack/reconciler');
    const failedRun = (await getJob(catalog.pool, 'job-e2e-fail'))!.n8n_execution_id!;
    // as if the error workflow could not reach the catalog: the job still says running
    const lost = await createJob(catalog.pool, { kind: 'backup', targets: ['postgres'] });
    await catalog.pool.query(`UPDATE jobs SET status = 'running', n8n_execution_id = $2 WHERE id = $1`, [lost.id, failedRun]);
    const vanished = await createJob(catalog.pool, { kind: 'restore', targets: ['files'] });
    await catalog.pool.query(`UPDATE jobs SET status = 'running', n8n_execution_id = '987654321' WHERE id = $1`, [vanished.id]);
    const unclaimed = await createJob(catalog.pool, { kind: 'verify', targets: ['files'] });
    await catalog.pool.query(`UPDATE jobs SET created_at = now() - interval '10 minutes' WHERE id = $1`, [unclaimed.id]);
    const ended = await new JobReconciler(catalog.pool, client, { queuedGraceMs: 60_000 }).reconcile();
    const reasons = Object.fromEntries(ended.map((e) => [e.id, e.reason]));
    expect(reasons[lost.id]).toMatch(/^Back up PostgreSQL: .*database "no_such_database" does not exist/);
    expect(reasons[vanished.id]).toContain('n8n has no record of execution 987654321');
    expect(reasons[unclaimed.id]).toContain('no workflow took the job within 60 s');
    for (const id of [lost.id, vanished.id, unclaimed.id]) expect((await getJob(catalog.pool, id))!.status).toBe('failed');
  }, 60_000);

  it('runs a scheduled backup made from the template on its cron', async () => {
    const db = `sched_${randomBytes(3).toString('hex')}`;
    await recreateDatabase(db);
    await fillDatabase(db, 100);
    const dir = path.join(tempDir(), 'scheduled');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'state.txt'), 'scheduled');
    const id = await createScheduleWorkflow(client, provisioned, { name: 'every-5s', cron: '*/5 * * * * *', type: 'incremental', targets: ['postgres', 'files'], sources: { databases: [db], paths: [dir] }, retentionDays: 30 });
    const storage = openStorage(`s3://${bucket}/repo`, { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey });
    const started = Date.now();
    let fired: string[] = [];
    try {
      while (Date.now() - started < 60_000) {
        if (await Repository.exists(storage)) {
          const repo = await Repository.open(storage, { passphrase });
          fired = (await listSnapshots(repo)).filter((r) => String(r.snapshot.tags.job ?? '').startsWith('schedule-every-5s-')).map((r) => r.snapshot.target);
          if (fired.includes('postgres') && fired.includes('files')) break;
        }
        await sleep(1000);
      }
    } finally {
      await client.deactivate(id);
    }
    expect(fired).toContain('postgres');
    expect(fired).toContain('files');
  }, 120_000);

  it('restores a database under a new name through the restore webhook', async () => {
    const copy = `${backedUpDb}_via_webhook`;
    // the snapshot the first test's job made (the schedule has made newer postgres snapshots since)
    const [snapshot] = (await listSnapshots(await openRepo(), { target: 'postgres', tags: { job: 'job-e2e-1' } })).map((r) => r.id);
    await dispatch('restore', { snapshot, target: 'postgres', destination: 'postgres', database: backedUpDb, as: copy });
    const started = Date.now();
    while (!(await databaseExists(copy)) && Date.now() - started < 60_000) await sleep(500);
    // exists as soon as it is created; the restore fills it in one transaction, so wait for the rows
    let fingerprint: Record<string, string> = {};
    while (Date.now() - started < 60_000) {
      fingerprint = await contentFingerprint(copy).catch(() => ({}));
      if (Object.keys(fingerprint).length > 0 && !Object.values(fingerprint).some((v) => v.startsWith('0:'))) break;
      await sleep(500);
    }
    expect(fingerprint).toEqual(await contentFingerprint(backedUpDb));
  }, 120_000);

  it('finds a corrupted pack through the verify webhook, keeps the report, and alerts', async () => {
    const repo = await openRepo();
    const { backupStreams } = await import('../../engine');
    const { Readable } = await import('node:stream');
    const ref = await backupStreams(repo, [{ name: 'precious.bin', open: () => Readable.from([randomBytes(300_000)]) }], { target: 'verify-test' });
    const { loadTree } = await import('../../engine');
    const node = (await loadTree(repo, ref.snapshot.tree)).nodes[0];
    const loc = repo.index.get(node.type === 'file' ? node.content[0] : '')!;
    const key = `data/${loc.pack.slice(0, 2)}/${loc.pack}`;
    const bytes = await repo.storage.get(key);
    bytes[loc.offset + 40] ^= 0xff;
    await repo.storage.put(key, bytes);
    const alertsBefore = sink.received.length;

    await dispatch('verify', { snapshot: ref.id, mode: 'readData' });
    const started = Date.now();
    while (sink.received.length === alertsBefore && Date.now() - started < 60_000) await sleep(300);
    const alert = sink.received[sink.received.length - 1];
    expect(alert).toMatchObject({ event: 'backup_failed', workflow: 'Verify on demand', failed_node: 'Verify' });
    expect(String(alert.error)).toMatch(new RegExp(`snapshot ${ref.id.slice(0, 8)} failed verification: .*failed authentication`));
    const { listAll } = await import('../../engine/storage/storage');
    const reports = (await listAll(repo.storage, 'verification/')).filter((o) => o.key.includes(`verify-test-${ref.id.slice(0, 8)}`));
    expect(reports).toHaveLength(1);
    const report = await repo.getSealed<{ ok: boolean; errors: string[] }>(reports[0].key, 'dbm-verification', 'report');
    expect(report.ok).toBe(false);
  }, 120_000);

  it('applies retention through the cleanup webhook: exactly what the policy keeps', async () => {
    const repo = await openRepo();
    const { backupStreams } = await import('../../engine');
    const { Readable } = await import('node:stream');
    for (let day = 1; day <= 6; day++) {
      await backupStreams(repo, [{ name: 'd', open: () => Readable.from([Buffer.from(`day ${day}`)]) }], { target: 'retention-test', time: new Date(Date.UTC(2026, 0, day, 12)) });
    }
    const others = (await listSnapshots(repo)).filter((r) => r.snapshot.target !== 'retention-test').length;
    await dispatch('cleanup', { target: 'retention-test', keep_daily: 2 });
    const started = Date.now();
    let left: string[] = [];
    while (Date.now() - started < 60_000) {
      left = (await listSnapshots(await openRepo(), { target: 'retention-test' })).map((r) => r.snapshot.time.slice(0, 10));
      if (left.length === 2) break;
      await sleep(500);
    }
    expect(left).toEqual(['2026-01-05', '2026-01-06']);
    expect((await listSnapshots(await openRepo())).filter((r) => r.snapshot.target !== 'retention-test').length).toBe(others);
  }, 120_000);

  it('monitors: a stuck job, a missed schedule and a failed verification reach the alert webhook', async () => {
    const stuck = await createJob(catalog.pool, { kind: 'backup', targets: ['files'] });
    await catalog.pool.query(`UPDATE jobs SET status = 'running', started_at = now() - interval '2 hours', heartbeat_at = now() - interval '2 hours' WHERE id = $1`, [stuck.id]);
    const before = sink.received.length;
    const res = await call('dbm-monitor', {});
    expect(res.status).toBe(200);
    const started = Date.now();
    while (sink.received.length === before && Date.now() - started < 60_000) await sleep(300);
    const alert = sink.received[sink.received.length - 1] as { event: string; problems: { kind: string; job_id?: string; target?: string }[] };
    expect(alert.event).toBe('backup_health');
    const kinds = alert.problems.map((p) => `${p.kind}:${p.job_id ?? p.target ?? ''}`);
    expect(kinds).toContain(`stuck_job:${stuck.id}`);
    expect(kinds).toContain('missed_schedule:minio'); // no minio snapshot was ever taken
    expect(kinds).not.toContain('missed_schedule:postgres');
    expect(alert.problems.some((p) => p.kind === 'verification_failed')).toBe(true); // the corrupted pack, earlier
    expect(alert.problems.some((p) => p.kind === 'failed_job' && p.job_id === 'job-e2e-fail')).toBe(true);
  }, 120_000);

  it('stores uploaded binary data as a snapshot, copies it to a second repository, and backs up a bucket', async () => {
    const copyDir = path.join(tempDir('dbm-copy-'), 'repo');
    const copyCred = (
      await client.createCredential('Offsite copy', 'dbmCopyRepositoryApi', { storage: 'local', path: copyDir, passphrase: 'offsite passphrase', createIfMissing: true })
    ).id;
    const repoCred = { dbmRepositoryApi: { id: credentialIds.CRED_dbmRepositoryApi, name: 'Backup repository' } };
    const upload = await client.createWorkflow({
      name: 'Upload test',
      nodes: [
        { id: 'u1', name: 'Upload', type: 'n8n-nodes-base.webhook', typeVersion: 2, position: [0, 0], webhookId: 'b7d1c0de-0000-4000-8000-0000000000a1',
          parameters: { httpMethod: 'POST', path: 'dbm-test-upload', responseMode: 'lastNode', options: { binaryPropertyName: 'data', rawBody: true } } },
        { id: 'u2', name: 'Store', type: 'n8n-nodes-data-backup-manager.uploadToMinio', typeVersion: 1, position: [220, 0],
          parameters: { operation: 'storeBinary', binaryPropertyName: 'data', target: 'uploads', entryName: 'report.pdf', tags: 'source=http' }, credentials: repoCred },
        { id: 'u3', name: 'Copy offsite', type: 'n8n-nodes-data-backup-manager.uploadToMinio', typeVersion: 1, position: [440, 0],
          parameters: { operation: 'copySnapshot', snapshot: '={{ $json.snapshotId }}', ofTarget: '' },
          credentials: { ...repoCred, dbmCopyRepositoryApi: { id: copyCred, name: 'Offsite copy' } } },
      ],
      connections: { Upload: { main: [[{ node: 'Store', type: 'main', index: 0 }]] }, Store: { main: [[{ node: 'Copy offsite', type: 'main', index: 0 }]] } },
      settings: { executionOrder: 'v1' },
    });
    await client.activate(upload.id);
    const body = randomBytes(200_000);
    const res = await fetch(`${n8n.baseUrl}/webhook/dbm-test-upload`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
    expect(res.status).toBe(200);
    const out = (await res.json()) as { sourceSnapshotId: string; snapshotId: string; target: string };
    expect(out.target).toBe('uploads');

    // the copy stands alone in the second repository, under its own key, byte for byte
    const offsite = await Repository.open(openStorage(copyDir), { passphrase: 'offsite passphrase' });
    const copy = await findSnapshot(offsite, out.snapshotId);
    expect(copy.snapshot.tags).toMatchObject({ source: 'http', copied_from: out.sourceSnapshotId.slice(0, 16) });
    const { restoreStream } = await import('../../engine');
    const { PassThrough } = await import('node:stream');
    const sinkStream = new PassThrough();
    const parts: Buffer[] = [];
    sinkStream.on('data', (c: Buffer) => parts.push(c));
    await restoreStream(offsite, copy, undefined, sinkStream);
    expect(Buffer.concat(parts).equals(body)).toBe(true);

    // Backup MinIO inside n8n: a bucket of the S3 endpoint
    const { createMinioClient } = await import('../../engine/storage/s3');
    const source = `src-${randomBytes(4).toString('hex')}`;
    const minio = createMinioClient(s3);
    await minio.makeBucket(source, 'us-east-1');
    await minio.putObject(source, 'docs/a.txt', Buffer.from('hello'), 5, { 'Content-Type': 'text/plain' });
    const backupBucket = await client.createWorkflow({
      name: 'Bucket test',
      nodes: [
        { id: 'm1', name: 'Go', type: 'n8n-nodes-base.webhook', typeVersion: 2, position: [0, 0], webhookId: 'b7d1c0de-0000-4000-8000-0000000000a2',
          parameters: { httpMethod: 'POST', path: 'dbm-test-minio', responseMode: 'lastNode', options: {} } },
        { id: 'm2', name: 'Backup MinIO', type: 'n8n-nodes-data-backup-manager.backupMinio', typeVersion: 1, position: [220, 0],
          parameters: { buckets: source, backupType: 'incremental', tags: '' },
          credentials: { ...repoCred, dbmMinioApi: { id: credentialIds.CRED_dbmMinioApi, name: 'MinIO source' } } },
      ],
      connections: { Go: { main: [[{ node: 'Backup MinIO', type: 'main', index: 0 }]] } },
      settings: { executionOrder: 'v1' },
    });
    await client.activate(backupBucket.id);
    const first = (await (await fetch(`${n8n.baseUrl}/webhook/dbm-test-minio`, { method: 'POST' })).json()) as { target: string; files: number; objectsDownloaded: number };
    expect(first).toMatchObject({ target: 'minio', files: 1, objectsDownloaded: 1 });
    const second = (await (await fetch(`${n8n.baseUrl}/webhook/dbm-test-minio`, { method: 'POST' })).json()) as { objectsDownloaded: number; objectsUnchanged: number };
    expect(second).toMatchObject({ objectsDownloaded: 0, objectsUnchanged: 1 });
  }, 120_000);

  it('takes backup, verify, restore, cleanup and schedule requests through the REST API to completed jobs', async () => {
    const { createApp } = await import('../../server/app');
    const { createToken } = await import('../../catalog/tokens');
    const { token } = await createToken(catalog.pool, { name: 'e2e', role: 'admin' });
    const restoreDir = tempDir('dbm-restores-');
    const api = createApp({
      catalog: catalog.pool,
      n8n: { url: n8n.baseUrl, webhookSecret: secret },
      n8nApi: n8nControl(client, provisioned),
      defaults: { restoreDir },
      policy: { backupRoots: [tmpdir()], restoreRoots: [restoreDir], protectedPaths: [guarded] },
    });
    const send = async (method: string, route: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
      const res = await api.request(route, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    type JobView = { status: string; error: string | null; n8n_execution_id: string; steps: { target: string; status: string; snapshot_id: string; details: Record<string, unknown> }[]; log: { message: string }[] };
    const finished = async (id: string): Promise<JobView> => {
      const started = Date.now();
      let job = (await send('GET', `/api/v1/jobs/${id}`)).json as unknown as JobView;
      while (!['completed', 'failed', 'cancelled'].includes(job.status) && Date.now() - started < 120_000) {
        await sleep(500);
        job = (await send('GET', `/api/v1/jobs/${id}`)).json as unknown as JobView;
      }
      return job;
    };
    expect((await api.request('/health')).status).toBe(200);

    // backup
    const db = `api_${randomBytes(3).toString('hex')}`;
    await recreateDatabase(db);
    await fillDatabase(db, 200);
    const dir = path.join(tempDir(), 'via-api');
    await makeSampleTree(dir);
    const created = await send('POST', '/api/v1/backup/create', { type: 'full', targets: ['postgres', 'files'], databases: [db], paths: [dir], description: 'Manual backup' });
    expect(created.status).toBe(202);
    const backupId = String(created.json.job_id);
    const backup = await finished(backupId);
    expect(backup.status).toBe('completed');
    expect(backup.n8n_execution_id).toMatch(/^\d+$/);
    expect(backup.steps.map((s) => s.target).sort()).toEqual(['files', 'postgres']);
    expect(backup.log.map((l) => l.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^running \(n8n execution \d+ on \S+\)$/), 'completed', expect.stringMatching(/^files: completed \(snapshot/)]));

    // cancel: a long backup (a 64 GiB sparse file) stops where it is; nothing is committed, no lock is left
    const big = path.join(tempDir(), 'huge');
    await fs.mkdir(big);
    await fs.writeFile(path.join(big, 'sparse.img'), '');
    await fs.truncate(path.join(big, 'sparse.img'), 64 * 2 ** 30);
    const long = await send('POST', '/api/v1/backup/create', { type: 'full', targets: ['files'], paths: [big] });
    const longId = String(long.json.job_id);
    const claimedAt = Date.now();
    while ((await getJob(catalog.pool, longId))?.status !== 'running' && Date.now() - claimedAt < 30_000) await sleep(200);
    await sleep(1500);
    const cancelled = await send('POST', `/api/v1/jobs/${longId}/cancel`);
    expect(cancelled).toMatchObject({ status: 200, json: { job_id: longId, status: 'cancelled', execution: 'stopped' } });
    expect((await send('POST', `/api/v1/jobs/${longId}/cancel`)).status).toBe(409);
    const execution = String((await getJob(catalog.pool, longId))!.n8n_execution_id);
    let run = await client.execution(execution);
    while (run.status === 'running' && Date.now() - claimedAt < 60_000) {
      await sleep(500);
      run = await client.execution(execution);
    }
    expect(run.status).toBe('canceled');
    expect(await finished(longId)).toMatchObject({ status: 'cancelled', error: 'cancelled by e2e' });
    expect(await listSnapshots(await openRepo(), { tags: { job: longId } })).toEqual([]);
    const { listLocks } = await import('../../engine');
    expect(await listLocks(await openRepo())).toEqual([]);

    // verify the job's snapshots
    const verify = await send('POST', `/api/v1/backup/verify/${backupId}`, {});
    expect(verify.status).toBe(202);
    const verified = await finished(String(verify.json.job_id));
    expect(verified.status).toBe('completed');
    expect(verified.steps.map((s) => [s.target, s.status, s.snapshot_id]).sort()).toEqual(backup.steps.map((s) => [s.target, 'completed', s.snapshot_id]).sort());

    // restore both, verified first: files under the restore directory, the database under a new name
    const copy = `${db}_api`;
    const restore = await send('POST', '/api/v1/restore/create', { backup_job_id: backupId, targets: ['postgres', 'files'], destination: { as: copy }, verify_before_restore: true });
    expect(restore.status).toBe(202);
    const restoreId = String(restore.json.job_id);
    const restored = await finished(restoreId);
    expect(restored).toMatchObject({ status: 'completed', error: null });
    expect(restored.steps.map((s) => s.target).sort()).toEqual(['files', 'postgres']);
    expect(await describeTree(path.join(restoreDir, restoreId, 'files', path.basename(dir)))).toEqual(await describeTree(dir));
    expect(await contentFingerprint(copy)).toEqual(await contentFingerprint(db));

    // cleanup, a dry run: it says what it would remove and removes nothing
    const before = (await listSnapshots(await openRepo())).length;
    const cleanup = await send('POST', '/api/v1/cleanup', { older_than: '1h', dry_run: true });
    expect(cleanup.status).toBe(202);
    const cleaned = await finished(String(cleanup.json.job_id));
    expect(cleaned.status).toBe('completed');
    expect(cleaned.steps[0].details).toMatchObject({ dryRun: true });
    expect((await listSnapshots(await openRepo())).length).toBe(before);

    // retention by source, not by job: a second backup of the same files through the API, then keep the last one
    const second = await finished(String((await send('POST', '/api/v1/backup/create', { type: 'full', targets: ['files'], paths: [dir] })).json.job_id));
    expect(second.status).toBe('completed');
    const ofDir = async () => (await listSnapshots(await openRepo(), { target: 'files' })).filter((r) => r.snapshot.paths.join() === dir);
    const sameSource = await ofDir();
    expect(sameSource.length).toBe(2);
    const { groupOf, DEFAULT_GROUP_BY } = await import('../../engine');
    const groups = new Set((await listSnapshots(await openRepo(), { target: 'files' })).map((r) => groupOf(r, DEFAULT_GROUP_BY)));
    const keepLast = await dispatch('cleanup', { target: 'files', keep_last: 1, dry_run: false, prune: true });
    expect((await finished(keepLast.id)).status).toBe('completed');
    expect((await ofDir()).map((r) => r.id)).toEqual([second.steps[0].snapshot_id]);
    // and every other source of the files target keeps exactly its newest
    const left = (await listSnapshots(await openRepo(), { target: 'files' })).map((r) => groupOf(r, DEFAULT_GROUP_BY));
    expect(left.sort()).toEqual([...groups].sort());

    // a schedule: created as a published workflow, it runs, shows its last run, and is disabled and deleted
    const sched = await send('POST', '/api/v1/schedules', { name: 'api-every-5s', cron: '*/5 * * * * *', targets: ['files'], type: 'incremental', paths: [dir] });
    expect(sched.status).toBe(201);
    expect((await send('POST', '/api/v1/schedules', { name: 'api-every-5s', cron: '0 2 * * *', targets: ['files'], paths: [dir] })).status).toBe(409);
    type ScheduleList = { schedules: { name: string; enabled: boolean; next_run: string | null; last_run: { status: string } | null }[] };
    let listed = (await send('GET', '/api/v1/schedules')).json as unknown as ScheduleList;
    const started = Date.now();
    while (listed.schedules[0]?.last_run?.status !== 'completed' && Date.now() - started < 60_000) {
      await sleep(1000);
      listed = (await send('GET', '/api/v1/schedules')).json as unknown as ScheduleList;
    }
    expect(listed.schedules).toEqual([expect.objectContaining({ name: 'api-every-5s', enabled: true, last_run: expect.objectContaining({ status: 'completed' }) })]);
    expect(Date.parse(String(listed.schedules[0].next_run))).toBeGreaterThan(Date.now() - 5000);
    expect((await send('POST', '/api/v1/schedules/api-every-5s/disable')).json).toMatchObject({ enabled: false });
    const workflowId = String(sched.json.workflow_id);
    const wf = (await fetch(`${n8n.baseUrl}/api/v1/workflows/${workflowId}`, { headers: { 'X-N8N-API-KEY': (client as unknown as { apiKey: string }).apiKey } }).then((r) => r.json())) as { active: boolean };
    expect(wf.active).toBe(false);
    expect((await send('DELETE', '/api/v1/schedules/api-every-5s')).status).toBe(200);
    expect(((await send('GET', '/api/v1/schedules')).json as unknown as ScheduleList).schedules).toEqual([]);
    expect((await fetch(`${n8n.baseUrl}/api/v1/workflows/${workflowId}`, { headers: { 'X-N8N-API-KEY': (client as unknown as { apiKey: string }).apiKey } })).status).toBe(404);
  }, 300_000);

  it('restores a PostgreSQL cluster to a moment through the REST API and the restore workflow', async () => {
    const { createApp } = await import('../../server/app');
    const { createToken } = await import('../../catalog/tokens');
    const { backupCluster, stopCluster } = await import('../../engine/targets');
    const { archivingCluster, AS_ROOT, labelsAt, markMoment } = await import('../support/pitr');
    const base = tempDir('dbm-e2e-pitr-');
    chmodSync(base, 0o755);
    const config = path.join(base, 'dbm.json');
    await fs.writeFile(config, JSON.stringify({ repository: `s3://${bucket}/repo`, passphrase, s3: { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey } }), { mode: 0o600 });
    if (AS_ROOT) (await import('node:child_process')).spawnSync('chown', ['-R', 'postgres:', base]);
    const { pg, url } = await archivingCluster(path.join(base, 'source'), config, 'e2e');
    const restored = path.join(base, 'restored');
    try {
      const storage = openStorage(`s3://${bucket}/repo`, { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey });
      if (!(await Repository.exists(storage))) await Repository.init(storage, { passphrase }); // when this test runs alone
      await backupCluster(await openRepo(), { host: '127.0.0.1', port: pg.opts.port, user: 'postgres', password: 'source-password' }, { cluster: 'e2e' });
      await sleep(1100);
      const t1 = await markMoment(url, 't1');
      const t2 = await markMoment(url, 't2');
      const { token } = await createToken(catalog.pool, { name: 'e2e-pitr', role: 'operator' });
      const api = createApp({ catalog: catalog.pool, n8n: { url: n8n.baseUrl, webhookSecret: secret }, policy: { backupRoots: [], restoreRoots: [path.dirname(restored)], protectedPaths: [] } });
      const port = await freePort();
      const res = await api.request('/api/v1/restore/create', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ cluster: 'e2e', target_time: new Date((t1.getTime() + t2.getTime()) / 2).toISOString(), data_directory: restored, start_port: port }),
      });
      expect(res.status).toBe(202);
      const { job_id: id } = (await res.json()) as { job_id: string };
      let job = await getJob(catalog.pool, id);
      const started = Date.now();
      while (job && !['completed', 'failed'].includes(job.status) && Date.now() - started < 120_000) {
        await sleep(500);
        job = await getJob(catalog.pool, id);
      }
      expect(job).toMatchObject({ status: 'completed', error: null });
      expect(job!.steps[0]).toMatchObject({ target: 'postgres-cluster', status: 'completed' });
      expect(await labelsAt(`postgresql://postgres@127.0.0.1:${port}/postgres?host=${encodeURIComponent(restored)}`)).toEqual(['t1']);

      // and a base backup taken through the API and the backup workflow (of the workflow's PostgreSQL server)
      const { token: operator } = await createToken(catalog.pool, { name: 'e2e-base', role: 'operator' });
      const created = await api.request('/api/v1/backup/create', {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'full', targets: ['postgres-cluster'], cluster: 'e2e-api' }),
      });
      expect(created.status).toBe(202);
      const baseJob = ((await created.json()) as { job_id: string }).job_id;
      let base = await getJob(catalog.pool, baseJob);
      while (base && !['completed', 'failed'].includes(base.status) && Date.now() - started < 240_000) {
        await sleep(500);
        base = await getJob(catalog.pool, baseJob);
      }
      expect(base).toMatchObject({ status: 'completed', error: null });
      expect(base!.steps.map((st) => [st.target, st.status])).toEqual([['postgres-cluster', 'completed']]);
      const [snapshot] = await listSnapshots(await openRepo(), { target: 'postgres-cluster', tags: { cluster: 'e2e-api' } });
      expect(snapshot.snapshot.meta).toMatchObject({ cluster: 'e2e-api', timeline: 1, stopLsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });
    } finally {
      stopCluster(restored, AS_ROOT ? 'postgres' : undefined);
      pg.stop();
    }
  }, 300_000);
});
