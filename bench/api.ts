/**
 * API benchmark: the server (in a process of its own) over a catalog with
 * 10 000 jobs, loaded by autocannon at 50 connections; latency percentiles,
 * throughput, and the server's memory.
 *
 *   npm run bench:api        (needs the PostgreSQL server binaries)
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'pg';
import { startApiServer } from '../server/serve';
import { migrate } from '../catalog/migrate';
import { createToken } from '../catalog/tokens';
import { PostgresCluster } from '../stack/postgresCluster';

const WORK = '/tmp/dbm-bench-api';
const JOBS = 10_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);

async function serve(): Promise<void> {
  const catalog = new Pool({ connectionString: process.env.BENCH_CATALOG, max: 10 });
  const server = await startApiServer({ catalog, n8n: { url: 'http://127.0.0.1:9', webhookSecret: 'unused' } }, { port: Number(process.env.BENCH_PORT) });
  process.stdout.write(`listening ${server.url}\n`);
}

async function fill(catalog: Pool): Promise<void> {
  await migrate(catalog);
  await catalog.query(`
    INSERT INTO jobs (id, kind, type, targets, status, created_at, started_at, finished_at, heartbeat_at, progress)
    SELECT 'job_bench' || i, 'backup', (ARRAY['full','incremental','differential'])[1 + i % 3],
           CASE i % 4 WHEN 0 THEN ARRAY['postgres','files'] WHEN 1 THEN ARRAY['postgres'] WHEN 2 THEN ARRAY['files'] ELSE ARRAY['minio'] END,
           CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'completed' END,
           now() - (i || ' minutes')::interval, now() - (i || ' minutes')::interval, now() - (i || ' minutes')::interval + interval '40 seconds',
           now() - (i || ' minutes')::interval + interval '40 seconds', 1
      FROM generate_series(1, ${JOBS}) i;
    INSERT INTO job_steps (job_id, target, status, snapshot_id, bytes_read, bytes_added, bytes_stored, duration_ms, recorded_at)
    SELECT j.id, t, 'completed', md5(j.id || t) || md5(t || j.id), 100000000, 1000000, 500000, 40000, j.finished_at
      FROM jobs j, unnest(j.targets) t;
    ANALYZE;
  `);
}

function rssOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

interface Result {
  latency: { p50: number; p90: number; p99: number; max: number };
  requests: { average: number };
  non2xx: number;
  errors: number;
}

function load(url: string, token: string): Result {
  const bin = path.join(__dirname, '..', '..', 'node_modules', '.bin', 'autocannon');
  const run = spawnSync(bin, ['-c', '50', '-d', String(SECONDS), '-j', '-H', `authorization=Bearer ${token}`, url], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`autocannon failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Result;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve();
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  chmodSync(WORK, 0o755);
  const cluster = new PostgresCluster({ dataDir: path.join(WORK, 'pgdata'), port: 55998, password: 'bench', unsafeFast: true });
  cluster.start();
  let server: ReturnType<typeof spawn> | null = null;
  try {
    const admin = new Pool({ connectionString: cluster.url, max: 1 });
    await admin.query('CREATE DATABASE catalog');
    await admin.end();
    const catalogUrl = cluster.url.replace(/\/postgres$/, '/catalog');
    const catalog = new Pool({ connectionString: catalogUrl, max: 2 });
    console.error(`filling the catalog with ${JOBS} jobs …`);
    await fill(catalog);
    const { token } = await createToken(catalog, { name: 'bench', role: 'viewer' });
    await catalog.end();

    const port = 55997;
    server = spawn(process.execPath, [__filename, 'serve'], { env: { ...process.env, BENCH_CATALOG: catalogUrl, BENCH_PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => server!.stdout!.once('data', () => resolve()));
    const base = `http://127.0.0.1:${port}`;
    const idle = rssOf(server.pid!);
    const rows: string[][] = [];
    for (const [name, route] of [
      ['GET /api/v1/backup/status', '/api/v1/backup/status'],
      ['GET /api/v1/backup/status (again)', '/api/v1/backup/status'],
      ['GET /api/v1/backup/list (page of 50)', '/api/v1/backup/list'],
      ['GET /api/v1/backup/list (again)', '/api/v1/backup/list'],
      ['GET /api/v1/backup/list?target=postgres&status=failed', '/api/v1/backup/list?target=postgres&status=failed'],
    ]) {
      load(`${base}${route}`, token); // warm up (JIT, connection pool, plan cache): the first run is thrown away
      const r = load(`${base}${route}`, token);
      if (r.non2xx > 0 || r.errors > 0) throw new Error(`${name}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
      rows.push([name, `${r.latency.p50} ms`, `${r.latency.p90} ms`, `${r.latency.p99} ms`, `${Math.round(r.requests.average)}/s`, `${(rssOf(server.pid!).rss / 2 ** 20).toFixed(0)} MiB`]);
      await sleep(500);
    }
    const mem = rssOf(server.pid!);
    const widths = [52, 8, 8, 8, 10, 12];
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
    console.log(`\nAPI over a catalog of ${JOBS} jobs, autocannon -c 50 -d ${SECONDS}, server in its own process (${process.version}):\n`);
    console.log(line(['request', 'p50', 'p90', 'p99', 'throughput', 'server RSS']));
    console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
    for (const r of rows) console.log(line(r));
    console.log(`\nserver memory: ${(idle.rss / 2 ** 20).toFixed(0)} MiB idle, ${(mem.rss / 2 ** 20).toFixed(0)} MiB after, peak ${(mem.peak / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    server?.kill('SIGTERM');
    cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
