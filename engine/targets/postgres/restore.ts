import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from 'pg';
import { BackupError, InvalidInputError } from '../../errors';
import type { Repository } from '../../repository/repository';
import { restoreStream } from '../../restorer';
import type { SnapshotRef } from '../../snapshot';
import { startTool } from '../childProcess';
import { countRows, type PostgresMeta } from './backup';
import { childEnv, connect, describeServer, pgError, type PgConnection } from './connection';
import { createDatabaseOptions, propertyStatements, rolesNamed, withOwner } from './databaseProperties';
import { findPgTool } from './tools';

export interface PostgresRestoreOptions {
  /** which databases of the snapshot (default: all) */
  databases?: string[];
  /** restore the one chosen database under this name */
  as?: string;
  /** replace an existing database of the same name */
  force?: boolean;
  /** also restore roles and tablespaces (existing ones are kept) */
  globals?: boolean;
  lockWaitMs?: number;
  /** names never restored into or over (the product's own catalog): refused before anything is written */
  protectedDatabases?: string[];
  /** the role to own the restored databases, instead of their recorded owner (say, when that role does not exist here) */
  owner?: string;
}

export interface RestoredDatabase {
  from: string;
  to: string;
  tables: number;
}

export interface VerifiedDatabase {
  database: string;
  ok: boolean;
  tables: number;
  rows: number;
  /** tables whose restored row count differs from the manifest */
  mismatches: { table: string; expected: number; restored: number }[];
}

export function postgresMeta(ref: SnapshotRef): PostgresMeta {
  const meta = ref.snapshot.meta as unknown as PostgresMeta | undefined;
  if (!meta || !Array.isArray(meta.databases)) {
    throw new InvalidInputError(`snapshot ${ref.id.slice(0, 8)} is not a PostgreSQL backup (target ${ref.snapshot.target})`);
  }
  return meta;
}

function chosen(meta: PostgresMeta, ref: SnapshotRef, names?: string[]): PostgresMeta['databases'] {
  if (!names?.length) return meta.databases;
  return names.map((n) => {
    const db = meta.databases.find((d) => d.name === n);
    if (!db) {
      throw new InvalidInputError(
        `snapshot ${ref.id.slice(0, 8)} has no database ${JSON.stringify(n)} (it has ${meta.databases.map((d) => d.name).join(', ')})`,
      );
    }
    return db;
  });
}

async function exists(admin: Client, name: string): Promise<boolean> {
  return (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
}

/** libpq conninfo for one database: quoted, so no database name can be read as other settings. */
function conninfo(database: string): string {
  return `dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Streams one dump entry from the repository into pg_restore (custom) or psql (plain). */
async function loadDump(repo: Repository, ref: SnapshotRef, meta: PostgresMeta, entry: string, conn: PgConnection, database: string, major: number, lockWaitMs?: number): Promise<void> {
  const tool =
    meta.format === 'custom'
      ? startTool(
          findPgTool('pg_restore', major).path,
          ['--dbname', conninfo(database), '--exit-on-error', '--single-transaction', '--no-password'],
          childEnv(conn, database),
          `pg_restore into ${JSON.stringify(database)}`,
        )
      : startTool(
          findPgTool('psql', major).path,
          ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '--no-password', '-f', '-'],
          childEnv(conn, database),
          `psql into ${JSON.stringify(database)}`,
        );
  tool.child.stdout!.resume(); // nothing to read, but it must not fill up
  try {
    await restoreStream(repo, ref, entry, tool.child.stdin!, { lockWaitMs });
    tool.child.stdin!.end();
  } catch (err) {
    // If the tool died first, its own message says why; otherwise ours does.
    const toolError = await Promise.race([tool.done.then(() => null, (e: unknown) => e), delay(2000).then(() => null)]);
    tool.child.kill('SIGTERM');
    throw toolError ?? err;
  }
  await tool.done;
}

/**
 * Restores databases from a postgres snapshot. Into a new name by default;
 * over an existing database only with `force`, and even then the dump goes
 * into a temporary database first, which replaces the old one only once it
 * has fully loaded: a failed restore never costs the database it meant to replace.
 */
export async function restorePostgres(repo: Repository, ref: SnapshotRef, conn: PgConnection, opts: PostgresRestoreOptions = {}): Promise<RestoredDatabase[]> {
  const meta = postgresMeta(ref);
  const dbs = chosen(meta, ref, opts.databases);
  if (opts.as !== undefined && dbs.length !== 1) throw new InvalidInputError('--as needs exactly one database (name it with --database)');
  const guarded = dbs.map((db) => opts.as ?? db.name).filter((name) => opts.protectedDatabases?.includes(name));
  if (guarded.length > 0) throw new InvalidInputError(`database ${JSON.stringify(guarded[0])} is the product's own catalog and is never a restore destination (restore it under another name with --as)`);
  const admin = await connect(conn, conn.database ?? 'postgres');
  const major = Math.max(Math.floor(meta.serverVersionNum / 10000), 0);
  const restored: RestoredDatabase[] = [];
  try {
    const serverMajor = Math.floor(Number((await admin.query<{ v: string }>('SELECT current_setting($1) AS v', ['server_version_num'])).rows[0].v) / 10000);
    const toolMajor = Math.max(major, serverMajor);
    if (opts.globals) await restoreGlobals(repo, ref, meta, conn, toolMajor, opts.lockWaitMs);
    const serverVersion = Number((await admin.query<{ v: string }>('SELECT current_setting($1) AS v', ['server_version_num'])).rows[0].v);
    for (const db of dbs) await checkPropertiesFit(admin, conn, db, opts.owner);
    for (const db of dbs) {
      const target = opts.as ?? db.name;
      const present = await exists(admin, target);
      if (present && !opts.force) {
        throw new InvalidInputError(
          `database ${JSON.stringify(target)} already exists on ${describeServer(conn)}; restore it under another name (--as) or replace it (--force)`,
        );
      }
      const loadInto = present ? `${target.slice(0, 40)}_dbm_restore_${randomBytes(4).toString('hex')}` : target;
      const q = { ident: (x: string) => admin.escapeIdentifier(x), literal: (x: string) => admin.escapeLiteral(x) };
      // the database as it was (owner, encoding, locale …), or, for snapshots from before that was kept, as template0 makes it
      const properties = db.properties && withOwner(db.properties, opts.owner);
      const options = properties ? createDatabaseOptions(properties, q, serverVersion) : `TEMPLATE template0${opts.owner ? ` OWNER ${q.ident(opts.owner)}` : ''}`;
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(loadInto)} ${options}`);
      try {
        await loadDump(repo, ref, meta, db.entry, conn, loadInto, toolMajor, opts.lockWaitMs);
        for (const statement of properties ? propertyStatements(loadInto, properties, q) : []) await admin.query(statement);
      } catch (err) {
        await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(loadInto)} WITH (FORCE)`).catch(() => undefined);
        throw err;
      }
      if (present) {
        await admin.query(`DROP DATABASE ${admin.escapeIdentifier(target)} WITH (FORCE)`);
        await admin.query(`ALTER DATABASE ${admin.escapeIdentifier(loadInto)} RENAME TO ${admin.escapeIdentifier(target)}`);
      }
      restored.push({ from: db.name, to: target, tables: Object.keys(db.rowCounts).length });
    }
  } catch (err) {
    throw err instanceof BackupError ? err : pgError(conn, err);
  } finally {
    await admin.end().catch(() => undefined);
  }
  return restored;
}

/**
 * Before anything is written: the roles a database's properties name (owner, per-role settings,
 * grantees) and its tablespace exist on the server, or the restore is refused naming them.
 */
async function checkPropertiesFit(admin: Client, conn: PgConnection, db: PostgresMeta['databases'][number], owner?: string): Promise<void> {
  if (owner && (await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [owner])).rowCount !== 1) {
    throw new InvalidInputError(`the role ${JSON.stringify(owner)} given to own the restored database does not exist on ${describeServer(conn)}`);
  }
  const p = db.properties && withOwner(db.properties, owner);
  if (!p) return;
  const named = rolesNamed(p);
  const present = new Set((await admin.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [named])).rows.map((r) => r.rolname));
  const missing = named.filter((r) => !present.has(r));
  if (missing.length > 0) {
    const ownerMissing = missing.includes(p.owner) ? ` (${p.owner} owns it)` : '';
    throw new InvalidInputError(
      `database ${JSON.stringify(db.name)} names roles that do not exist on ${describeServer(conn)}: ${missing.join(', ')}${ownerMissing}; restore the globals too (--globals), create them, or choose another owner (--db-owner)`,
    );
  }
  if ((await admin.query('SELECT 1 FROM pg_tablespace WHERE spcname = $1', [p.tablespace])).rowCount !== 1) {
    throw new InvalidInputError(`database ${JSON.stringify(db.name)} was in tablespace ${JSON.stringify(p.tablespace)}, which does not exist on ${describeServer(conn)}; restore the globals too (--globals) or create it`);
  }
}

/** Roles and tablespaces; ones that exist already are left as they are. */
async function restoreGlobals(repo: Repository, ref: SnapshotRef, meta: PostgresMeta, conn: PgConnection, major: number, lockWaitMs?: number): Promise<void> {
  if (!meta.globals) throw new InvalidInputError(`snapshot ${ref.id.slice(0, 8)} holds no globals`);
  // No ON_ERROR_STOP: "role … already exists" is expected on a live server.
  const tool = startTool(findPgTool('psql', major).path, ['-X', '-q', '--no-password', '-f', '-'], childEnv(conn, conn.database ?? 'postgres'), 'restoring globals');
  tool.child.stdout!.resume();
  await restoreStream(repo, ref, meta.globals, tool.child.stdin!, { lockWaitMs });
  tool.child.stdin!.end();
  await tool.done;
}

/**
 * The restore test: each database goes into a scratch database, its row
 * counts are compared with the manifest's, and the scratch database is dropped.
 */
export async function verifyPostgresRestore(repo: Repository, ref: SnapshotRef, conn: PgConnection, opts: { databases?: string[]; lockWaitMs?: number } = {}): Promise<VerifiedDatabase[]> {
  const meta = postgresMeta(ref);
  const results: VerifiedDatabase[] = [];
  for (const db of chosen(meta, ref, opts.databases)) {
    const scratch = `dbm_verify_${randomBytes(6).toString('hex')}`;
    await restorePostgres(repo, ref, conn, { databases: [db.name], as: scratch, lockWaitMs: opts.lockWaitMs });
    try {
      results.push({ ...(await compareWithManifest(conn, scratch, db)), database: db.name });
    } finally {
      const admin = await connect(conn, conn.database ?? 'postgres');
      await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(scratch)} WITH (FORCE)`).finally(() => admin.end());
    }
  }
  return results;
}

/** What a restore put on the server, checked against the manifest: each restored database's row counts. */
export async function verifyRestoredDatabases(ref: SnapshotRef, conn: PgConnection, restored: RestoredDatabase[]): Promise<VerifiedDatabase[]> {
  const meta = postgresMeta(ref);
  const results: VerifiedDatabase[] = [];
  for (const r of restored) {
    const db = chosen(meta, ref, [r.from])[0];
    results.push(await compareWithManifest(conn, r.to, db));
  }
  return results;
}

async function compareWithManifest(conn: PgConnection, database: string, db: PostgresMeta['databases'][number]): Promise<VerifiedDatabase> {
  const client = await connect(conn, database);
  let counts: Record<string, number>;
  try {
    counts = await countRows(client);
  } finally {
    await client.end().catch(() => undefined);
  }
  const tables = new Set([...Object.keys(db.rowCounts), ...Object.keys(counts)]);
  const mismatches = [...tables]
    .filter((t) => db.rowCounts[t] !== counts[t])
    .map((t) => ({ table: t, expected: db.rowCounts[t] ?? 0, restored: counts[t] ?? 0 }));
  return { database, ok: mismatches.length === 0, tables: tables.size, rows: Object.values(counts).reduce((a, b) => a + b, 0), mismatches };
}
