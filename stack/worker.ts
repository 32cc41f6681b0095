import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { Pool } from 'pg';
import { failRunningExecutions } from '../catalog/jobs';
import { hostId } from '../engine/repository/lock';
import { ensureN8nInstalled, installCommunityPackage, N8nProcess } from './n8n';
import { queueModeEnv, type QueueSettings } from './queueMode';
import { superviseN8n } from './supervisor';
import { reportWorkersAlive } from './workerHeartbeat';

/**
 * What an n8n worker on another machine needs to join a stack in queue mode:
 * where n8n's database, Redis and the catalog are, the key n8n encrypts
 * credentials with, the repository (its keys travel inside n8n's
 * credentials), and the settings every node enforces. The main stack writes
 * it (<data>/secrets/worker-join.json, 0600); copy it to the worker's host
 * as a secret: it opens everything.
 */
export interface JoinFile {
  version: 1;
  /** the main stack's host, and where its pids and loopback addresses mean something */
  host: { name: string; id: string };
  catalogUrl: string;
  queue: QueueSettings;
  repository: string;
  /** the path policy, time zone and budgets the nodes read from their environment */
  env: Record<string, string>;
}

export function writeJoinFile(dataDir: string, join: Omit<JoinFile, 'version' | 'host'>): string {
  const file = path.join(dataDir, 'secrets', 'worker-join.json');
  const content: JoinFile = { version: 1, host: { name: hostname(), id: hostId() }, ...join };
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

export function readJoinFile(file: string): JoinFile {
  if (!existsSync(file)) throw new Error(`no join file at ${file}: copy <data>/secrets/worker-join.json from the main stack's host (DBM_N8N_WORKERS > 0 writes it)`);
  let join: JoinFile;
  try {
    join = JSON.parse(readFileSync(file, 'utf8')) as JoinFile;
  } catch (err) {
    throw new Error(`${file} is not a worker join file: ${(err as Error).message}`);
  }
  if (join?.version !== 1 || !join.queue?.redisUrl || !join.catalogUrl) throw new Error(`${file} is not a worker join file (version 1) of data-backup-manager`);
  return join;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * Why this host cannot join, or null. On the main stack's own machine
 * everything is reachable; elsewhere the repository must be S3 (or a path
 * shared by every host, said with sharedPath), and the catalog, n8n's
 * database and Redis must not be on the main host's loopback.
 */
export function joinRefusal(join: JoinFile, opts: { sharedPath?: boolean } = {}): string | null {
  if (join.host.id === hostId()) return null;
  if (!join.repository.startsWith('s3://') && !opts.sharedPath) {
    return `the repository ${join.repository} is a local directory of ${join.host.name}: workers on other hosts need an S3 repository (DBM_REPOSITORY=s3://…), or a path every host mounts (then set DBM_SHARED_REPOSITORY=1 here)`;
  }
  const onLoopback = [
    ['the catalog', new URL(join.catalogUrl).hostname],
    ["n8n's database", join.queue.database.host],
    ['Redis', new URL(join.queue.redisUrl).hostname],
  ].filter(([, host]) => LOOPBACK.has(host));
  if (onLoopback.length) {
    return `${onLoopback.map(([what]) => what).join(', ')} of ${join.host.name} listen on its loopback only: start the main stack with DATABASE_URL and DBM_REDIS_URL on servers this host reaches`;
  }
  return null;
}

export interface WorkerOptions {
  joinFile: string;
  dataDir: string;
  /** n8n workers to run here (default 1) */
  workers: number;
  concurrency: number;
  /** worker i answers health checks on basePort + 2i; its task broker uses the port after */
  basePort: number;
  /** how this host's workers are named in the catalog (default: its hostname) */
  name?: string;
  sharedPath?: boolean;
  log?: (line: string) => void;
}

export interface RunningWorkers {
  names: string[];
  urls: string[];
  stop(): Promise<void>;
}

/** `stack worker`: n8n workers on this host, taking executions from the main stack's queue, supervised. */
export async function startWorkers(opts: WorkerOptions): Promise<RunningWorkers> {
  const log = opts.log ?? (() => undefined);
  const join = readJoinFile(opts.joinFile);
  const refusal = joinRefusal(join, { sharedPath: opts.sharedPath });
  if (refusal) throw new Error(`cannot join the stack of ${join.host.name}: ${refusal}`);
  process.umask(0o077);
  const dataDir = path.resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const userFolder = path.join(dataDir, 'n8n');
  await ensureN8nInstalled(undefined, log);
  installCommunityPackage(userFolder);
  const catalog = new Pool({ connectionString: join.catalogUrl, max: 2, connectionTimeoutMillis: 10_000 });
  catalog.on('error', () => undefined);
  const host = opts.name || hostname();
  const workers: N8nProcess[] = [];
  const names = Array.from({ length: opts.workers }, (_, i) => `worker-${i + 1}@${host}`);
  let heartbeat: { stop(): Promise<void> } | null = null;
  const stop = async (): Promise<void> => {
    await heartbeat?.stop();
    await Promise.all(workers.map((w) => w.stop())); // n8n lets running executions finish for a while, then ends them
    // what they did not finish ends now, with the reason, not "running" until someone looks
    for (const runner of names) await failRunningExecutions(catalog, `${runner} was stopped during the job; restart the job`, runner).catch(() => undefined);
    await catalog.end();
  };
  try {
    for (let i = 0; i < opts.workers; i++) {
      const runner = names[i];
      const port = opts.basePort + 2 * i;
      const worker = new N8nProcess({
        role: 'worker',
        concurrency: opts.concurrency,
        userFolder,
        port,
        brokerPort: port + 1,
        logFile: path.join(dataDir, 'logs', `n8n-worker-${i + 1}.log`),
        env: { ...join.env, ...queueModeEnv(join.queue), DBM_RUNNER: runner },
      });
      workers.push(worker);
      log(`starting n8n worker ${runner} (health on http://127.0.0.1:${port})`);
      await worker.start();
      superviseN8n(worker, catalog, log, { name: `n8n ${runner}`, runner });
    }
    const reporting = reportWorkersAlive(catalog, hostname(), workers.map((w, i) => ({ name: names[i], process: w })));
    heartbeat = reporting;
    await reporting.first; // listed in /health and status before "ready"
  } catch (err) {
    await stop();
    throw err;
  }
  return { names, urls: workers.map((w) => w.baseUrl), stop };
}
