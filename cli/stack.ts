import type { Command } from 'commander';
import * as path from 'node:path';
import { pathList } from '../engine';
import { isLevelName, type LevelName } from '../engine/compression';
import { startStack } from '../stack/launcher';
import { startWorkers } from '../stack/worker';
import { UsageError } from './exitCodes';
import { csv } from './options';

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${name}=${raw} is not a TCP port`);
  return n;
}

function list(name: string): string[] | undefined {
  const raw = process.env[name];
  return raw ? csv(raw) : undefined;
}

function minioSource(): { endpoint: string; accessKey: string; secretKey: string; region?: string } | undefined {
  const { DBM_MINIO_ENDPOINT: endpoint, DBM_MINIO_ACCESS_KEY: accessKey, DBM_MINIO_SECRET_KEY: secretKey } = process.env;
  if (!endpoint) return undefined;
  if (!accessKey || !secretKey) throw new UsageError('DBM_MINIO_ENDPOINT needs DBM_MINIO_ACCESS_KEY and DBM_MINIO_SECRET_KEY');
  return { endpoint, accessKey, secretKey, region: process.env.DBM_MINIO_REGION };
}

function positive(name: string): number | undefined {
  const raw = process.env[name];
  if (!raw) return undefined;
  const n = Number(raw);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`${name}=${raw} is not a positive number`);
  return n;
}

function count(name: string, fallback: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new UsageError(`${name}=${raw} is not a whole number from 0 to ${max}`);
  return n;
}

function capacity(): number | undefined {
  const raw = process.env.DBM_CAPACITY_GB;
  if (!raw) return undefined;
  const gb = Number(raw);
  if (!(gb > 0)) throw new UsageError(`DBM_CAPACITY_GB=${raw} is not a positive number`);
  return gb * 2 ** 30;
}

/** DBM_COMPRESSION: how the repository compresses when the stack makes it. */
function compressionName(): LevelName | undefined {
  const raw = process.env.DBM_COMPRESSION;
  if (!raw) return undefined;
  if (!isLevelName(raw)) throw new UsageError(`DBM_COMPRESSION=${raw}: use default (zstd level 3), fast (level 1) or off`);
  return raw;
}

/** `stack start`: the whole product on this machine, in the foreground, until Ctrl-C. */
export function registerStack(program: Command): void {
  const stack = program.command('stack').description('run the product on this machine');
  stack
    .command('start')
    .description('start the catalog PostgreSQL, n8n with the backup nodes and workflows, and the API, on embedded defaults (see README: Settings)')
    .action(async () => {
      const dataDir = path.resolve(process.env.DBM_DATA_DIR ?? 'data');
      const tlsMode = process.env.DBM_TLS || 'self-signed';
      if (!['self-signed', 'on', 'off'].includes(tlsMode)) throw new UsageError(`DBM_TLS=${tlsMode}: use "self-signed" (the default), "on" with DBM_TLS_CERT and DBM_TLS_KEY, or "off"`);
      const running = await startStack({
        dataDir,
        apiPort: port('DBM_PORT', 20010),
        apiHost: process.env.DBM_API_HOST,
        catalogPort: port('DBM_CATALOG_PORT', 20011),
        n8nPort: port('DBM_N8N_PORT', 20012),
        n8nBrokerPort: port('DBM_N8N_BROKER_PORT', 20013),
        databaseUrl: process.env.DATABASE_URL,
        repository: process.env.DBM_REPOSITORY,
        s3: { endpoint: process.env.DBM_S3_ENDPOINT, accessKey: process.env.DBM_S3_ACCESS_KEY, secretKey: process.env.DBM_S3_SECRET_KEY, region: process.env.DBM_S3_REGION },
        minio: minioSource(),
        passphrase: process.env.DBM_PASSPHRASE,
        compression: compressionName(),
        alertUrl: process.env.DBM_ALERT_URL,
        adminToken: process.env.DBM_ADMIN_TOKEN,
        tls: tlsMode === 'off' ? 'off' : { selfSigned: tlsMode === 'self-signed', certFile: process.env.DBM_TLS_CERT, keyFile: process.env.DBM_TLS_KEY },
        allowPlainHttp: process.env.DBM_ALLOW_PLAIN_HTTP === '1',
        backupRoots: pathList(process.env.DBM_BACKUP_ROOTS),
        restoreRoots: pathList(process.env.DBM_RESTORE_ROOTS),
        trustedProxies: list('DBM_TRUSTED_PROXIES'),
        backupBudget: { maxBytes: positive('DBM_BACKUP_MAX_BYTES'), maxSeconds: positive('DBM_BACKUP_MAX_SECONDS') },
        backupPaths: list('DBM_BACKUP_PATHS'),
        scenariosRoot: process.env.DBM_SCENARIOS_DIR,
        buckets: list('DBM_MINIO_BUCKETS'),
        pitrCluster: process.env.DBM_PITR_CLUSTER,
        capacityBytes: capacity(),
        timezone: process.env.DBM_TIMEZONE,
        workers: count('DBM_N8N_WORKERS', 0, 64),
        workerConcurrency: count('DBM_N8N_WORKER_CONCURRENCY', 5, 100) || 5,
        workerBasePort: port('DBM_N8N_WORKER_PORT', 20020),
        redisUrl: process.env.DBM_REDIS_URL || undefined,
        redisPort: port('DBM_REDIS_PORT', 20014),
        log: (line) => process.stderr.write(`${line}\n`),
      });
      const lines = [
        'data-backup-manager is running',
        `  API:         ${running.apiUrl}  (OpenAPI: ${running.apiUrl}/api/v1/openapi.json)`,
        `  console:     ${running.apiUrl}/  (log in with an API token)`,
        `  n8n:         ${running.n8nUrl}${running.workerUrls.length ? ` in queue mode, ${running.workerUrls.length} worker(s): ${running.workerUrls.join(' ')}` : ''} (owner: admin@data-backup-manager.local, password in ${path.join(dataDir, 'secrets', 'n8n-owner-password')})`,
        `  catalog:     ${running.catalogUrl}`,
        `  repository:  ${running.repository} (passphrase in ${path.join(dataDir, 'secrets', 'repository-passphrase')}: keep a copy elsewhere)`,
        `  logs:        ${path.join(dataDir, 'logs')} (api.log, jobs/<job-id>.log, n8n.log)`,
      ];
      if (running.tlsCertFile) lines.push(`  TLS:         self-signed certificate ${running.tlsCertFile} (the CLI: export DBM_API_CA=${running.tlsCertFile}; curl: --cacert)`);
      if (running.adminToken) {
        lines.push(
          '',
          `  admin token: ${running.adminToken}`,
          '               shown this once and never stored: keep it (e.g. export DBM_API_TOKEN=…)',
        );
      }
      const ca = running.tlsCertFile ? ` DBM_API_CA=${running.tlsCertFile}` : '';
      lines.push(
        '',
        `  try:         DBM_API_URL=${running.apiUrl}${ca} DBM_API_TOKEN=<token> data-backup-manager status`,
        `               (\`npm link\` in ${path.resolve(__dirname, '..', '..')} puts data-backup-manager on your PATH; or run ${path.resolve(__dirname, 'main.js')})`,
        'ready',
        '',
      );
      process.stdout.write(lines.join('\n'));
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      process.stderr.write('stopping …\n');
      await running.stop();
    });
  stack
    .command('worker')
    .description("join a stack running in queue mode from this host: n8n workers that take its executions (see README: Scaling out)")
    .option('--join <file>', "the main stack's <data>/secrets/worker-join.json, copied here (or DBM_JOIN_FILE)")
    .action(async (opts: { join?: string }) => {
      const joinFile = opts.join ?? process.env.DBM_JOIN_FILE;
      if (!joinFile) throw new UsageError("stack worker needs the main stack's join file: --join FILE or DBM_JOIN_FILE (its <data>/secrets/worker-join.json)");
      const dataDir = path.resolve(process.env.DBM_DATA_DIR ?? 'data-worker');
      const running = await startWorkers({
        joinFile: path.resolve(joinFile),
        dataDir,
        workers: count('DBM_N8N_WORKERS', 1, 64) || 1,
        concurrency: count('DBM_N8N_WORKER_CONCURRENCY', 5, 100) || 5,
        basePort: port('DBM_N8N_WORKER_PORT', 20020),
        name: process.env.DBM_WORKER_NAME,
        sharedPath: process.env.DBM_SHARED_REPOSITORY === '1',
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`data-backup-manager workers running: ${running.names.join(', ')}\n  logs: ${path.join(dataDir, 'logs')}\nready\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      process.stderr.write('stopping …\n');
      await running.stop();
    });
}
