import type { Client, ClientConfig } from 'pg';

/** The pg driver, loaded when a connection is made: commands that never connect start faster without it. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const pgDriver = (): typeof import('pg') => require('pg') as typeof import('pg');
import { BackupError, InvalidInputError } from '../../errors';

/**
 * How to reach a PostgreSQL server. The password never goes on a command
 * line: child processes get it through PGPASSWORD in their environment,
 * and it is never part of a message.
 */
export interface PgConnection {
  host: string;
  port: number;
  user: string;
  password?: string;
  /** disable | allow | prefer | require | verify-ca | verify-full */
  sslmode?: string;
  /** the database to connect to for discovery (default postgres) */
  database?: string;
}

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** Parses postgresql://user[:password]@host[:port][/database][?sslmode=…]; the password may come from PGPASSWORD instead. */
export function parsePgUrl(url: string, env: NodeJS.ProcessEnv = process.env): PgConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidInputError('the PostgreSQL connection is not a URL (expected postgresql://user@host:port/database)');
  }
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:') {
    throw new InvalidInputError(`the PostgreSQL connection must start with postgresql://, not ${u.protocol}//`);
  }
  const sslmode = u.searchParams.get('sslmode') ?? undefined;
  if (sslmode && !SSL_MODES.includes(sslmode)) throw new InvalidInputError(`sslmode ${JSON.stringify(sslmode)} is not one of ${SSL_MODES.join(', ')}`);
  const port = u.port ? Number(u.port) : 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidInputError(`port ${u.port} is not a TCP port`);
  return {
    host: decodeURIComponent(u.hostname) || 'localhost',
    port,
    user: decodeURIComponent(u.username) || env.PGUSER || 'postgres',
    password: u.password ? decodeURIComponent(u.password) : env.PGPASSWORD,
    sslmode,
    database: u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : undefined,
  };
}

export function describeServer(conn: PgConnection): string {
  return `PostgreSQL at ${conn.host}:${conn.port}`;
}

/** Environment for pg_dump, pg_restore, psql: libpq reads every setting from it. */
export function childEnv(conn: PgConnection, database: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: process.env.LANG ?? 'C.UTF-8',
    PGHOST: conn.host,
    PGPORT: String(conn.port),
    PGUSER: conn.user,
    PGDATABASE: database,
    PGAPPNAME: 'data-backup-manager',
    PGCONNECT_TIMEOUT: '10',
  };
  if (conn.password !== undefined) env.PGPASSWORD = conn.password;
  if (conn.sslmode) env.PGSSLMODE = conn.sslmode;
  return env;
}

function clientConfig(conn: PgConnection, database: string): ClientConfig {
  const ssl =
    !conn.sslmode || conn.sslmode === 'disable' || conn.sslmode === 'allow' || conn.sslmode === 'prefer'
      ? false
      : { rejectUnauthorized: conn.sslmode === 'verify-ca' || conn.sslmode === 'verify-full' };
  return {
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    database,
    ssl,
    application_name: 'data-backup-manager',
    connectionTimeoutMillis: 10_000,
  };
}

/** A connected client, or an error that names the server and what went wrong (never the password). */
export async function connect(conn: PgConnection, database: string): Promise<Client> {
  const client = new (pgDriver().Client)(clientConfig(conn, database));
  client.on('error', () => undefined); // a dropped connection surfaces on the next query
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw pgError(conn, err, database);
  }
  return client;
}

export function pgError(conn: PgConnection, err: unknown, database?: string): BackupError {
  const e = err as { code?: string; message?: string };
  const where = describeServer(conn);
  if (e.code === 'ECONNREFUSED') return new BackupError(`cannot connect to ${where}: connection refused`);
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return new BackupError(`cannot connect to ${where}: unknown host`);
  if (e.code === 'ETIMEDOUT' || /timeout/i.test(e.message ?? '')) return new BackupError(`cannot connect to ${where}: timed out`);
  if (e.code === '3D000') return new InvalidInputError(`database ${JSON.stringify(database)} does not exist on ${where}`);
  return new BackupError(`${where}: ${e.message ?? String(err)}`);
}
