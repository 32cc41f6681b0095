import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Pool } from 'pg';
import { bullRedisEnv } from './redis';

/**
 * n8n's queue mode, as the stack runs it with workers: n8n's data in a
 * PostgreSQL database of its own on the catalog's server (SQLite cannot be
 * shared), executions handed out through Redis, and one encryption key for
 * main and every worker (they decrypt the same credentials). These settings
 * are the same for every n8n process of the stack, on this host or another.
 */
export interface QueueSettings {
  redisUrl: string;
  /** n8n's own database */
  database: { host: string; port: number; user: string; password: string; name: string };
  encryptionKey: string;
}

export const N8N_DATABASE = 'n8n';

export function queueModeEnv(q: QueueSettings): Record<string, string> {
  return {
    EXECUTIONS_MODE: 'queue',
    DB_TYPE: 'postgresdb',
    DB_POSTGRESDB_HOST: q.database.host,
    DB_POSTGRESDB_PORT: String(q.database.port),
    DB_POSTGRESDB_USER: q.database.user,
    DB_POSTGRESDB_PASSWORD: q.database.password,
    DB_POSTGRESDB_DATABASE: q.database.name,
    N8N_ENCRYPTION_KEY: q.encryptionKey,
    ...bullRedisEnv(q.redisUrl),
    // binary data where every process can read it: workers do not share main's disk
    N8N_DEFAULT_BINARY_DATA_MODE: 'database',
    // a run started from the editor goes to a worker too: main only schedules and answers
    OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS: 'true',
  };
}

/**
 * The key n8n encrypts credentials with: the one n8n already made for this
 * user folder (its settings file), so an installation that ran without
 * workers keeps its key; otherwise the stack's own secret.
 */
export function n8nEncryptionKey(userFolder: string, fallback: () => string): string {
  const file = path.join(userFolder, '.n8n', 'config');
  if (existsSync(file)) {
    const key = (JSON.parse(readFileSync(file, 'utf8')) as { encryptionKey?: unknown }).encryptionKey;
    if (typeof key === 'string' && key) return key;
  }
  return fallback();
}

/**
 * n8n's database on the catalog's server, made on first use with the
 * catalog's own credentials. Answers where it is.
 */
export async function ensureN8nDatabase(serverUrl: string): Promise<QueueSettings['database']> {
  const u = new URL(serverUrl);
  const admin = new Pool({ connectionString: serverUrl, max: 1, connectionTimeoutMillis: 10_000 });
  try {
    const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [N8N_DATABASE])).rowCount === 1;
    if (!exists) {
      await admin.query(`CREATE DATABASE ${N8N_DATABASE}`).catch((err: Error) => {
        throw new Error(`queue mode keeps n8n's data in a database "${N8N_DATABASE}" on the catalog's server, and creating it failed (${err.message}): create it, owned by ${decodeURIComponent(u.username)}`);
      });
    }
  } finally {
    await admin.end();
  }
  return { host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), name: N8N_DATABASE };
}
