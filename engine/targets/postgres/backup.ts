import type { Client } from 'pg';
import { backupStreams, type BackupOptions, type StreamEntry } from '../../archiver';
import { awaitedLater } from '../../concurrency';
import { BackupError, InvalidInputError } from '../../errors';
import type { Repository } from '../../repository/repository';
import type { SnapshotRef } from '../../snapshot';
import { startTool } from '../childProcess';
import { childEnv, connect, describeServer, pgError, type PgConnection } from './connection';
import { CopyRowCounter, rowCountsFrom, tableKey, type CatalogTable } from './copyRows';
import { readDatabaseProperties, type DatabaseProperties } from './databaseProperties';
import { findPgTool, warmPgTools } from './tools';

export type DumpFormat = 'custom' | 'plain';

export interface PostgresBackupOptions extends Omit<BackupOptions, 'target' | 'meta'> {
  /** databases to dump; default: every database that accepts connections, templates excluded */
  databases?: string[];
  /** also dump roles and tablespaces (pg_dumpall --globals-only); default true */
  globals?: boolean;
  /**
   * pg_dump format. Plain SQL is the default: in bench/postgres (a 315 MB
   * database) it backed up faster, stored less, deduplicated better and
   * restored in 1.19x pg_restore's time where the custom format took 1.57x
   * (piped into pg_restore, which cannot seek in it). Custom is uncompressed: our zstd compresses.
   */
  format?: DumpFormat;
  /** snapshot target name (default postgres) */
  target?: string;
  /**
   * Called once the first pg_dumps are running (at once when they wait for
   * the repository): the moment for work that would otherwise delay them on
   * a busy core. The CLI boots its sealing workers here: booted before, they
   * held pg_dump's start back by ~60 ms on two cores (issue 15).
   */
  onDumping?: () => void;
}

/** What a postgres snapshot's manifest records about its databases. */
export interface PostgresMeta {
  server: string;
  serverVersion: string;
  serverVersionNum: number;
  pgDumpVersion: string;
  format: DumpFormat;
  globals: string | null;
  /** `properties`: the database itself (owner, locale, settings, grants …); absent in snapshots made before it was kept */
  databases: { name: string; entry: string; sizeBytes: number; rowCounts: Record<string, number>; properties?: DatabaseProperties }[];
}

/**
 * Databases dumped at once by default (each a pg_dump, a session of ours and
 * an 8 MiB work buffer): while one dump waits on the server, another's data
 * is chunked and compressed. `concurrency` in the options changes it.
 */
export const PARALLEL_DUMPS = 2;

/** A snapshot entry name for a database: any database name, made safe as a file name. */
export function entryName(database: string, format: DumpFormat): string {
  return `${encodeURIComponent(database)}.${format === 'custom' ? 'dump' : 'sql'}`;
}

/** Databases that accept connections, templates excluded. */
export async function discoverDatabases(conn: PgConnection): Promise<string[]> {
  const client = await connect(conn, conn.database ?? 'postgres');
  try {
    const res = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname',
    );
    return res.rows.map((r) => r.datname);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Dumps databases straight into the repository (no temporary files): one
 * snapshot, one entry per database plus the globals. Each pg_dump runs in a
 * snapshot exported by a transaction of ours, in which we count every
 * table's rows, so the counts in the manifest describe exactly the dump.
 */
export async function backupPostgres(repo: Repository | Promise<Repository>, conn: PgConnection, opts: PostgresBackupOptions = {}): Promise<SnapshotRef> {
  // A repository still opening (its key being derived, ~0.2 s) is awaited once the server has said what to dump: the two overlap.
  if (repo instanceof Promise) awaitedLater(repo);
  const format = opts.format ?? 'plain';
  const tools = warmPgTools(opts.globals === false ? ['pg_dump'] : ['pg_dump', 'pg_dumpall']);
  // Connected to the first database to dump when one is named: the connection then becomes that
  // dump's session (see sessionFor), one connection fewer before pg_dump starts (~25-40 ms, issue 15).
  const adminDb = opts.databases?.[0] ?? conn.database ?? 'postgres';
  const admin = await connect(conn, adminDb);
  let serverVersion: string;
  let serverVersionNum: number;
  let sizes: Map<string, number>;
  let databases: string[];
  const properties = new Map<string, DatabaseProperties>();
  try {
    const server = (await admin.query<{ version: string; num: string }>("SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num")).rows[0];
    serverVersion = server.version;
    serverVersionNum = Number(server.num);
    const res = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname');
    const dumpable = new Set(res.rows.map((r) => r.datname));
    databases = opts.databases?.length ? opts.databases : [...dumpable];
    for (const db of databases) {
      if (!dumpable.has(db)) throw new InvalidInputError(`database ${JSON.stringify(db)} does not exist on ${describeServer(conn)}`);
    }
    // Sizes of the databases dumped only: pg_database_size reads the directory of every file of a database
    // (15 ms for a handful of small ones here, a lot more on a server of many databases and tables).
    const sized = await admin.query<{ datname: string; size: string }>('SELECT datname, pg_database_size(oid)::text AS size FROM pg_database WHERE datname = ANY($1)', [databases]);
    sizes = new Map(sized.rows.map((r) => [r.datname, Number(r.size)]));
    for (const db of databases) {
      // what pg_dump without --create leaves out: the database itself
      properties.set(db, await readDatabaseProperties(admin, db, serverVersionNum));
    }
  } catch (err) {
    await admin.end().catch(() => undefined);
    throw err instanceof InvalidInputError ? err : pgError(conn, err);
  }
  const spare: Spare = { db: adminDb, client: admin };
  if (!databases.includes(adminDb)) await endSpare(spare);
  const major = Math.floor(serverVersionNum / 10000);
  await tools;
  const pgDump = findPgTool('pg_dump', major);
  const meta: PostgresMeta = {
    server: describeServer(conn),
    serverVersion,
    serverVersionNum,
    pgDumpVersion: pgDump.version,
    format,
    globals: null,
    databases: [],
  };
  const entries: StreamEntry[] = [];
  if (opts.globals !== false) {
    const pgDumpall = findPgTool('pg_dumpall', major);
    let tool: ReturnType<typeof startTool>;
    entries.push({
      name: 'globals.sql',
      freeChunks: true,
      open: () => {
        tool = startTool(pgDumpall.path, ['--globals-only', '--no-password'], childEnv(conn, conn.database ?? 'postgres'), 'pg_dumpall --globals-only');
        return tool.child.stdout!;
      },
      finished: async () => {
        await tool.done;
        meta.globals = 'globals.sql';
      },
      abort: () => tool?.stop(),
    });
  }
  databases.forEach((db, i) => entries.push(databaseEntry(conn, db, i, format, pgDump.path, meta, sizes.get(db) ?? 0, properties.get(db), spare)));
  const concurrency = opts.concurrency ?? PARALLEL_DUMPS;
  // The first dumps start now, while the repository opens and the backup takes its lock, loads its index and
  // finds its parent: pg_dump's own start (its catalog queries and a lock on every table: ~0.1 s here, seconds
  // on a schema of thousands of tables) overlaps them. Not when the backup may wait for the repository's lock:
  // pg_dump's locks on the tables would be held through the wait, and a migration's ALTER TABLE behind them.
  const mayWaitForLock = (opts.lockWaitMs ?? (repo instanceof Promise ? 0 : repo.lockWaitMs)) > 0;
  const early = mayWaitForLock ? [] : entries.slice(0, concurrency).map(startedEarly);
  early.forEach((e, i) => (entries[i] = e.entry));
  // A hook that throws (workers that cannot boot) must not end the process: what it prepares is retried, and reported, where it is used.
  if (opts.onDumping) void Promise.allSettled(early.map((e) => e.opening)).then(opts.onDumping).catch(() => undefined);
  try {
    return await backupStreams(await repo, entries, {
      ...opts,
      concurrency,
      target: opts.target ?? 'postgres',
      meta: meta as unknown as Record<string, unknown>,
    });
  } finally {
    // the repository did not open, or the backup failed before the archiver took them
    await Promise.all(early.map((e) => e.stopUnclaimed()));
    await endSpare(spare);
  }
}

/**
 * An entry whose producer starts now, before the archiver asks for it (see
 * backupPostgres); `stopUnclaimed` stops it if the archiver never does. Its
 * stream gets a listener at once: Node empties the stdout of a child that
 * exits while nothing listens, so a short dump (the globals) read late would
 * be stored empty.
 */
function startedEarly(entry: StreamEntry): { entry: StreamEntry; opening: Promise<unknown>; stopUnclaimed(): Promise<void> } {
  const opening = (async () => entry.open())().then((stream) => stream.on('readable', holdStream));
  opening.catch(() => undefined); // the archiver's to report, when it takes the entry
  let claimed = false;
  return {
    opening,
    entry: {
      ...entry,
      open: () => {
        claimed = true;
        return opening;
      },
    },
    async stopUnclaimed() {
      if (claimed) return;
      claimed = true;
      if (await opening.then(() => true, () => false)) await entry.abort?.();
    },
  };
}

/** Listening keeps a child's output from being dropped at its exit; the reading is the archiver's. */
function holdStream(): void {}

/** The discovery connection, until a dump of its database takes it as its session. */
interface Spare {
  db: string;
  client: Client | null;
}

async function endSpare(spare: Spare): Promise<void> {
  const client = spare.client;
  spare.client = null;
  await client?.end().catch(() => undefined);
}

/** A connection to `db` for its dump's session: the spare when it is that database's and still answers, else a new one. */
async function sessionFor(conn: PgConnection, db: string, spare: Spare): Promise<Client> {
  const client = spare.db === db ? spare.client : null;
  if (!client) return connect(conn, db);
  spare.client = null;
  // it waited for the repository (a lock, maybe for minutes): a server that ends idle sessions may have ended it
  if (await client.query('SELECT 1').then(() => true, () => false)) return client;
  await client.end().catch(() => undefined);
  return connect(conn, db);
}

function databaseEntry(
  conn: PgConnection,
  db: string,
  index: number,
  format: DumpFormat,
  pgDump: string,
  meta: PostgresMeta,
  sizeBytes: number,
  properties: DatabaseProperties | undefined,
  spare: Spare,
): StreamEntry {
  let session: Client;
  let tool: ReturnType<typeof startTool>;
  // A plain dump's rows are counted as it streams past (copyRows.ts), against the catalog read beside
  // it; a custom one's with count(*) of every table beside it. Either in the exporting transaction: the dump's snapshot.
  // The counter (a 64 KiB line buffer) lives from open to finished: a server's thousand databases hold none while they wait.
  let counter: CopyRowCounter | null = null;
  let counting: Promise<Catalog | Record<string, number>>;
  return {
    name: entryName(db, format),
    freeChunks: true,
    observe: format === 'plain' ? (piece) => counter?.push(piece) : undefined,
    open: async () => {
      session = await sessionFor(conn, db, spare);
      try {
        await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        // Row counts that run beside the dump do so on the same cores: parallel workers would spend about
        // twice the CPU on them (0.54-0.89 vs 0.24-0.31 CPU-s on bench:postgres's database) for nothing.
        await session.query('SET LOCAL max_parallel_workers_per_gather = 0');
        const snapshot = (await session.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0].s;
        // The database is named through PGDATABASE, never argv: a name like "-x" or "host=…" stays a name.
        const args = [`--format=${format === 'custom' ? 'custom' : 'plain'}`, `--snapshot=${snapshot}`, '--no-password'];
        if (format === 'custom') args.push('--compress=0');
        tool = startTool(pgDump, args, childEnv(conn, db), `pg_dump of ${JSON.stringify(db)}`);
      } catch (err) {
        await session.end().catch(() => undefined);
        throw pgError(conn, err, db);
      }
      if (format === 'plain') counter = new CopyRowCounter();
      counting = counter ? readCatalog(session) : countRows(session);
      counting.catch(() => undefined);
      return tool.child.stdout!;
    },
    finished: async () => {
      try {
        // counting fails first when it fails at all: pg_dump then loses the snapshot our transaction exported,
        // and its "could not import the requested snapshot" would hide the reason
        const [dumped, counted] = await Promise.allSettled([tool.done, counting]);
        if (counted.status === 'rejected') throw counted.reason;
        if (dumped.status === 'rejected') throw dumped.reason;
        const rowCounts = counter ? await rowsOfDump(session, counter, counted.value as Catalog) : (counted.value as Record<string, number>);
        await session.query('COMMIT');
        meta.databases[index] = { name: db, entry: entryName(db, format), sizeBytes, rowCounts, properties }; // in the order asked, whichever ends first
      } catch (err) {
        throw err instanceof BackupError ? err : pgError(conn, err, db);
      } finally {
        counter = null;
        await session.end().catch(() => undefined);
      }
    },
    abort: async () => {
      counter = null;
      tool?.stop();
      await session?.end().catch(() => undefined);
    },
  };
}

/** The user tables and their inheritance, as a plain dump's row counts are checked against. */
export interface Catalog {
  tables: CatalogTable[];
  inherits: [number, number][];
}

/**
 * Every user table. Temporary tables are left out, as pg_dump leaves them: another session's
 * cannot be read ("cannot access temporary tables of other sessions"), and counting one failed the
 * whole backup while an application held one.
 */
const USER_TABLES = `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`;

export async function readCatalog(client: Client): Promise<Catalog> {
  const tables = await client.query<{ oid: string; schema: string; name: string; relkind: string; extension: boolean }>(
    `SELECT c.oid::text AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
        EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') AS extension
      ${USER_TABLES} ORDER BY 2, 3`,
  );
  const inherits = await client.query<{ child: string; parent: string }>('SELECT inhrelid::text AS child, inhparent::text AS parent FROM pg_inherits');
  return {
    tables: tables.rows.map((t) => ({ ...t, oid: Number(t.oid) })),
    inherits: inherits.rows.map((r) => [Number(r.child), Number(r.parent)]),
  };
}

/** A plain dump's row counts, from the dump where it can say them, else from count(*) (see copyRows.ts). */
async function rowsOfDump(session: Client, counter: CopyRowCounter, catalog: Catalog): Promise<Record<string, number>> {
  const dumped = counter.end();
  const fromDump = dumped && rowCountsFrom(dumped, catalog.tables, catalog.inherits);
  if (!fromDump) return countRows(session);
  const counts: Record<string, number> = {};
  for (const [table, rows] of fromDump) counts[tableKey(table)] = rows ?? (await countTable(session, table.schema, table.name));
  return counts;
}

/** Exact row counts of every user table (temporary ones left out: see USER_TABLES), keyed "schema.table". */
export async function countRows(client: Client): Promise<Record<string, number>> {
  const tables = await client.query<{ schema: string; name: string }>(`SELECT n.nspname AS schema, c.relname AS name ${USER_TABLES} ORDER BY 1, 2`);
  const counts: Record<string, number> = {};
  for (const t of tables.rows) counts[tableKey(t)] = await countTable(client, t.schema, t.name);
  return counts;
}

async function countTable(client: Client, schema: string, name: string): Promise<number> {
  const sql = `SELECT count(*)::text AS n FROM ${client.escapeIdentifier(schema)}.${client.escapeIdentifier(name)}`;
  return Number((await client.query<{ n: string }>(sql)).rows[0].n);
}
