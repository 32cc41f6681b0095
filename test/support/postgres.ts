import { spawnSync } from 'node:child_process';
import { Client } from 'pg';
import { inject } from 'vitest';
import { childEnv, findPgTool, parsePgUrl, type PgConnection } from '../../engine/targets';

export function pgConnection(): PgConnection {
  return parsePgUrl(inject('pg').url, {});
}

export async function withClient<T>(database: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const conn = pgConnection();
  const client = new Client({ host: conn.host, port: conn.port, user: conn.user, password: conn.password, database });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function recreateDatabase(name: string): Promise<void> {
  await withClient('postgres', async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`);
  });
}

/** Realistic content: text, JSON, numbers, timestamps, indexes, a view, a sequence, a function. */
export async function fillDatabase(name: string, rows = 2000): Promise<void> {
  await withClient(name, async (c) => {
    await c.query(`
      CREATE TABLE customers (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, profile jsonb, created timestamptz DEFAULT now());
      CREATE TABLE orders (id bigserial PRIMARY KEY, customer bigint REFERENCES customers(id), total numeric(12,2), note text, placed date);
      CREATE INDEX orders_customer ON orders(customer);
      CREATE SCHEMA "Billing Dept";
      CREATE TABLE "Billing Dept"."Invoices ""2026""" (n int PRIMARY KEY, body text);
      CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 500;
      CREATE FUNCTION order_count(c bigint) RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM orders WHERE customer = c';
      INSERT INTO customers (email, profile)
        SELECT 'user' || i || '@example.com', jsonb_build_object('name', md5(i::text), 'tags', jsonb_build_array(i % 7, 'x' || i), 'score', i * 1.5)
        FROM generate_series(1, ${rows}) i;
      INSERT INTO orders (customer, total, note, placed)
        SELECT 1 + (i % ${rows}), (i * 37 % 100000) / 100.0, repeat(md5(i::text), 1 + i % 5), date '2026-01-01' + (i % 300)
        FROM generate_series(1, ${rows * 3}) i;
      INSERT INTO "Billing Dept"."Invoices ""2026""" SELECT i, 'ünïcode ✓ ' || i FROM generate_series(1, 50) i;
    `);
  });
}

/** Every user table's row count and a checksum of its content, in a stable order. */
export async function contentFingerprint(database: string): Promise<Record<string, string>> {
  return withClient(database, async (c) => {
    const tables = await c.query<{ s: string; t: string }>(
      `SELECT n.nspname AS s, c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
    );
    const out: Record<string, string> = {};
    for (const { s, t } of tables.rows) {
      const q = `${c.escapeIdentifier(s)}.${c.escapeIdentifier(t)}`;
      const r = await c.query<{ n: string; h: string }>(`SELECT count(*)::text AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${q} x`);
      out[`${s}.${t}`] = `${r.rows[0].n}:${r.rows[0].h}`;
    }
    return out;
  });
}

/**
 * The schema as pg_dump prints it (less the random \\restrict token of PostgreSQL ≥ 15.14's pg_dump);
 * with `create`, the database itself too (owner, encoding, locale, settings, grants).
 */
export function schemaOf(database: string, opts: { create?: boolean } = {}): string {
  const conn = pgConnection();
  const args = ['--schema-only', '--no-password', ...(opts.create ? ['--create'] : [])];
  const res = spawnSync(findPgTool('pg_dump', 0).path, args, { env: childEnv(conn, database), encoding: 'utf8' });
  if (res.status !== 0) throw new Error(res.stderr);
  return res.stdout.replace(/^\\(un)?restrict .*$/gm, '');
}

export async function databaseExists(name: string): Promise<boolean> {
  return withClient('postgres', async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1);
}
