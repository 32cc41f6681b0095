/**
 * Scale-out benchmark: the whole stack with 0, 1 and 2 n8n workers (queue
 * mode), 16 backup jobs submitted at once (8 databases and 8 file trees of a
 * few tens of MB each, one per job), wall time from the first request to the
 * last job's end, jobs per minute, and which process ran how many.
 *
 *   npm run bench:scale [-- --workers 0,1,2 --concurrency 5 --dir /tmp/dbm-bench-scale]
 *
 * Needs the PostgreSQL server binaries, redis-server and n8n's runtime (the
 * first `npm start` installs it). On a 2-core machine the point is that it
 * works and queues correctly; the table shows where the limit is.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { freePort } from '../stack/ports';
import { logText, rand } from './tree';
import { option } from './option';

const WORK = path.resolve(option('dir', '/tmp/dbm-bench-scale'));
const WORKER_COUNTS = option('workers', '0,1,2').split(',').map(Number);
const CONCURRENCY = Number(option('concurrency', '5'));
const CLI = path.join(__dirname, '..', 'cli', 'main.js');
const TOKEN = 'bench-scale-admin-token-0123456789';
const DATABASES = 8;
const TREES = 8;

/** 8 trees of ~24 MiB: logs (compressible) and random bytes (not), distinct per tree. */
function makeTrees(root: string): string[] {
  const trees: string[] = [];
  for (let t = 0; t < TREES; t++) {
    const dir = path.join(root, `tree${t}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 4; f++) writeFileSync(path.join(dir, `app${f}.log`), logText(`scale-${t}-${f}`, 3 * 2 ** 20));
    writeFileSync(path.join(dir, 'blob.bin'), rand(`scale-bin-${t}`, 12 * 2 ** 20));
    trees.push(dir);
  }
  return trees;
}

interface Run {
  workers: number;
  wallSeconds: number;
  completed: number;
  failed: number;
  byRunner: Record<string, number>;
}

async function runWith(workers: number, trees: string[]): Promise<Run> {
  const base = path.join(WORK, `stack-${workers}`);
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  chmodSync(base, 0o755); // the embedded PostgreSQL runs as the postgres user when we are root
  const apiPort = await freePort();
  const env: Record<string, string> = {
    DBM_DATA_DIR: path.join(base, 'data'),
    DBM_PORT: String(apiPort),
    DBM_TLS: 'off',
    DBM_CATALOG_PORT: String(await freePort()),
    DBM_N8N_PORT: String(await freePort()),
    DBM_N8N_BROKER_PORT: String(await freePort()),
    DBM_N8N_WORKERS: String(workers),
    DBM_N8N_WORKER_CONCURRENCY: String(CONCURRENCY),
    DBM_N8N_WORKER_PORT: String(await freePort()),
    DBM_REDIS_PORT: String(await freePort()),
    DBM_BACKUP_ROOTS: path.join(WORK, 'sources'),
    DBM_ADMIN_TOKEN: TOKEN,
  };
  const child: ChildProcess = spawn(process.execPath, [CLI, 'stack', 'start'], { env: { ...process.env, ...env } as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    for (const started = Date.now(); !out.includes('\nready\n'); await sleep(300)) {
      if (child.exitCode !== null || Date.now() - started > 600_000) throw new Error(`stack start failed: ${out}`);
    }
    // 8 databases of ~20 MB in the stack's own PostgreSQL
    const server = `postgresql://postgres:${readFileSync(path.join(env.DBM_DATA_DIR, 'secrets', 'postgres-password'), 'utf8').trim()}@127.0.0.1:${env.DBM_CATALOG_PORT}`;
    for (let d = 0; d < DATABASES; d++) {
      const admin = new Client({ connectionString: `${server}/postgres` });
      await admin.connect();
      await admin.query(`CREATE DATABASE scale${d}`);
      await admin.end();
      const c = new Client({ connectionString: `${server}/scale${d}` });
      await c.connect();
      await c.query(`CREATE TABLE t (id bigserial PRIMARY KEY, v text, n bigint); INSERT INTO t (v, n) SELECT md5('${d}' || g) || repeat(md5(g::text), 3), g FROM generate_series(1, 120000) g`);
      await c.end();
    }
    const api = `http://127.0.0.1:${apiPort}/api/v1`;
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const requests = [
      ...Array.from({ length: DATABASES }, (_, d) => ({ targets: ['postgres'], databases: [`scale${d}`] })),
      ...trees.map((t) => ({ targets: ['files'], paths: [t] })),
    ];
    const started = Date.now();
    const ids = await Promise.all(
      requests.map(async (body) => {
        const res = await fetch(`${api}/backup/create`, { method: 'POST', headers, body: JSON.stringify(body) });
        if (res.status !== 202) throw new Error(`backup/create answered ${res.status}: ${await res.text()}`);
        return ((await res.json()) as { job_id: string }).job_id;
      }),
    );
    const ended = new Map<string, { status: string; runner: string | null }>();
    while (ended.size < ids.length) {
      for (const id of ids.filter((x) => !ended.has(x))) {
        const job = (await (await fetch(`${api}/jobs/${id}`, { headers })).json()) as { status: string; runner: string | null };
        if (['completed', 'failed', 'cancelled'].includes(job.status)) ended.set(id, job);
      }
      if (Date.now() - started > 1_800_000) throw new Error('jobs did not end within 30 minutes');
      await sleep(250);
    }
    const wallSeconds = (Date.now() - started) / 1000;
    const jobs = [...ended.values()];
    const byRunner: Record<string, number> = {};
    for (const j of jobs) byRunner[(j.runner ?? 'none').replace(/@.*/, '')] = (byRunner[(j.runner ?? 'none').replace(/@.*/, '')] ?? 0) + 1;
    return { workers, wallSeconds, completed: jobs.filter((j) => j.status === 'completed').length, failed: jobs.filter((j) => j.status !== 'completed').length, byRunner };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
  }
}

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  console.error(`generating ${TREES} trees in ${WORK}/sources …`);
  const trees = makeTrees(path.join(WORK, 'sources'));
  const runs: Run[] = [];
  for (const w of WORKER_COUNTS) {
    console.error(`stack with ${w} worker(s) …`);
    runs.push(await runWith(w, trees));
  }
  console.log(`\n16 backup jobs submitted at once (8 PostgreSQL databases of ~20 MB, 8 trees of 24 MiB), local repository; worker concurrency ${CONCURRENCY}; ${process.version}\n`);
  console.log('| n8n workers | wall, first request to last job | jobs / minute | completed | failed | jobs per process |');
  console.log('|---|---|---|---|---|---|');
  for (const r of runs) {
    const per = Object.entries(r.byRunner).sort().map(([k, v]) => `${k}: ${v}`).join(', ');
    console.log(`| ${r.workers} | ${r.wallSeconds.toFixed(1)} s | ${((r.completed / r.wallSeconds) * 60).toFixed(1)} | ${r.completed} | ${r.failed} | ${per} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
