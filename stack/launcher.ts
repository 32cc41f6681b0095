import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { Pool } from 'pg';
import pino from 'pino';
import { openStorage, pathPolicyEnv, Repository, type PathPolicy } from '../engine';
import { LEVEL_NAMES, type LevelName } from '../engine/compression';
import { migrate } from '../catalog/migrate';
import { countTokens, createToken } from '../catalog/tokens';
import { startApiServer, tlsCertificate, type ApiServer, type QueueCluster, type RepositoryAccess } from '../server';
import { JobLogFiles } from './jobLogFiles';
import { ensureN8nInstalled, installCommunityPackage, N8nClient, N8nProcess, provisionOwner } from './n8n';
import { PostgresCluster } from './postgresCluster';
import { n8nControl, provisionWorkflows, syncSchedules, type ProvisionedStack, type StackSettings } from './provision';
import { ensureN8nDatabase, n8nEncryptionKey, queueModeEnv, type QueueSettings } from './queueMode';
import { redisCommand, RedisServer } from './redis';
import { superviseCluster, superviseN8n, superviseRedis } from './supervisor';
import { writeJoinFile } from './worker';
import { reportWorkersAlive } from './workerHeartbeat';
import { failRunningExecutions } from '../catalog/jobs';
import { JobReconciler } from './reconciler';

/**
 * The product on one machine, on embedded defaults: a catalog PostgreSQL it
 * starts itself (or DATABASE_URL's), a local repository directory (or
 * DBM_REPOSITORY), and n8n with this package and the shipped workflows. Every
 * secret it makes is kept under the data directory (mode 0600), so a restart
 * reuses everything and re-provisions nothing.
 */
export interface StackOptions {
  dataDir: string;
  catalogPort: number;
  n8nPort: number;
  n8nBrokerPort: number;
  /** when set, the catalog lives there instead of in a cluster of our own */
  databaseUrl?: string;
  /** repository location; default <dataDir>/repository; `s3://bucket/prefix` uses `s3` */
  repository?: string;
  s3?: { endpoint?: string; accessKey?: string; secretKey?: string; region?: string };
  /** the MinIO/S3 server whose buckets the minio target backs up (default: the repository's S3 server) */
  minio?: { endpoint: string; accessKey: string; secretKey: string; region?: string };
  passphrase?: string;
  /** the zstd level of the repository when the stack makes it (DBM_COMPRESSION; an existing one keeps its own) */
  compression?: LevelName;
  alertUrl?: string;
  /** the API's port (0: any free one) and address */
  apiPort: number;
  apiHost?: string;
  /** the first admin token (DBM_ADMIN_TOKEN); generated when not given */
  adminToken?: string;
  /** a certificate and key of your own, or (default) a self-signed one made once; `off` is plain HTTP, on loopback only unless allowPlainHttp */
  tls?: { selfSigned?: boolean; certFile?: string; keyFile?: string } | 'off';
  /** plain HTTP on an address other than loopback (DBM_ALLOW_PLAIN_HTTP=1): tokens then cross the network in clear */
  allowPlainHttp?: boolean;
  /** where backups may read (DBM_BACKUP_ROOTS; default: the default backup paths, the scenarios root and <data>/config) */
  backupRoots?: string[];
  /** where restores may write (DBM_RESTORE_ROOTS; default: <data>/restores) */
  restoreRoots?: string[];
  /** what one backup may read and how long it may run (DBM_BACKUP_MAX_BYTES, DBM_BACKUP_MAX_SECONDS) */
  backupBudget?: { maxBytes?: number; maxSeconds?: number };
  /** reverse proxies whose X-Forwarded-For the audit log believes (DBM_TRUSTED_PROXIES) */
  trustedProxies?: string[];
  /** what `backup files` backs up when a request names no paths (default: <data>/config) */
  backupPaths?: string[];
  scenariosRoot?: string;
  buckets?: string[];
  /** the cluster name `backup postgres-cluster` takes base backups under (default main) */
  pitrCluster?: string;
  capacityBytes?: number;
  /** the time zone schedules run in (default: this machine's) */
  timezone?: string;
  /**
   * n8n workers on this machine (DBM_N8N_WORKERS): 0 runs every execution in
   * n8n's main process; N > 0 runs n8n in queue mode (Redis, n8n's data in
   * PostgreSQL) with N `n8n worker` processes
   */
  workers?: number;
  /** executions one worker runs at once (DBM_N8N_WORKER_CONCURRENCY, default 5) */
  workerConcurrency?: number;
  /** worker i (from 0) has its health server on workerBasePort + 2i and its task broker on the port after (DBM_N8N_WORKER_PORT) */
  workerBasePort?: number;
  /** queue mode's Redis (DBM_REDIS_URL); default: a redis-server the stack starts on redisPort (DBM_REDIS_PORT) */
  redisUrl?: string;
  redisPort?: number;
  log?: (line: string) => void;
}

export interface RunningStack {
  apiUrl: string;
  /** set only on the start that created it: shown once, never stored */
  adminToken: string | null;
  /** the self-signed certificate clients should trust, when TLS is on */
  tlsCertFile: string | null;
  n8nUrl: string;
  /** queue mode's workers' health URLs (none without workers) */
  workerUrls: string[];
  catalogUrl: string;
  repository: string;
  webhookSecret: string;
  provisioned: ProvisionedStack;
  stop(): Promise<void>;
}

interface StackState {
  apiKey: string;
  ownerEmail: string;
  provisioned: ProvisionedStack;
}

function secret(dataDir: string, name: string, make: () => string): string {
  const dir = path.join(dataDir, 'secrets');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const value = make();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return value;
}

export async function startStack(opts: StackOptions): Promise<RunningStack> {
  const log = opts.log ?? (() => undefined);
  const dataDir = path.resolve(opts.dataDir);
  // Everything the stack and its children (n8n, PostgreSQL) create is its owner's alone.
  process.umask(0o077);
  const loopback = ['127.0.0.1', '::1', 'localhost', undefined].includes(opts.apiHost);
  if (opts.tls === 'off' && !loopback && !opts.allowPlainHttp) {
    throw new Error(`DBM_TLS=off on ${opts.apiHost} would send API tokens in clear over the network: use TLS, listen on 127.0.0.1, or set DBM_ALLOW_PLAIN_HTTP=1 if a TLS proxy stands in front`);
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  privateDataDir(dataDir);
  const pgGroup = postgresGroup();
  letPostgresThrough(pgGroup, [dataDir]);
  const pgPassword = secret(dataDir, 'postgres-password', () => randomBytes(18).toString('base64url'));
  const passphrase = opts.passphrase ?? secret(dataDir, 'repository-passphrase', () => randomBytes(24).toString('base64url'));
  const webhookSecret = secret(dataDir, 'webhook-secret', () => randomBytes(24).toString('hex'));
  const auditKey = secret(dataDir, 'audit-key', () => randomBytes(32).toString('hex'));

  // What this start has brought up, so that a failure part-way stops it again.
  let cluster: PostgresCluster | null = null;
  let n8n: N8nProcess | null = null;
  const workers: N8nProcess[] = [];
  let redis: RedisServer | null = null;
  let api: ApiServer | null = null;
  let catalogPool: Pool | null = null;
  let jobLogs: JobLogFiles | null = null;
  let reconciler: JobReconciler | null = null;
  let heartbeat: { stop(): Promise<void> } | null = null;
  let clusterWatch: { stop(): void } | null = null;
  const logger = pino(
    { base: undefined, redact: ['authorization', 'headers.authorization'] },
    pino.destination({ dest: path.join(dataDir, 'logs', 'api.log'), mkdir: true, sync: false }),
  );
  const stopStarted = async (): Promise<void> => {
    await api?.close();
    await reconciler?.stop();
    await heartbeat?.stop();
    clusterWatch?.stop();
    await n8n?.stop(); // n8n lets running executions finish for a while, then ends them
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.stop();
    // what n8n did not finish ends now, with the reason, not "running" until someone looks; with a Redis
    // of its own, the queue goes too; with DBM_REDIS_URL, workers of other hosts go on with theirs
    const reason = 'the stack was stopped during the job; restart the job';
    if (catalogPool && (workers.length === 0 || redis)) await failRunningExecutions(catalogPool, reason).catch(() => undefined);
    else if (catalogPool) for (let i = 0; i < workers.length; i++) await failRunningExecutions(catalogPool, reason, workerName(i)).catch(() => undefined);
    await jobLogs?.stop();
    await catalogPool?.end();
    cluster?.stop();
    logger.flush();
  };
  const workerCount = opts.workers ?? 0;
  if (!Number.isInteger(workerCount) || workerCount < 0) throw new Error(`DBM_N8N_WORKERS=${opts.workers} is not a whole number of workers`);
  // n8n's data lives in SQLite without workers and in PostgreSQL with them: each has what was provisioned in it
  const stateFile = path.join(dataDir, 'secrets', workerCount > 0 ? 'n8n-stack-queue.json' : 'n8n-stack.json');
  const repository = opts.repository ?? path.join(dataDir, 'repository');
  let catalogUrl = opts.databaseUrl ?? '';
  let state: StackState;
  try {
    // catalog
    if (!catalogUrl) {
      cluster = new PostgresCluster({ dataDir: path.join(dataDir, 'postgres'), port: opts.catalogPort, password: pgPassword });
      log(`starting PostgreSQL on 127.0.0.1:${opts.catalogPort} (${cluster.opts.dataDir})`);
      cluster.start();
      const admin = new Pool({ connectionString: cluster.url, max: 1 });
      const exists = (await admin.query("SELECT 1 FROM pg_database WHERE datname = 'backup_catalog'")).rowCount === 1;
      if (!exists) await admin.query('CREATE DATABASE backup_catalog');
      await admin.end();
      catalogUrl = cluster.url.replace(/\/postgres$/, '/backup_catalog');
    }
    const catalog = new Pool({ connectionString: catalogUrl, max: 2 });
    const applied = await migrate(catalog);
    if (applied.length) log(`catalog migrations applied: ${applied.join(', ')}`);
    await catalog.end();
    const cat = new URL(catalogUrl);

    // n8n with our package
    const userFolder = path.join(dataDir, 'n8n');
    await ensureN8nInstalled(undefined, log);
    const installed = installCommunityPackage(userFolder);
    const timezone = opts.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
    const configDir = ownConfigDir(dataDir, { repository, apiPort: opts.apiPort, n8nPort: opts.n8nPort });
    const backupPaths = opts.backupPaths?.length ? opts.backupPaths : [configDir];
    const restoreDir = path.join(dataDir, 'restores');
    mkdirSync(restoreDir, { recursive: true, mode: 0o700 });
    // A cluster restored to a moment runs as postgres and calls our CLI (in n8n's folder) for its WAL.
    letPostgresThrough(pgGroup, [restoreDir, userFolder, path.join(userFolder, '.n8n'), path.join(userFolder, '.n8n', 'nodes'), path.dirname(installed)], installed);
    const policy: PathPolicy = {
      backupRoots: opts.backupRoots?.length ? opts.backupRoots : [configDir, ...backupPaths, ...(opts.scenariosRoot ? [opts.scenariosRoot] : [])],
      restoreRoots: opts.restoreRoots?.length ? opts.restoreRoots : [restoreDir],
      protectedPaths: [
        ...['secrets', 'n8n', 'postgres', 'logs'].map((d) => path.join(dataDir, d)),
        ...(repository.startsWith('s3://') ? [] : [path.resolve(repository)]),
      ],
      protectedDatabases: [new URL(catalogUrl).pathname.slice(1)],
    };
    let queue: QueueSettings | null = null;
    if (workerCount > 0) {
      let redisUrl = opts.redisUrl;
      if (!redisUrl) {
        redis = new RedisServer({
          port: opts.redisPort ?? 20014,
          password: secret(dataDir, 'redis-password', () => randomBytes(24).toString('hex')),
          logFile: path.join(dataDir, 'logs', 'redis.log'),
        });
        log(`starting Redis on 127.0.0.1:${redis.opts.port} (queue mode, ${workerCount} n8n worker${workerCount > 1 ? 's' : ''})`);
        await redis.start();
        redisUrl = redis.url;
      }
      const server = new URL(catalogUrl);
      server.pathname = '/postgres';
      queue = {
        redisUrl,
        database: await ensureN8nDatabase(cluster ? cluster.url : server.toString()),
        encryptionKey: n8nEncryptionKey(userFolder, () => secret(dataDir, 'n8n-encryption-key', () => randomBytes(24).toString('base64url'))),
      };
    }
    // the nodes enforce the same path policy as the API; n8n's own file nodes stay inside the restore roots
    const nodeEnv: Record<string, string> = {
      GENERIC_TIMEZONE: timezone,
      ...pathPolicyEnv(policy),
      N8N_RESTRICT_FILE_ACCESS_TO: policy.restoreRoots.join(';'),
      ...(opts.backupBudget?.maxBytes ? { DBM_BACKUP_MAX_BYTES: String(opts.backupBudget.maxBytes) } : {}),
      ...(opts.backupBudget?.maxSeconds ? { DBM_BACKUP_MAX_SECONDS: String(opts.backupBudget.maxSeconds) } : {}),
    };
    // which process ran a job: the catalog records it with the claim
    const n8nEnv = (runner: string): Record<string, string> => ({ ...nodeEnv, ...(queue ? queueModeEnv(queue) : {}), DBM_RUNNER: runner });
    n8n = new N8nProcess({
      userFolder,
      port: opts.n8nPort,
      brokerPort: opts.n8nBrokerPort,
      logFile: path.join(dataDir, 'logs', 'n8n.log'),
      env: n8nEnv(`main@${hostname()}`),
    });
    log(`starting n8n on http://127.0.0.1:${opts.n8nPort}`);
    await n8n.start();

    // first start: owner, API key, credentials, workflows
    if (existsSync(stateFile)) {
      state = JSON.parse(readFileSync(stateFile, 'utf8')) as StackState;
    } else {
      const ownerEmail = 'admin@data-backup-manager.local';
      const ownerPassword = secret(dataDir, 'n8n-owner-password', () => `Dbm-${randomBytes(12).toString('base64url')}9`);
      const { apiKey } = await provisionOwner(n8n.baseUrl, { email: ownerEmail, password: ownerPassword });
      const pgUrl = new URL(cluster ? cluster.url : catalogUrl);
      const settings: StackSettings = {
        webhookSecret,
        repository: { ...repositorySettings(repository, passphrase, opts.s3), compression: opts.compression },
        postgres: { host: pgUrl.hostname, port: Number(pgUrl.port || 5432), user: decodeURIComponent(pgUrl.username), password: decodeURIComponent(pgUrl.password) },
        catalog: { host: cat.hostname, port: Number(cat.port || 5432), user: decodeURIComponent(cat.username), password: decodeURIComponent(cat.password), database: cat.pathname.slice(1) },
        alertUrl: opts.alertUrl,
        minio: opts.minio,
        queueMode: queue !== null,
      };
      const provisioned = await provisionWorkflows(new N8nClient(n8n.baseUrl, apiKey), settings);
      state = { apiKey, ownerEmail, provisioned };
      writeFileSync(stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
      log(`provisioned n8n: ${Object.keys(provisioned.workflows).length} workflows`);
    }

    // queue mode's workers, once main has made n8n's database what they expect, and the repository exists
    // (made here, once, rather than by whichever workers' first backups race to make it)
    if (workerCount > 0) {
      const storage = openStorage(repository.startsWith('s3://') ? repository : path.resolve(repository), opts.s3);
      await Repository.initOrOpen(storage, { passphrase, config: { compressionLevel: opts.compression && LEVEL_NAMES[opts.compression] } });
    }
    for (let i = 0; i < workerCount; i++) {
      const port = (opts.workerBasePort ?? 20020) + 2 * i;
      const worker = new N8nProcess({
        role: 'worker',
        concurrency: opts.workerConcurrency ?? 5,
        userFolder,
        port,
        brokerPort: port + 1,
        logFile: path.join(dataDir, 'logs', `n8n-worker-${i + 1}.log`),
        env: n8nEnv(workerName(i)),
      });
      workers.push(worker);
      log(`starting n8n worker ${i + 1} (health on http://127.0.0.1:${port})`);
      await worker.start();
    }

    // the API
    catalogPool = new Pool({ connectionString: catalogUrl, max: 10, connectionTimeoutMillis: 5000 });
    catalogPool.on('error', (err) => logger.error({ err }, 'catalog connection error'));
    // the children are kept alive, and every job ends: see supervisor.ts and reconciler.ts
    const supervisorLog = (line: string): void => {
      log(line);
      logger.warn(line);
    };
    superviseN8n(n8n, catalogPool, supervisorLog, { name: 'n8n', runner: workerCount > 0 ? null : undefined }); // queue mode's main runs no job
    workers.forEach((w, i) => superviseN8n(w, catalogPool!, supervisorLog, { name: `n8n worker ${i + 1}`, runner: workerName(i) }));
    if (queue) {
      const reporting = reportWorkersAlive(catalogPool, hostname(), workers.map((w, i) => ({ name: workerName(i), process: w })));
      heartbeat = reporting;
      await reporting.first; // listed in /health and status before "ready"
      const joinFile = writeJoinFile(dataDir, { catalogUrl, queue, repository, env: nodeEnv });
      log(`workers on other hosts join with ${joinFile} (data-backup-manager stack worker; see README: Scaling out)`);
    }
    if (redis) superviseRedis(redis, catalogPool, supervisorLog);
    if (cluster) clusterWatch = superviseCluster(cluster, supervisorLog);
    // n8n's schedules follow the catalog's (a new n8n database has none of them yet)
    const schedules = await syncSchedules(catalogPool, new N8nClient(n8n.baseUrl, state.apiKey), state.provisioned);
    if (schedules.made.length) log(`schedules made again in n8n: ${schedules.made.join(', ')}`);
    if (schedules.deleted.length) log(`schedule workflows the catalog does not know, deleted from n8n: ${schedules.deleted.join(', ')}`);
    reconciler = new JobReconciler(catalogPool, new N8nClient(n8n.baseUrl, state.apiKey), { log: logger });
    reconciler.start();
    let adminToken: string | null = null;
    if ((await countTokens(catalogPool)) === 0) {
      if (opts.adminToken !== undefined && opts.adminToken.length < 16) throw new Error('DBM_ADMIN_TOKEN must be at least 16 characters');
      adminToken = (await createToken(catalogPool, { name: 'admin', role: 'admin', token: opts.adminToken })).token;
      log('created the admin API token');
    }
    jobLogs = new JobLogFiles(catalogPool, path.join(dataDir, 'logs', 'jobs'));
    jobLogs.start();
    const tls = opts.tls === 'off' ? undefined : tlsCertificate(path.join(dataDir, 'secrets'), opts.tls?.selfSigned === false ? opts.tls : undefined);
    if (!tls && !loopback) log(`warning: the API serves plain HTTP on ${opts.apiHost}: tokens cross the network in clear`);
    api = await startApiServer(
      {
        catalog: catalogPool,
        n8n: { url: n8n.baseUrl, webhookSecret },
        n8nApi: n8nControl(new N8nClient(n8n.baseUrl, state.apiKey), state.provisioned),
        repository: repositoryAccess(repository, passphrase, opts.s3),
        ...(queue ? { cluster: queueCluster(queue.redisUrl) } : {}),
        defaults: { paths: backupPaths, scenariosRoot: opts.scenariosRoot, buckets: opts.buckets, cluster: opts.pitrCluster, restoreDir },
        policy,
        auditKey,
        trustedProxies: opts.trustedProxies,
        settings: { capacityBytes: opts.capacityBytes, timezone },
        log: logger,
      },
      { port: opts.apiPort, host: opts.apiHost, tls },
    );
    log(`API listening on ${api.url}`);
    const running = n8n;
    return {
      apiUrl: api.url,
      adminToken,
      tlsCertFile: tls?.selfSigned ? tls.certFile : null,
      n8nUrl: running.baseUrl,
      workerUrls: workers.map((w) => w.baseUrl),
    catalogUrl: catalogUrl.replace(/:[^:@/]*@/, ':***@'),
    repository,
    webhookSecret,
      provisioned: state.provisioned,
      stop: stopStarted,
    };
  } catch (err) {
    await stopStarted();
    throw err;
  }
}

/**
 * The product's own configuration directory (<data>/config): what `backup
 * files` backs up by default. It holds the installation's settings, never the
 * repository or the secrets.
 */
function ownConfigDir(dataDir: string, settings: Record<string, unknown>): string {
  const dir = path.join(dataDir, 'config');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'settings.json'),
    `${JSON.stringify({ ...settings, repository: String(settings.repository).replace(/\/\/[^@/]*@/, '//') }, null, 2)}\n`,
  );
  const readme = path.join(dir, 'README');
  if (!existsSync(readme)) {
    writeFileSync(readme, 'data-backup-manager configuration. `backup files` backs up this directory unless DBM_BACKUP_PATHS names others.\n');
  }
  return dir;
}

/** How the catalog names this host's i-th worker (from 0): its jobs' runner. */
function workerName(i: number): string {
  return `worker-${i + 1}@${hostname()}`;
}

/** Queue mode, for the API's health and metrics: the depth of n8n's queue in Redis. */
function queueCluster(redisUrl: string): QueueCluster {
  return {
    queueDepth: async () => {
      // n8n's Bull queue is "jobs" under the prefix "bull": executions waiting for a worker are its wait list
      const reply = await redisCommand(redisUrl, ['LLEN', 'bull:jobs:wait']);
      if (!reply.startsWith(':')) throw new Error(`unexpected answer from Redis: ${reply.slice(0, 80)}`);
      return Number(reply.slice(1));
    },
  };
}

/** The repository, for the API: opened once on first use (opening derives a key). */
function repositoryAccess(location: string, passphrase: string, s3: StackOptions['s3'] = {}): RepositoryAccess {
  const storage = openStorage(location.startsWith('s3://') ? location : path.resolve(location), s3);
  let opened: Promise<Repository> | null = null;
  return {
    location,
    storage,
    localPath: location.startsWith('s3://') ? undefined : path.resolve(location),
    open: () => {
      opened ??= Repository.open(storage, { passphrase }).catch((err: unknown) => {
        opened = null; // not there yet (the first backup creates it): try again next time
        throw err;
      });
      return opened;
    },
  };
}

/** The repository credential's settings: a local directory, or an S3 bucket and prefix. */
function repositorySettings(location: string, passphrase: string, s3: StackOptions['s3'] = {}): StackSettings['repository'] {
  if (!location.startsWith('s3://')) return { storage: 'local', path: path.resolve(location), passphrase };
  const [bucket, ...prefix] = location.slice('s3://'.length).split('/');
  if (!bucket || !s3.endpoint || !s3.accessKey || !s3.secretKey) {
    throw new Error(`repository ${location} needs a bucket and DBM_S3_ENDPOINT, DBM_S3_ACCESS_KEY and DBM_S3_SECRET_KEY`);
  }
  return { storage: 's3', endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket, prefix: prefix.join('/'), region: s3.region, passphrase };
}

/**
 * The data directory is its owner's (0700). Installations made before this rule get their secrets,
 * n8n's folder, logs, restores and settings closed again at each start.
 */
function privateDataDir(dataDir: string): void {
  chmodSync(dataDir, 0o700);
  for (const name of ['secrets', 'n8n', 'logs', 'restores', 'config']) closeTree(path.join(dataDir, name));
}

/** The postgres user's group when we are root: the embedded PostgreSQL and restored clusters run as that user. */
function postgresGroup(): number | null {
  if (process.getuid?.() !== 0) return null;
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return Number.isInteger(gid) && gid > 0 ? gid : null;
}

/**
 * The postgres user may pass through these folders (root:postgres 0710: no listing, no reading) and read
 * `readable` (the installed package: its CLI is a restored cluster's restore_command). Nobody else may.
 */
function letPostgresThrough(gid: number | null, passThrough: string[], readable?: string): void {
  if (gid === null) return;
  for (const dir of passThrough) {
    chownSync(dir, 0, gid);
    chmodSync(dir, 0o710);
  }
  if (readable) {
    spawnSync('chgrp', ['-R', String(gid), readable]);
    spawnSync('chmod', ['-R', 'g+rX', readable]);
  }
}

/** go-rwx on a tree (never following links), as chmod -R go-rwx would. */
function closeTree(p: string): void {
  let st;
  try {
    st = lstatSync(p, { throwIfNoEntry: false });
  } catch {
    return;
  }
  if (!st || st.isSymbolicLink()) return;
  if ((st.mode & 0o077) !== 0) chmodSync(p, st.mode & 0o7700);
  if (st.isDirectory()) for (const entry of readdirSync(p)) closeTree(path.join(p, entry));
}
