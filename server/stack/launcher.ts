import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Pool } from 'pg';
import { migrate } from '../catalog/migrate';
import { ensureN8nInstalled, installCommunityPackage, N8nClient, N8nProcess, provisionOwner } from './n8n';
import { PostgresCluster } from './postgresCluster';
import { provisionWorkflows, type ProvisionedStack, type StackSettings } from './provision';

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
  passphrase?: string;
  alertUrl?: string;
  log?: (line: string) => void;
}

export interface RunningStack {
  n8nUrl: string;
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
  mkdirSync(dataDir, { recursive: true });
  chmodSync(dataDir, 0o755); // the embedded PostgreSQL runs as the postgres user when we are root
  const pgPassword = secret(dataDir, 'postgres-password', () => randomBytes(18).toString('base64url'));
  const passphrase = opts.passphrase ?? secret(dataDir, 'repository-passphrase', () => randomBytes(24).toString('base64url'));
  const webhookSecret = secret(dataDir, 'webhook-secret', () => randomBytes(24).toString('hex'));

  // What this start has brought up, so that a failure part-way stops it again.
  let cluster: PostgresCluster | null = null;
  let n8n: N8nProcess | null = null;
  const stopStarted = async (): Promise<void> => {
    await n8n?.stop();
    cluster?.stop();
  };
  const stateFile = path.join(dataDir, 'secrets', 'n8n-stack.json');
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
    ensureN8nInstalled(undefined, log);
    installCommunityPackage(userFolder);
    n8n = new N8nProcess({ userFolder, port: opts.n8nPort, brokerPort: opts.n8nBrokerPort, logFile: path.join(dataDir, 'logs', 'n8n.log') });
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
        repository: repositorySettings(repository, passphrase, opts.s3),
        postgres: { host: pgUrl.hostname, port: Number(pgUrl.port || 5432), user: decodeURIComponent(pgUrl.username), password: decodeURIComponent(pgUrl.password) },
        catalog: { host: cat.hostname, port: Number(cat.port || 5432), user: decodeURIComponent(cat.username), password: decodeURIComponent(cat.password), database: cat.pathname.slice(1) },
        alertUrl: opts.alertUrl,
      };
      const provisioned = await provisionWorkflows(new N8nClient(n8n.baseUrl, apiKey), settings);
      state = { apiKey, ownerEmail, provisioned };
      writeFileSync(stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
      log(`provisioned n8n: ${Object.keys(provisioned.workflows).length} workflows`);
    }
  } catch (err) {
    await stopStarted();
    throw err;
  }
  const running = n8n;
  return {
    n8nUrl: running.baseUrl,
    catalogUrl: catalogUrl.replace(/:[^:@/]*@/, ':***@'),
    repository,
    webhookSecret,
    provisioned: state.provisioned,
    stop: stopStarted,
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
