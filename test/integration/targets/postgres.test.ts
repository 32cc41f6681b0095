import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { listSnapshots, restoreStream } from '../../../engine';
import { backupPostgres, restorePostgres, verifyPostgresRestore, type PostgresMeta } from '../../../engine/targets';
import { countRows, readCatalog } from '../../../engine/targets/postgres/backup';
import { CopyRowCounter, rowCountsFrom, tableKey } from '../../../engine/targets/postgres/copyRows';
import { childEnv, findPgTool } from '../../../engine/targets';
import { backends, localBackend, newRepository, PASSPHRASE } from '../../support/backends';
import { runCli } from '../../support/cli';
import { contentFingerprint, databaseExists, fillDatabase, pgConnection, recreateDatabase, schemaOf, withClient } from '../../support/postgres';

const unique = (base: string): string => `${base}_${randomBytes(3).toString('hex')}`;

describe.each(backends)('postgres target on $name storage', (backend) => {
  it.each(['plain', 'custom'] as const)('restores a database under a new name with equal schema and data (%s format)', async (format) => {
    const { repo } = await newRepository(backend);
    const db = unique('shop');
    await recreateDatabase(db);
    await fillDatabase(db);
    const conn = pgConnection();
    const ref = await backupPostgres(repo, conn, { databases: [db], format });
    const meta = ref.snapshot.meta as unknown as PostgresMeta;
    expect(meta.databases.map((d) => d.name)).toEqual([db]);
    expect(meta.format).toBe(format);
    expect(meta.databases[0].rowCounts['public.orders']).toBe(6000);
    expect(meta.databases[0].rowCounts['Billing Dept.Invoices "2026"']).toBe(50);
    expect(meta.globals).toBe('globals.sql');
    expect(meta.serverVersionNum).toBeGreaterThan(100000);

    const copy = unique('shop_copy');
    const restored = await restorePostgres(repo, ref, conn, { as: copy });
    expect(restored).toEqual([{ from: db, to: copy, tables: 3 }]); // customers, orders, invoices (the view is no table)
    expect(await contentFingerprint(copy)).toEqual(await contentFingerprint(db));
    expect(schemaOf(copy)).toEqual(schemaOf(db));
  });

  it('takes row counts in the same snapshot as the dump, under concurrent writes', async () => {
    const { repo } = await newRepository(backend);
    const db = unique('busy');
    await recreateDatabase(db);
    await fillDatabase(db, 5000);
    let writing = true;
    let inserted = 0;
    const writer = withClient(db, async (c) => {
      while (writing) {
        await c.query(`INSERT INTO orders (customer, total, note, placed) SELECT 1, 1, 'concurrent', now() FROM generate_series(1, 50)`);
        await c.query('UPDATE customers SET profile = profile || \'{"touched": true}\' WHERE id = (random() * 4000)::int + 1');
        inserted += 50;
      }
    });
    const ref = await backupPostgres(repo, pgConnection(), { databases: [db], globals: false });
    writing = false;
    await writer;
    expect(inserted).toBeGreaterThan(0);
    const [result] = await verifyPostgresRestore(repo, ref, pgConnection());
    expect(result.mismatches).toEqual([]);
    expect(result.ok).toBe(true);
    const counted = (ref.snapshot.meta as unknown as PostgresMeta).databases[0].rowCounts['public.orders'];
    expect(counted).toBeGreaterThanOrEqual(15000);
  });

  it("backs up while another session holds a temporary table, which it leaves out, as pg_dump does", async () => {
    const { repo } = await newRepository(backend);
    const db = unique('tempheld');
    await recreateDatabase(db);
    await fillDatabase(db, 100);
    const ref = await withClient(db, async (c) => {
      await c.query('CREATE TEMP TABLE scratch (n int)');
      await c.query('INSERT INTO scratch SELECT generate_series(1, 10)');
      return backupPostgres(repo, pgConnection(), { databases: [db], globals: false });
    });
    const counts = (ref.snapshot.meta as unknown as PostgresMeta).databases[0].rowCounts;
    expect(Object.keys(counts).filter((t) => t.startsWith('pg_temp'))).toEqual([]);
    expect(counts['public.customers']).toBe(100);
    const [result] = await verifyPostgresRestore(repo, ref, pgConnection());
    expect(result.ok).toBe(true);
  });

  it('adds little on a second backup after a small change', async () => {
    const { repo } = await newRepository(backend);
    const db = unique('grow');
    await recreateDatabase(db);
    // ~27 MB of dump: large enough that the fixed cost of a change (a few ~1 MiB chunks) is small
    await fillDatabase(db, 50_000);
    const conn = pgConnection();
    const first = await backupPostgres(repo, conn, { databases: [db], globals: false });
    // 1 % of the rows, the most recent ones: where updates concentrate in most applications
    await withClient(db, (c) => c.query("UPDATE customers SET email = email || '.changed' WHERE id > 49500"));
    const second = await backupPostgres(repo, conn, { databases: [db], globals: false });
    expect(first.snapshot.stats.bytesAdded).toBeGreaterThan(25_000_000);
    // Without dedup this would be 100 %. At 27 MB a change still costs a few whole ~1 MiB chunks (the
    // changed rows, and the random \restrict token pg_dump >= 15.14 writes atop every plain dump);
    // the 10 % budget at 300 MB is measured by bench/postgres (1.9 % there).
    expect(second.snapshot.stats.bytesAdded).toBeLessThan(first.snapshot.stats.bytesAdded * 0.4);
  });

  it('refuses to overwrite without --force, and replaces only once the new copy is fully loaded', async () => {
    const { repo } = await newRepository(backend);
    const db = unique('app');
    await recreateDatabase(db);
    await fillDatabase(db, 500);
    const conn = pgConnection();
    const first = await backupPostgres(repo, conn, { databases: [db], globals: false });
    await withClient(db, (c) => c.query("DELETE FROM orders WHERE id % 2 = 0; UPDATE customers SET email = email || '.old' WHERE id < 5"));
    const before = await contentFingerprint(db);
    await expect(restorePostgres(repo, first, conn)).rejects.toThrow(/already exists.*\(--as\).*\(--force\)/);
    expect(await contentFingerprint(db)).toEqual(before); // untouched

    await restorePostgres(repo, first, conn, { force: true });
    expect((await contentFingerprint(db))['public.orders']).toMatch(/^1500:/);
    const leftovers = await withClient('postgres', async (c) => (await c.query("SELECT datname FROM pg_database WHERE datname LIKE '%dbm_restore%'")).rows);
    expect(leftovers).toEqual([]);
  });

  it('dumps several databases at once, and lists them in the order asked', async () => {
    const { repo } = await newRepository(backend);
    const dbs = [unique('par_c'), unique('par_a'), unique('par_b')];
    for (const [i, db] of dbs.entries()) {
      await recreateDatabase(db);
      await fillDatabase(db, 500 * (3 - i)); // the first is the largest: it ends last
    }
    const conn = pgConnection();
    const ref = await backupPostgres(repo, conn, { databases: dbs, globals: false, concurrency: 3 });
    const meta = ref.snapshot.meta as unknown as PostgresMeta;
    expect(meta.databases.map((d) => d.name)).toEqual(dbs);
    for (const db of dbs) {
      const copy = `${db}_copy`;
      await restorePostgres(repo, ref, conn, { as: copy, databases: [db] });
      expect(await contentFingerprint(copy)).toEqual(await contentFingerprint(db));
    }
  });

  it('stops the other dumps when one fails, and commits nothing', async () => {
    const { repo } = await newRepository(backend);
    const big = unique('par_big');
    const locked = unique('par_locked');
    const role = unique('dumper');
    await recreateDatabase(big);
    await fillDatabase(big, 50_000);
    await recreateDatabase(locked);
    await withClient(locked, (c) => c.query(`CREATE TABLE secret (v text); CREATE ROLE ${role} LOGIN PASSWORD 'dumper-pw'`));
    try {
      await withClient(big, (c) => c.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}; GRANT USAGE ON SCHEMA public TO ${role}`));
      // pg_dump of `locked` fails at once (permission denied for table secret) while `big` is being read
      const conn = { ...pgConnection(), user: role, password: 'dumper-pw' };
      await expect(backupPostgres(repo, conn, { databases: [big, locked], globals: false, concurrency: 2 })).rejects.toThrow(/permission denied|secret/);
      expect(await listSnapshots(repo)).toEqual([]);
      // the other pg_dump was stopped, not left to run on: its session goes (a wait, not a timing)
      // (pg_dump's session is named data-backup-manager, as ours are: PGAPPNAME; all of the role's must go)
      const dumping = async () => withClient('postgres', async (c) => (await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [role])).rows[0].n as number);
      for (let i = 0; i < 100 && (await dumping()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await dumping()).toBe(0);
    } finally {
      await withClient('postgres', (c) => c.query(`DROP OWNED BY ${role} CASCADE`).catch(() => undefined));
      for (const db of [big, locked]) await withClient(db, (c) => c.query(`DROP OWNED BY ${role} CASCADE`).catch(() => undefined));
      await withClient('postgres', (c) => c.query(`DROP ROLE IF EXISTS ${role}`));
    }
  });

  it('handles database names with quotes, spaces, a leading dash and unicode', async () => {
    const { repo } = await newRepository(backend);
    const db = `-x "quoted" ünï ${randomBytes(2).toString('hex')}`;
    await recreateDatabase(db);
    await withClient(db, (c) => c.query('CREATE TABLE t (v text); INSERT INTO t VALUES ($$a$$), ($$b$$)'));
    const conn = pgConnection();
    const ref = await backupPostgres(repo, conn, { databases: [db], globals: false });
    const copy = `${db} copy`;
    await restorePostgres(repo, ref, conn, { as: copy });
    expect(await contentFingerprint(copy)).toEqual(await contentFingerprint(db));
  });
});

describe('postgres target: row counts of a plain dump', () => {
  /** Partitions, inheritance, a table without columns, odd names, rows that look like a block's end, and another session's temporary table. */
  async function familyDatabase(db: string): Promise<void> {
    await recreateDatabase(db);
    await fillDatabase(db, 200);
    await withClient(db, (c) =>
      c.query(`
        CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
        CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        INSERT INTO events SELECT i, date '2025-06-01' + (i % 400) FROM generate_series(1, 1000) i;
        CREATE TABLE animals (name text);
        CREATE TABLE cats (lives int) INHERITS (animals);
        INSERT INTO animals VALUES ('dog'), ('cow');
        INSERT INTO cats VALUES ('tom', 9), ('felix', 7), (E'\\.', 1), (E'line\none', 3);
        CREATE TABLE nocolumns ();
        INSERT INTO nocolumns DEFAULT VALUES; INSERT INTO nocolumns DEFAULT VALUES;
        CREATE TABLE "we""ird.Name" ("a b" text);
        INSERT INTO "we""ird.Name" VALUES (NULL), (''), ('\\');
      `),
    );
  }

  it('reads them off the dump itself, and they are what count(*) says', async () => {
    const db = unique('family');
    await familyDatabase(db);
    const conn = pgConnection();
    const expected = await withClient(db, (c) => countRows(c));
    expect(expected).toMatchObject({ 'public.events': 1000, 'public.animals': 6, 'public.cats': 4, 'public.nocolumns': 2, 'public.we"ird.Name': 3 });
    // a real pg_dump's output, through the counter, checked against the catalog: nothing left to SQL
    const pgDump = findPgTool('pg_dump', 10);
    const dump = spawnSync(pgDump.path, ['--format=plain', '--no-password'], { env: childEnv(conn, db), maxBuffer: 64 * 1024 * 1024 });
    expect(dump.status, dump.stderr.toString()).toBe(0);
    const counter = new CopyRowCounter();
    for (let at = 0; at < dump.stdout.length; at += 4099) counter.push(dump.stdout.subarray(at, at + 4099));
    const catalog = await withClient(db, (c) => readCatalog(c));
    const fromDump = rowCountsFrom(counter.end()!, catalog.tables, catalog.inherits);
    expect(fromDump && Object.fromEntries([...fromDump].map(([t, n]) => [tableKey(t), n]))).toEqual(expected);

    // and a backup records them, in the same order, while a temporary table of another session is about
    const { repo } = await newRepository(localBackend);
    const ref = await withClient(db, async (c) => {
      await c.query('CREATE TEMP TABLE scratch (n int)');
      return backupPostgres(repo, conn, { databases: [db], globals: false, format: 'plain' });
    });
    const counts = (ref.snapshot.meta as unknown as PostgresMeta).databases[0].rowCounts;
    expect(Object.entries(counts)).toEqual(Object.entries(expected));
    const [result] = await verifyPostgresRestore(repo, ref, conn);
    expect(result.mismatches).toEqual([]);
  });

  it('counts with SQL instead when the dump holds something that only looks like a block', async () => {
    const db = unique('forged');
    await familyDatabase(db);
    // a function whose body holds what looks like orders' block, with one row: the dump then names orders twice
    await withClient(db, (c) => c.query(`CREATE FUNCTION forged() RETURNS text LANGUAGE sql AS $body$SELECT $q$
COPY public.orders (id) FROM stdin;
1
\\.
$q$::text$body$`));
    const dump = spawnSync(findPgTool('pg_dump', 10).path, ['--format=plain', '--no-password'], { env: childEnv(pgConnection(), db), maxBuffer: 64 * 1024 * 1024 });
    expect(dump.stdout.toString()).toMatch(/\nCOPY public\.orders \(id\) FROM stdin;\n1\n\\\.\n/); // the test tests something
    const { repo } = await newRepository(localBackend);
    const ref = await backupPostgres(repo, pgConnection(), { databases: [db], globals: false, format: 'plain' });
    const counts = (ref.snapshot.meta as unknown as PostgresMeta).databases[0].rowCounts;
    expect(counts).toEqual(await withClient(db, (c) => countRows(c)));
    expect(counts['public.orders']).toBe(600);
  });
});

describe('postgres target: what it asks of databases it does not dump', () => {
  it('backs up a database while another is closed to its role: no size is asked of a database not dumped', async () => {
    const { repo } = await newRepository(localBackend);
    const db = unique('open');
    const closed = unique('closed');
    const role = unique('reader');
    await recreateDatabase(db);
    await fillDatabase(db, 100);
    await recreateDatabase(closed);
    // pg_database_size needs CONNECT on the database: sizing every database failed this backup ("permission denied for database")
    await withClient('postgres', (c) => c.query(`REVOKE CONNECT ON DATABASE ${closed} FROM PUBLIC; CREATE ROLE ${role} LOGIN PASSWORD 'reader-pw'; GRANT pg_read_all_data TO ${role}`));
    try {
      const ref = await backupPostgres(repo, { ...pgConnection(), user: role, password: 'reader-pw' }, { databases: [db], globals: false });
      const meta = ref.snapshot.meta as unknown as PostgresMeta;
      expect(meta.databases.map((d) => d.name)).toEqual([db]);
      expect(meta.databases[0].sizeBytes).toBeGreaterThan(0);
      expect(meta.databases[0].rowCounts['public.customers']).toBe(100);
    } finally {
      await withClient('postgres', async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${closed}`);
        await c.query(`DROP ROLE IF EXISTS ${role}`);
      });
    }
  });
});

describe('postgres target: the discovery connection, kept for the first dump', () => {
  const ours = (db: string) =>
    withClient('postgres', async (c) => (await c.query<{ pid: number; state: string }>("SELECT pid, state FROM pg_stat_activity WHERE datname = $1 AND application_name = 'data-backup-manager'", [db])).rows);

  it('is replaced when the server ended it while the repository was opening, and closed when the repository does not open', async () => {
    const db = unique('spare');
    await recreateDatabase(db);
    await fillDatabase(db, 100);
    const { repo } = await newRepository(localBackend);
    // a repository still opening, which says when the backup starts to wait for it: its discovery is over then
    let waiting!: () => void;
    const discovered = new Promise<void>((r) => (waiting = r));
    class Opening<T> extends Promise<T> {
      override then<A = T, B = never>(onFulfilled?: ((v: T) => A | PromiseLike<A>) | null, onRejected?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
        if (onFulfilled) waiting(); // `await` (a `.catch` passes none)
        return super.then(onFulfilled, onRejected);
      }
    }
    let release!: (r: typeof repo) => void;
    // a backup that may wait for the repository's lock: its dump waits for the repository (see the next block)
    const backing = backupPostgres(new Opening<typeof repo>((r) => (release = r)), pgConnection(), { databases: [db], globals: false, lockWaitMs: 60_000 });
    await discovered;
    // the discovery connection waits, idle, in the database: ended as an idle-session timeout would end it
    const idle = (await ours(db)).filter((r) => r.state === 'idle');
    expect(idle).toHaveLength(1);
    await withClient('postgres', (c) => c.query('SELECT pg_terminate_backend($1)', [idle[0].pid]));
    release(repo);
    const ref = await backing;
    expect((ref.snapshot.meta as unknown as PostgresMeta).databases[0].rowCounts['public.customers']).toBe(100);

    // a repository that does not open: nothing is dumped, and the connection it kept goes
    await expect(backupPostgres(Promise.reject(new Error('no such repository')), pgConnection(), { databases: [db], globals: false, lockWaitMs: 60_000 })).rejects.toThrow('no such repository');
    expect(await settledSessions(db)).toEqual([]);
  });
});

/** Our sessions in `db` (pg_dump's among them: it runs as data-backup-manager too), once they have had a few seconds to go. */
async function settledSessions(db: string): Promise<{ state: string }[]> {
  const sessions = () =>
    withClient('postgres', async (c) => (await c.query<{ state: string }>("SELECT state FROM pg_stat_activity WHERE datname = $1 AND application_name = 'data-backup-manager'", [db])).rows);
  let left = await sessions();
  for (let i = 0; i < 100 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    left = await sessions();
  }
  return left;
}

describe('postgres target: dumps started while the repository opens', () => {
  /** The dump's session has exported its snapshot (pg_dump starts next, in the same step), or pg_dump reads. Both run as data-backup-manager. */
  const dumpOpened = async (db: string): Promise<boolean> =>
    withClient('postgres', async (c) => {
      const sql = "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'data-backup-manager' AND (state = 'idle in transaction' OR query LIKE 'COPY %')";
      return (await c.query(sql, [db])).rowCount! > 0;
    });
  async function until(what: () => Promise<boolean>, ms: number): Promise<boolean> {
    for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (await what()) return true;
    return what();
  }
  /** A repository that opens when the test says. */
  function opening<T>(): { promise: Promise<T>; open(value: T): void } {
    let open!: (value: T) => void;
    return { promise: new Promise<T>((r) => (open = r)), open: (value) => open(value) };
  }

  it('runs pg_dump before the repository is open, and stores a dump that ended before it was read whole', async () => {
    const db = unique('early');
    await recreateDatabase(db);
    await fillDatabase(db, 300);
    const { repo } = await newRepository(localBackend);
    const repository = opening<typeof repo>();
    let dumping = 0;
    const backing = backupPostgres(repository.promise, pgConnection(), { databases: [db], onDumping: () => dumping++ });
    backing.catch(() => undefined);
    // the database's dump starts while the repository is still to come, and the caller hears of it (the CLI boots its workers then)
    expect(await until(() => dumpOpened(db), 15_000)).toBe(true);
    expect(dumping).toBe(1);
    // pg_dumpall --globals-only (~0.1 s) has long exited by now, its output unread: it must not be lost
    await new Promise((r) => setTimeout(r, 1500));
    repository.open(repo);
    const ref = await backing;
    const meta = ref.snapshot.meta as unknown as PostgresMeta;
    expect(meta.databases[0].rowCounts['public.customers']).toBe(300);
    const globals = new PassThrough();
    const parts: Buffer[] = [];
    globals.on('data', (b: Buffer) => parts.push(b));
    await restoreStream(repo, ref, 'globals.sql', globals);
    expect(Buffer.concat(parts).toString()).toMatch(/CREATE ROLE postgres;/);
    const [verified] = await verifyPostgresRestore(repo, ref, pgConnection());
    expect(verified.ok).toBe(true);
    expect(dumping).toBe(1);
  });

  it('stops the dumps it started when the repository does not open: no pg_dump, no session left', async () => {
    const db = unique('early_fail');
    await recreateDatabase(db);
    await fillDatabase(db, 20_000); // more than a pipe holds: pg_dump is still writing when it is stopped
    let fail!: (err: Error) => void;
    const failing = new Promise<never>((_, reject) => (fail = reject));
    const backing = backupPostgres(failing, pgConnection(), { databases: [db], globals: false });
    backing.catch(() => undefined);
    expect(await until(() => dumpOpened(db), 15_000)).toBe(true);
    fail(new Error('wrong passphrase'));
    await expect(backing).rejects.toThrow('wrong passphrase');
    expect(await settledSessions(db)).toEqual([]);
  });

  it('waits for the repository before pg_dump when the backup may wait for its lock', async () => {
    const db = unique('early_wait');
    await recreateDatabase(db);
    await fillDatabase(db, 300);
    const { repo } = await newRepository(localBackend);
    const repository = opening<typeof repo>();
    let dumping = 0;
    const backing = backupPostgres(repository.promise, pgConnection(), { databases: [db], globals: false, lockWaitMs: 60_000, onDumping: () => dumping++ });
    backing.catch(() => undefined);
    expect(await until(() => dumpOpened(db), 2000)).toBe(false);
    // no dump to wait for: the caller's work (the CLI's workers) goes ahead
    expect(dumping).toBe(1);
    repository.open(repo);
    const ref = await backing;
    expect(dumping).toBe(1);
    expect((ref.snapshot.meta as unknown as PostgresMeta).databases[0].rowCounts['public.customers']).toBe(300);
  });
});

describe('postgres target: the database itself', () => {
  /** A database with everything pg_dump without --create leaves out; its pg_dump --create is what a restore must give back. */
  async function peculiarDatabase(db: string, roles: { owner: string; reader: string }, provider: 'libc' | 'icu'): Promise<void> {
    await withClient('postgres', async (c) => {
      for (const r of [roles.owner, roles.reader]) await c.query(`CREATE ROLE ${r} LOGIN`);
      const locale = provider === 'icu' ? `ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'de-DE' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'` : `ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'`;
      await c.query(`CREATE DATABASE ${db} OWNER ${roles.owner} TEMPLATE template0 ${locale} CONNECTION LIMIT 7`);
      await c.query(`COMMENT ON DATABASE ${db} IS 'the shop''s data'`);
      await c.query(`ALTER DATABASE ${db} SET work_mem TO '8MB'`);
      await c.query(`ALTER DATABASE ${db} SET search_path TO "$user", public, "Odd, Schema"`);
      await c.query(`ALTER ROLE ${roles.reader} IN DATABASE ${db} SET statement_timeout TO '5s'`);
      await c.query(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
      await c.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${db} TO ${roles.reader}`);
      await c.query(`GRANT CREATE ON DATABASE ${db} TO ${roles.reader} WITH GRANT OPTION`);
    });
    if (provider === 'icu') await fillDatabase(db, 100);
    else await withClient(db, (c) => c.query(`CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT i, 'café ünïcode ' || i FROM generate_series(1, 100) i`)); // LATIN1 has no ✓
  }

  it.each(['libc', 'icu'] as const)('keeps owner, encoding, locale (%s), comment, settings, per-role settings and grants, under a new name and over the original', async (provider) => {
    if (provider === 'icu') {
      const icu = await withClient('postgres', async (c) => (await c.query("SELECT 1 FROM pg_collation WHERE collprovider = 'i' LIMIT 1")).rowCount === 1);
      expect(icu, 'this PostgreSQL is built without ICU').toBe(true);
    }
    const { repo } = await newRepository(localBackend);
    const db = unique('props');
    await peculiarDatabase(db, { owner: unique('alice'), reader: unique('bob') }, provider);
    const before = schemaOf(db, { create: true });
    expect(before).toMatch(/COMMENT ON DATABASE .* IS 'the shop''s data'/); // the comparison below compares something
    const conn = pgConnection();
    const ref = await backupPostgres(repo, conn, { databases: [db] });

    const copy = unique('props_copy');
    await restorePostgres(repo, ref, conn, { as: copy });
    expect(schemaOf(copy, { create: true }).replaceAll(copy, db)).toEqual(before);

    await restorePostgres(repo, ref, conn, { databases: [db], force: true });
    expect(schemaOf(db, { create: true })).toEqual(before);
  });

  it('refuses, before writing anything, a database whose owner is missing, unless told whom to give it', async () => {
    const { repo } = await newRepository(localBackend);
    const db = unique('orphan');
    const owner = unique('carol');
    await peculiarDatabase(db, { owner, reader: unique('dan') }, 'libc');
    const conn = pgConnection();
    const ref = await backupPostgres(repo, conn, { databases: [db] });
    await withClient('postgres', async (c) => {
      await c.query(`ALTER DATABASE ${db} OWNER TO postgres`);
      await c.query(`DROP ROLE ${owner}`);
    });
    const copy = unique('orphan_copy');
    await expect(restorePostgres(repo, ref, conn, { as: copy })).rejects.toThrow(new RegExp(`names roles that do not exist on .*: ${owner} \\(${owner} owns it\\); restore the globals too \\(--globals\\), create them, or choose another owner \\(--db-owner\\)`));
    expect(await databaseExists(copy)).toBe(false);
    await restorePostgres(repo, ref, conn, { as: copy, owner: 'postgres' });
    const restoredOwner = await withClient('postgres', async (c) => (await c.query<{ o: string }>('SELECT pg_get_userbyid(datdba) AS o FROM pg_database WHERE datname = $1', [copy])).rows[0].o);
    expect(restoredOwner).toBe('postgres');
    expect(await contentFingerprint(copy)).toEqual(await contentFingerprint(db));
  });
});

describe('postgres target: bad input', () => {
  it('names a missing database, a wrong password and an unreachable server, and writes no snapshot', async () => {
    const { repo } = await newRepository(backends[0]);
    const conn = pgConnection();
    await expect(backupPostgres(repo, conn, { databases: ['no_such_db'] })).rejects.toThrow(`database "no_such_db" does not exist on PostgreSQL at ${conn.host}:${conn.port}`);
    await expect(backupPostgres(repo, { ...conn, password: 'wrong' })).rejects.toThrow('password authentication failed for user "postgres"');
    await expect(backupPostgres(repo, { ...conn, port: 1 })).rejects.toThrow('cannot connect to PostgreSQL at 127.0.0.1:1: connection refused');
    expect(await listSnapshots(repo)).toEqual([]);
  });
});

describe('postgres through the repo CLI', () => {
  it('backs up, restores under a new name and runs a restore test, with the password only in the environment', async () => {
    const { loc } = await newRepository(backends[1]);
    const db = unique('cli');
    await recreateDatabase(db);
    await fillDatabase(db, 300);
    const conn = pgConnection();
    const url = `postgresql://${conn.user}@${conn.host}:${conn.port}/postgres`; process.env.DIAG_PG = `postgresql://postgres:${conn.password}@${conn.host}:${conn.port}/postgres`;
    const env = { ...loc.env, DBM_PASSPHRASE: PASSPHRASE, PGPASSWORD: conn.password! };
    const backup = await runCli(['repo', 'backup', '--postgres', url, '--database', db, '--json'], env);
    expect(backup.stderr).toBe('');
    expect(JSON.parse(backup.stdout)).toMatchObject({ target: 'postgres', files: 2 });

    const copy = unique('cli_copy');
    const restore = await runCli(['repo', 'restore', 'latest', '--from', 'postgres', '--postgres', url, '--database', db, '--as', copy], env);
    expect(restore.stdout).toBe(`restored database ${db} as ${copy} (3 tables)\n`);
    expect(await contentFingerprint(copy)).toEqual(await contentFingerprint(db));

    const again = await runCli(['repo', 'restore', 'latest', '--postgres', url, '--database', db], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);

    // --test: the restore test alone, into a scratch database that is dropped
    const test = await runCli(['repo', 'restore', 'latest', '--postgres', url, '--test', '--json'], env);
    expect(test.code).toBe(0);
    expect(JSON.parse(test.stdout).tested[0]).toMatchObject({ database: db, ok: true, tables: 3 });
    expect(await databaseExists(`dbm_verify_x`)).toBe(false);
    expect((await runCli(['repo', 'restore', 'latest', '--postgres', url, '--test', '--as', 'x'], env)).code).toBe(2);

    // --verify restores, then checks what it restored: the database is there (it used to print ok and create nothing)
    const dr = unique('cli_dr');
    const verify = await runCli(['repo', 'restore', 'latest', '--postgres', url, '--database', db, '--as', dr, '--verify'], env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^restored database ${db} as ${dr} \\(3 tables\\)\n`));
    expect(verify.stdout).toMatch(new RegExp(`^${dr} +ok +3 +\\d+`, 'm'));
    expect(await contentFingerprint(dr)).toEqual(await contentFingerprint(db));

    const wrong = await runCli(['repo', 'backup', '--postgres', url], { ...env, PGPASSWORD: 'nope' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe(`error: PostgreSQL at ${conn.host}:${conn.port}: password authentication failed for user "postgres"\n`);
  });
});
