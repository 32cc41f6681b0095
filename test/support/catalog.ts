import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { pgConnection, withClient } from './postgres';

/** A fresh catalog database in the test cluster, and a pool on it. */
export async function newCatalogDatabase(): Promise<{ name: string; pool: Pool }> {
  const name = `catalog_${randomBytes(4).toString('hex')}`;
  await withClient('postgres', (c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
  const conn = pgConnection();
  return { name, pool: new Pool({ host: conn.host, port: conn.port, user: conn.user, password: conn.password, database: name, max: 4 }) };
}
