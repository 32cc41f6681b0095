/**
 * PostgreSQL target benchmark (issue: backup targets), side by side in one
 * run with plain `pg_dump -Fc -f FILE` and `pg_restore`, on a database of
 * about 300 MB with realistic data (text, JSON, numbers, timestamps, indexes).
 * Also: bytes added by a second backup after updating ~1 % of rows, for hot
 * rows (the most recent ones) and for rows scattered over whole tables; both
 * dump formats (and custom in a repository made with `--compression fast`);
 * and a second files backup of an unchanged 256 MiB tree.
 * Backups and restores are timed over a few rounds in alternation with the
 * anchor; the tables show medians. Prints Markdown tables; asserts nothing.
 *
 *   npm run bench:postgres [-- --rounds 3 --dir /tmp/dbm-bench-pg --rows 600000]
 */
import { installedCommand } from './installedCommand';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { PostgresCluster, psqlAsync } from '../stack/postgresCluster';
import { generateTree } from './tree';
import { option } from './option';

const WORK = path.resolve(option('dir', '/tmp/dbm-bench-pg'));
const ROWS = Number(option('rows', '600000'));
const ROUNDS = Number(option('rounds', '3'));
const PASSWORD = 'bench-pg-password';

function time(cmd: string, argv: string[], env: NodeJS.ProcessEnv = {}): { seconds: number; stdout: string } {
  const started = process.hrtime.bigint();
  const res = spawnSync(cmd, argv, { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (res.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${res.status}): ${res.stderr}`);
  return { seconds, stdout: res.stdout };
}

function duBytes(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.size;
  return readdirSync(p).reduce((sum, name) => sum + duBytes(path.join(p, name)), 0);
}

/** A dump's own pace: its output thrown away as it comes. */
function timeToDevNull(cmd: string, argv: string[], env: NodeJS.ProcessEnv): number {
  const started = process.hrtime.bigint();
  const devNull = openSync('/dev/null', 'w');
  try {
    const res = spawnSync(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', devNull, 'pipe'], encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${res.status}): ${res.stderr}`);
  } finally {
    closeSync(devNull);
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
const s = (n: number): string => `${n.toFixed(2)} s`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function makeDatabase(cluster: PostgresCluster, name = 'bench', rows = ROWS): Promise<void> {
  await psqlAsync(cluster, 'postgres', `DROP DATABASE IF EXISTS ${name}; CREATE DATABASE ${name};`);
  await psqlAsync(
    cluster,
    name,
    `
    CREATE TABLE customers (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, name text, profile jsonb, created timestamptz);
    CREATE TABLE orders (id bigserial PRIMARY KEY, customer bigint REFERENCES customers(id), status text, total numeric(12,2),
                         items jsonb, note text, placed timestamptz);
    CREATE TABLE events (id bigserial PRIMARY KEY, kind text, payload jsonb, at timestamptz);
    INSERT INTO customers (email, name, profile, created)
      SELECT 'user' || i || '@example.com', initcap(md5(i::text)),
             jsonb_build_object('city', (ARRAY['Berlin','Lisbon','Osaka','Lima','Oslo'])[1 + i % 5], 'score', random() * 100,
                                'tags', jsonb_build_array(md5((i * 7)::text), i % 13)),
             timestamptz '2024-01-01' + (i || ' minutes')::interval
      FROM generate_series(1, ${Math.round(rows / 4)}) i;
    INSERT INTO orders (customer, status, total, items, note, placed)
      SELECT 1 + (random() * ${Math.round(rows / 4) - 1})::bigint, (ARRAY['new','paid','shipped','returned'])[1 + i % 4],
             round((random() * 1000)::numeric, 2),
             jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (i % 5000), 'qty', 1 + i % 4, 'price', round((random() * 100)::numeric, 2))),
             CASE WHEN i % 3 = 0 THEN md5(random()::text) || ' ' || md5(random()::text) END,
             timestamptz '2024-01-01' + (i || ' seconds')::interval
      FROM generate_series(1, ${rows}) i;
    INSERT INTO events (kind, payload, at)
      SELECT (ARRAY['login','view','click','purchase'])[1 + i % 4],
             jsonb_build_object('session', md5(i::text), 'path', '/p/' || (i % 977), 'ms', (random() * 900)::int),
             timestamptz '2024-01-01' + (i || ' seconds')::interval
      FROM generate_series(1, ${rows}) i;
    CREATE INDEX orders_customer ON orders (customer);
    CREATE INDEX orders_placed ON orders (placed);
    CREATE INDEX events_kind_at ON events (kind, at);
    VACUUM ANALYZE;
  `,
  );
}

async function main(): Promise<void> {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  chmodSync(WORK, 0o755);
  const cluster = new PostgresCluster({ dataDir: path.join(WORK, 'pgdata'), port: 55999, password: PASSWORD, unsafeFast: true });
  cluster.start(['-c shared_buffers=256MB', '-c max_wal_size=4GB']);
  try {
    console.error('creating the database …');
    await makeDatabase(cluster);
    const size = Number((await psqlAsync(cluster, 'postgres', "SELECT pg_database_size('bench')")).trim());
    const pgEnv = { PGHOST: '127.0.0.1', PGPORT: '55999', PGUSER: 'postgres', PGPASSWORD: PASSWORD };
    const url = 'postgresql://postgres@127.0.0.1:55999/postgres';
    const bin = cluster.binDir;
    const dumpFile = path.join(WORK, 'bench.dump');

    // Rounds in alternation (anchor, bare dump, ours in each format), medians: one timing of each
    // swings by a second or more on a shared machine, and every ratio hangs on the anchor's.
    const anchorDumps: number[] = [];
    const bareDumps: number[] = [];
    const anchorRestores: number[] = [];
    // our variants: each format at the default compression, and custom at `repo init --compression fast`
    const variants = { custom: { format: 'custom', init: [] }, plain: { format: 'plain', init: [] }, 'custom-fast': { format: 'custom', init: ['--compression', 'fast'] } } as const;
    type Variant = keyof typeof variants;
    const ours = Object.fromEntries(Object.keys(variants).map((v) => [v, { backup: [] as number[], restore: [] as number[], stored: 0 }])) as Record<Variant, { backup: number[]; restore: number[]; stored: number }>;
    const repoOf = (variant: string): string => path.join(WORK, `repo-${variant}`);
    const envOf = (variant: string) => ({ ...pgEnv, DBM_PASSPHRASE: 'bench', DBM_REPOSITORY: repoOf(variant) });
    const backupArgs = (variant: Variant): string[] => ['repo', 'backup', '--postgres', url, '--database', 'bench', '--no-globals', '--pg-format', variants[variant].format];
    for (let round = 1; round <= ROUNDS; round++) {
      console.error(`round ${round} of ${ROUNDS} …`);
      anchorDumps.push(time(path.join(bin, 'pg_dump'), ['-Fc', '-f', dumpFile, 'bench'], pgEnv).seconds);
      bareDumps.push(timeToDevNull(path.join(bin, 'pg_dump'), ['-Fp', 'bench'], pgEnv));
      await psqlAsync(cluster, 'postgres', 'DROP DATABASE IF EXISTS anchor_restore; CREATE DATABASE anchor_restore TEMPLATE template0;');
      anchorRestores.push(time(path.join(bin, 'pg_restore'), ['-d', 'anchor_restore', '--single-transaction', dumpFile], pgEnv).seconds);
      for (const variant of Object.keys(variants) as Variant[]) {
        const restored = `restored_${variant.replace('-', '_')}`;
        rmSync(repoOf(variant), { recursive: true, force: true });
        time(...installedCommand('repo', 'init', ...variants[variant].init), envOf(variant));
        ours[variant].backup.push(time(...installedCommand(...backupArgs(variant)), envOf(variant)).seconds);
        ours[variant].stored = duBytes(repoOf(variant));
        ours[variant].restore.push(time(...installedCommand('repo', 'restore', 'latest', '--postgres', url, '--as', restored), envOf(variant)).seconds);
        await psqlAsync(cluster, 'postgres', `DROP DATABASE IF EXISTS ${restored}`);
      }
    }
    const pgDump = median(anchorDumps);
    const bareDump = median(bareDumps);
    const pgRestore = median(anchorRestores);

    // dedup, once, on the last round's repositories (the updates leave dead rows behind: after the timings)
    const dedup: string[][] = [];
    for (const format of ['custom', 'plain'] as const) {
      // A backup of the table as it is now first: the previous format's updates (and putting its rows
      // back) moved rows, which is not this format's 1 %.
      time(...installedCommand(...backupArgs(format)), envOf(format));
      const base = duBytes(repoOf(format));
      const stored = ours[format].stored;
      // hot rows: the most recent 1 % of orders change status
      await psqlAsync(cluster, 'bench', `UPDATE orders SET status = 'refunded' WHERE id > ${ROWS - ROWS / 100}`);
      time(...installedCommand(...backupArgs(format)), envOf(format));
      const afterHot = duBytes(repoOf(format));
      // scattered: 1 % of rows spread over the whole table
      await psqlAsync(cluster, 'bench', "UPDATE orders SET status = 'audited' WHERE id % 100 = 7");
      time(...installedCommand(...backupArgs(format)), envOf(format));
      const afterScattered = duBytes(repoOf(format));
      dedup.push([format, mb(afterHot - base), `${((100 * (afterHot - base)) / stored).toFixed(1)} %`, mb(afterScattered - afterHot), `${((100 * (afterScattered - afterHot)) / stored).toFixed(1)} %`]);
      // put the rows back for the next format
      await psqlAsync(cluster, 'bench', `UPDATE orders SET status = 'shipped' WHERE status IN ('refunded', 'audited')`);
    }

    // several databases of one server: one after another, and two at a time (random values make each differ, so they do not dedup)
    const many = ['multi_1', 'multi_2', 'multi_3', 'multi_4'];
    console.error('creating four smaller databases …');
    for (const db of many) await makeDatabase(cluster, db, Math.round(ROWS / 4));
    const manySize = Number((await psqlAsync(cluster, 'postgres', `SELECT sum(pg_database_size(datname)) FROM pg_database WHERE datname LIKE 'multi_%'`)).trim());
    // rounds in alternation, medians, as above: one run of each differs by more than what is compared
    const sequentialRounds: number[] = [];
    const parallelRounds = new Map<number, number[]>([[1, []], [2, []]]);
    for (let round = 1; round <= ROUNDS; round++) {
      let sequential = 0;
      for (const db of many) sequential += time(path.join(bin, 'pg_dump'), ['-Fc', '-f', path.join(WORK, `${db}.dump`), db], pgEnv).seconds;
      sequentialRounds.push(sequential);
      for (const [parallel, rounds] of parallelRounds) {
        const env = { ...pgEnv, DBM_PASSPHRASE: 'bench', DBM_REPOSITORY: path.join(WORK, `repo-many-${parallel}`) };
        rmSync(env.DBM_REPOSITORY, { recursive: true, force: true });
        time(...installedCommand('repo', 'init'), env);
        rounds.push(time(...installedCommand('repo', 'backup', '--postgres', url, '--database', many.join(','), '--no-globals', '--parallel', String(parallel)), env).seconds);
      }
    }
    const sequentialDumps = median(sequentialRounds);
    const parallelRuns = [...parallelRounds].map(([parallel, rounds]) => ({ parallel, seconds: median(rounds) }));

    // files: a second backup of an unchanged tree reads nothing
    const tree = path.join(WORK, 'tree');
    await generateTree(tree);
    const filesRepo = path.join(WORK, 'repo-files');
    const fenv = { DBM_PASSPHRASE: 'bench', DBM_REPOSITORY: filesRepo };
    time(...installedCommand('repo', 'init'), fenv);
    const f1 = JSON.parse(time(...installedCommand('repo', 'backup', tree, '--json'), fenv).stdout);
    const f2run = time(...installedCommand('repo', 'backup', tree, '--json'), fenv);
    const f2 = JSON.parse(f2run.stdout);

    console.log(`\nDatabase: ${mb(size)} (pg_database_size) in 3 tables with indexes; ${ROUNDS} rounds, medians; ${ROWS} orders, ${ROWS} events, ${ROWS / 4} customers; PostgreSQL ${(await psqlAsync(cluster, 'postgres', 'SHOW server_version')).trim()}; ${process.version}\n`);
    console.log('| | backup, wall | stored | restore, wall |');
    console.log('|---|---|---|---|');
    console.log(`| pg_dump -Fc -f FILE / pg_restore (anchor) | ${s(pgDump)} | ${mb(statSync(dumpFile).size)} | ${s(pgRestore)} |`);
    console.log(`| pg_dump -Fp > /dev/null (the dump alone) | ${s(bareDump)} | — | — |`);
    for (const variant of Object.keys(variants) as Variant[]) {
      const b = median(ours[variant].backup);
      const re = median(ours[variant].restore);
      const label = `${variants[variant].format} format${variants[variant].init.length ? `, repo init ${variants[variant].init.join(' ')}` : ''}`;
      console.log(
        `| data-backup-manager, ${label} | ${s(b)} (${(b / pgDump).toFixed(2)}x pg_dump -Fc, ${(b / bareDump).toFixed(2)}x the bare dump) | ${mb(ours[variant].stored)} | ${s(re)} (${(re / pgRestore).toFixed(2)}x) |`,
      );
    }
    console.log(
      `\nEach round, in order (seconds): ${anchorDumps.map((a, i) => `pg_dump -Fc ${a.toFixed(2)}, bare ${bareDumps[i].toFixed(2)}, ours custom ${ours.custom.backup[i].toFixed(2)}, plain ${ours.plain.backup[i].toFixed(2)}, custom fast ${ours['custom-fast'].backup[i].toFixed(2)}`).join('; ')}`,
    );
    // The machine's speed swings between rounds: a ratio within a round, its parts timed one after
    // the other, says more than a ratio of medians taken from different rounds.
    for (const variant of Object.keys(variants) as Variant[]) {
      const perRound = ours[variant].backup.map((b, i) => b / bareDumps[i]);
      console.log(`${variant} ÷ the bare dump, per round: ${perRound.map((r) => r.toFixed(2)).join(', ')} (median ${median(perRound).toFixed(2)}x)`);
    }
    console.log('\n| format | added after 1 % hot rows updated | of first backup | added after 1 % scattered rows updated | of first backup |');
    console.log('|---|---|---|---|---|');
    for (const d of dedup) console.log(`| ${d.join(' | ')} |`);
    console.log(`\nFour databases of one server (${mb(manySize)} together), plain format:\n`);
    console.log('| | backup, wall | × pg_dump -Fc one after another |');
    console.log('|---|---|---|');
    console.log(`| pg_dump -Fc -f FILE, one after another (anchor) | ${s(sequentialDumps)} | 1.00x |`);
    for (const r of parallelRuns) console.log(`| data-backup-manager --parallel ${r.parallel}${r.parallel === 2 ? ' (default)' : ''} | ${s(r.seconds)} | ${(r.seconds / sequentialDumps).toFixed(2)}x |`);
    console.log(`\nEach round, in order (seconds): ${sequentialRounds.map((q, i) => `pg_dump -Fc one after another ${q.toFixed(2)}, --parallel 1 ${parallelRounds.get(1)![i].toFixed(2)}, --parallel 2 ${parallelRounds.get(2)![i].toFixed(2)}`).join('; ')}`);
    console.log(`\nFiles: ${mb(f1.totalSize)} tree; first backup read ${mb(f1.bytesRead)}; second backup of the unchanged tree read ${f2.bytesRead} bytes (${f2.filesUnchanged} of ${f2.files} files unchanged) in ${s(f2run.seconds)}.`);
  } finally {
    cluster.stop();
  }
}

void main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
