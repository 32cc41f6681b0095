import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, promises as fs, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { openStorage, Repository } from '../../engine';
import { createMinioClient } from '../../engine/storage/s3';
import { EXIT } from '../../cli/exitCodes';
import { tempDir } from '../support/backends';
import { CLI, runCli } from '../support/cli';
import { freePort } from '../support/ports';
import { pidListeningOn } from '../support/processes';

interface JobView {
  id: string;
  status: string;
  error: string | null;
  runner: string | null;
  n8n_execution_id: string | null;
  steps: { target: string; status: string; bytes_read: number | null; bytes_added: number | null; error: string | null }[];
}

/**
 * `stack start` with DBM_N8N_WORKERS=2: n8n in queue mode (Redis, n8n's data
 * in PostgreSQL) with two `n8n worker` processes, every backup into one S3
 * repository.
 */
describe('the stack on n8n queue mode with two workers', () => {
  const base = tempDir('dbm-queue-');
  chmodSync(base, 0o755); // the embedded PostgreSQL runs as the postgres user when we are root
  const dataDir = path.join(base, 'data');
  const sources = path.join(base, 'sources');
  let child: ChildProcess | null = null;
  let output = '';

  afterAll(async () => {
    const c = child;
    if (c && c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise((resolve) => c.once('exit', resolve));
    }
  }, 90_000);

  it('runs 8 backups submitted at once on both workers into one repository; a worker killed mid-backup fails its job at once, and the restart completes', async () => {
    const s3 = inject('s3');
    const bucket = `queue-${randomBytes(4).toString('hex')}`;
    const apiPort = await freePort();
    const env: Record<string, string> = {
      DBM_DATA_DIR: dataDir,
      DBM_PORT: String(apiPort),
      DBM_TLS: 'off',
      DBM_CATALOG_PORT: String(await freePort()),
      DBM_N8N_PORT: String(await freePort()),
      DBM_N8N_BROKER_PORT: String(await freePort()),
      DBM_N8N_WORKERS: '2',
      DBM_N8N_WORKER_CONCURRENCY: '2',
      DBM_N8N_WORKER_PORT: String(await freePort()),
      DBM_REDIS_PORT: String(await freePort()),
      DBM_REPOSITORY: `s3://${bucket}/repo`,
      DBM_S3_ENDPOINT: s3.endpoint,
      DBM_S3_ACCESS_KEY: s3.accessKey,
      DBM_S3_SECRET_KEY: s3.secretKey,
      DBM_BACKUP_ROOTS: sources,
      DBM_ADMIN_TOKEN: 'queue-mode-admin-token-0123456789',
      // in queue mode the stack makes the repository itself, before the workers start
      DBM_COMPRESSION: 'fast',
    };
    child = spawn(process.execPath, [CLI, 'stack', 'start'], { env: { ...process.env, ...env } as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    for (const started = Date.now(); !output.includes('\nready\n'); await sleep(300)) {
      if (child.exitCode !== null) throw new Error(`stack start exited ${child.exitCode}: ${output}`);
      if (Date.now() - started > 300_000) throw new Error(`stack start not ready: ${output}`);
    }
    expect(output).toMatch(/starting Redis on 127\.0\.0\.1:\d+ \(queue mode, 2 n8n workers\)/);
    expect(output).toMatch(/in queue mode, 2 worker\(s\)/);
    // n8n keeps its data in PostgreSQL now: no SQLite file
    await expect(fs.stat(path.join(dataDir, 'n8n', '.n8n', 'database.sqlite'))).rejects.toThrow();
    // Redis's password is on no command line a local user can read
    const redisPid = pidListeningOn(Number(env.DBM_REDIS_PORT));
    expect(readFileSync(`/proc/${redisPid}/cmdline`, 'utf8')).not.toContain(readFileSync(path.join(dataDir, 'secrets', 'redis-password'), 'utf8').trim());

    const api = `http://127.0.0.1:${apiPort}/api/v1`;
    const headers = { authorization: `Bearer ${env.DBM_ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const post = async (route: string, body: object = {}) => {
      const res = await fetch(`${api}${route}`, { method: 'POST', headers, body: JSON.stringify(body) });
      expect(res.status, await res.clone().text()).toBe(202);
      return ((await res.json()) as { job_id: string }).job_id;
    };
    const job = async (id: string) => (await (await fetch(`${api}/jobs/${id}`, { headers })).json()) as JobView;
    const settle = async (id: string, timeoutMs = 240_000): Promise<JobView> => {
      for (const started = Date.now(); Date.now() - started < timeoutMs; await sleep(500)) {
        const j = await job(id);
        if (['completed', 'failed', 'cancelled'].includes(j.status)) return j;
      }
      throw new Error(`job ${id} did not end within ${timeoutMs / 1000} s: ${JSON.stringify(await job(id))}`);
    };

    // sources: three databases in the stack's PostgreSQL, four file trees (two alike), a bucket
    const catalogUrl = `postgresql://postgres:${readFileSync(path.join(dataDir, 'secrets', 'postgres-password'), 'utf8').trim()}@127.0.0.1:${env.DBM_CATALOG_PORT}`;
    const { Client } = await import('pg');
    for (const db of ['shop', 'crm', 'wiki']) {
      const admin = new Client({ connectionString: `${catalogUrl}/postgres` });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${db}`);
      await admin.end();
      const c = new Client({ connectionString: `${catalogUrl}/${db}` });
      await c.connect();
      await c.query(`CREATE TABLE t (id serial PRIMARY KEY, v text); INSERT INTO t (v) SELECT md5('${db}' || g) FROM generate_series(1, 20000) g`);
      await c.end();
    }
    const shared = randomBytes(3 * 2 ** 20);
    for (const tree of ['a', 'b', 'c', 'd']) {
      await fs.mkdir(path.join(sources, tree), { recursive: true });
      // a and b hold the same 3 MiB
      await fs.writeFile(path.join(sources, tree, 'data.bin'), tree === 'a' || tree === 'b' ? shared : randomBytes(2 * 2 ** 20));
      await fs.writeFile(path.join(sources, tree, 'notes.txt'), `tree ${tree}\n`);
    }
    const minio = createMinioClient({ endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey });
    const source = `src-${randomBytes(4).toString('hex')}`;
    await minio.makeBucket(source, 'us-east-1');
    for (let i = 0; i < 20; i++) await minio.putObject(source, `objects/${i}.txt`, Buffer.from(`object ${i}\n`.repeat(100)));

    // eight backups at once
    const requests = [
      ...['shop', 'crm', 'wiki'].map((db) => ({ targets: ['postgres'], databases: [db], description: `db ${db}` })),
      ...['a', 'b', 'c', 'd'].map((t) => ({ targets: ['files'], paths: [path.join(sources, t)], description: `tree ${t}` })),
      { targets: ['minio'], buckets: [source], description: 'bucket' },
    ];
    const ids = await Promise.all(requests.map((r) => post('/backup/create', r)));
    const done = await Promise.all(ids.map((id) => settle(id)));
    for (const j of done) expect(j.status, `${j.id}: ${j.error}`).toBe('completed');
    // both workers ran some (the catalog records which process claimed each job); main ran none
    const runners = new Set(done.map((j) => j.runner?.split('@')[0]));
    expect([...runners].sort()).toEqual(['worker-1', 'worker-2']);
    expect(done.every((j) => j.n8n_execution_id)).toBe(true);

    // one repository, consistent, data read back; a and b's shared bytes stored once
    const repoEnv = {
      DBM_REPOSITORY: env.DBM_REPOSITORY,
      DBM_S3_ENDPOINT: s3.endpoint,
      DBM_S3_ACCESS_KEY: s3.accessKey,
      DBM_S3_SECRET_KEY: s3.secretKey,
      DBM_PASSPHRASE: readFileSync(path.join(dataDir, 'secrets', 'repository-passphrase'), 'utf8').trim(),
    };
    const repo = await Repository.open(openStorage(env.DBM_REPOSITORY, { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey }), { passphrase: repoEnv.DBM_PASSPHRASE });
    expect(repo.config.compressionLevel, 'DBM_COMPRESSION=fast').toBe(1);
    const check = await runCli(['repo', 'check', '--read-data'], repoEnv, undefined, 180_000);
    expect(check.code, check.stderr + check.stdout).toBe(EXIT.ok);
    const later = await settle(await post('/backup/create', { targets: ['files'], paths: [path.join(sources, 'a')], description: 'a again' }));
    expect(later.status).toBe('completed');
    // nothing new: the index of every worker's packs is one (a and b, backed up at once, may both have stored
    // the shared bytes, as two restic processes would; prune drops the duplicate)
    expect(later.steps[0].bytes_added).toBeLessThan(64 * 1024);

    // the cluster in /health, `status --verbose` and /metrics: main, each worker (alive, what it runs), Redis (the queue's depth)
    const health = (await (await fetch(`http://127.0.0.1:${apiPort}/health`, { headers })).json()) as { status: string; checks: Record<string, { status: string; running?: number; queued?: number }> };
    expect(health.status).toBe('healthy');
    expect(health.checks.redis).toMatchObject({ status: 'ok', queued: 0 });
    const workerChecks = Object.entries(health.checks).filter(([name]) => name.startsWith('n8n worker-'));
    expect(workerChecks.map(([name, c]) => [name.replace(/@.*/, ''), c.status, c.running])).toEqual([
      ['n8n worker-1', 'ok', 0],
      ['n8n worker-2', 'ok', 0],
    ]);
    const cli = { DBM_API_URL: `http://127.0.0.1:${apiPort}`, DBM_API_TOKEN: env.DBM_ADMIN_TOKEN, XDG_CONFIG_HOME: base };
    const status = await runCli(['status', '--verbose'], cli);
    expect(status.stdout).toMatch(/^redis +ok/m);
    expect(status.stdout).toMatch(/^n8n worker-1@\S+ +ok +\d+ ms +0 running/m);
    const metrics = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`, { headers })).text();
    expect(metrics).toMatch(/^dbm_queue_waiting_executions 0$/m);
    expect(metrics).toMatch(/^dbm_runner_jobs\{runner="worker-1@[^"]+",status="completed"\} [1-9]/m);
    expect(metrics).not.toMatch(/runner="main@/);

    // a worker killed (SIGKILL) mid-backup: its job fails at once with that reason, and a restart completes
    const huge = path.join(sources, 'huge');
    await fs.mkdir(huge, { recursive: true });
    await fs.writeFile(path.join(huge, 'sparse.img'), '');
    await fs.truncate(path.join(huge, 'sparse.img'), 64 * 2 ** 30);
    const long = await post('/backup/create', { targets: ['files'], paths: [huge], description: 'long' });
    let running = await job(long);
    for (let i = 0; i < 200 && !running.runner; i++) {
      await sleep(300);
      running = await job(long);
    }
    const worker = Number(/^worker-(\d)@/.exec(running.runner ?? '')?.[1]);
    expect(worker).toBeGreaterThan(0);
    const workerPid = pidListeningOn(Number(env.DBM_N8N_WORKER_PORT) + 2 * (worker - 1));
    const killedAt = Date.now();
    process.kill(workerPid, 'SIGKILL');
    const failed = await settle(long, 60_000);
    expect(Date.now() - killedAt).toBeLessThan(60_000);
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain(`n8n worker ${worker} stopped during the job (killed by SIGKILL)`);
    // the other jobs were not touched
    for (const id of ids) expect((await job(id)).status).toBe('completed');
    // the restart (a smaller source now) completes, on whichever worker takes it
    await fs.rm(huge, { recursive: true });
    await fs.mkdir(huge);
    await fs.writeFile(path.join(huge, 'small.txt'), 'small now\n');
    const res = await fetch(`${api}/jobs/${long}/restart`, { method: 'POST', headers });
    expect(res.status).toBe(202);
    const restarted = await settle(((await res.json()) as { job_id: string }).job_id);
    expect(restarted.status, restarted.error ?? '').toBe('completed');
    expect(restarted.runner).toMatch(/^worker-\d@/);
    // nothing half-written is referenced
    const after = await runCli(['repo', 'check'], repoEnv, undefined, 180_000);
    expect(after.code, after.stderr + after.stdout).toBe(EXIT.ok);

    // a third worker joins from "another host" (its own data directory and name; this machine, so loopback is reachable)
    const joinFile = path.join(dataDir, 'secrets', 'worker-join.json');
    expect(statSync(joinFile).mode & 0o077).toBe(0);
    const joinedPort = await freePort();
    let joinedOut = '';
    const joined = spawn(process.execPath, [CLI, 'stack', 'worker', '--join', joinFile], {
      env: { ...process.env, DBM_DATA_DIR: path.join(base, 'second-host'), DBM_WORKER_NAME: 'second-host', DBM_N8N_WORKER_PORT: String(joinedPort), DBM_N8N_WORKER_CONCURRENCY: '2' } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    joined.stdout!.on('data', (d: Buffer) => (joinedOut += d.toString()));
    joined.stderr!.on('data', (d: Buffer) => (joinedOut += d.toString()));
    for (const started = Date.now(); !joinedOut.includes('\nready\n'); await sleep(300)) {
      if (joined.exitCode !== null) throw new Error(`stack worker exited ${joined.exitCode}: ${joinedOut}`);
      if (Date.now() - started > 180_000) throw new Error(`stack worker not ready: ${joinedOut}`);
    }
    expect(joinedOut).toContain('workers running: worker-1@second-host');
    const listed = async () => (await (await fetch(`http://127.0.0.1:${apiPort}/health`, { headers })).json()) as { checks: Record<string, { status: string; host?: string }> };
    // listed before it said ready; alive as soon as its health server's first answer reached the catalog
    expect((await listed()).checks['n8n worker-1@second-host']).toBeDefined();
    for (let i = 0; i < 20 && (await listed()).checks['n8n worker-1@second-host']?.status !== 'ok'; i++) await sleep(1000);
    expect((await listed()).checks['n8n worker-1@second-host']).toMatchObject({ status: 'ok' });
    // it takes its share: batches of six backups at once (the four local slots cannot hold them all)
    let onJoined = 0;
    for (let batch = 0; batch < 3 && onJoined === 0; batch++) {
      const more = await Promise.all(['a', 'b', 'c', 'd', 'a', 'c'].map((t, k) => post('/backup/create', { targets: ['files'], paths: [path.join(sources, t)], description: `batch ${batch} ${k}` })));
      const ended = await Promise.all(more.map((id) => settle(id)));
      for (const j of ended) expect(j.status, `${j.id}: ${j.error}`).toBe('completed');
      onJoined += ended.filter((j) => j.runner === 'worker-1@second-host').length;
    }
    expect(onJoined).toBeGreaterThan(0);
    joined.kill('SIGTERM');
    await new Promise((resolve) => joined.once('exit', resolve));
    expect((await listed()).checks['n8n worker-1@second-host']).toBeUndefined(); // stopped on purpose: off the list
    expect(() => pidListeningOn(joinedPort)).toThrow();

    // the stack stops everything it started: main, the workers, Redis
    const ports = [env.DBM_REDIS_PORT, env.DBM_N8N_PORT, env.DBM_N8N_WORKER_PORT, String(Number(env.DBM_N8N_WORKER_PORT) + 2)].map(Number);
    const pids = ports.map(pidListeningOn);
    const c = child;
    c.kill('SIGTERM');
    await new Promise((resolve) => c.once('exit', resolve));
    for (const port of ports) expect(() => pidListeningOn(port)).toThrow();
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 900_000);
});
