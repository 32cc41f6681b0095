import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import { Pool } from 'pg';
import { migrate } from '../../server/catalog/migrate';

/** A connection pool to the catalog a credential names, its schema brought up to date. */
export async function openCatalog(creds: ICredentialDataDecryptedObject): Promise<Pool> {
  const sslmode = String(creds.sslmode ?? 'disable');
  const pool = new Pool({
    host: String(creds.host ?? 'localhost'),
    port: Number(creds.port ?? 5432),
    database: String(creds.database ?? 'backup_catalog'),
    user: String(creds.user ?? 'postgres'),
    password: creds.password ? String(creds.password) : undefined,
    ssl: sslmode === 'disable' || sslmode === 'prefer' ? false : { rejectUnauthorized: sslmode === 'verify-full' },
    max: 2,
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', () => undefined);
  await migrate(pool);
  return pool;
}
