/**
 * PITR benchmark: WAL archiving throughput under a steady pgbench write load,
 * synchronous (`wal-archive` in front of the resident archiver, and the whole
 * `repo wal-push` CLI per segment) against asynchronous (a spool drained by
 * `repo wal-uploader`), with `cp` into a directory as the anchor
 * (PostgreSQL's documented archive_command) run both first and last (after
 * an unreported warm-up: rounds differ by more than their archive_command,
 * and the first load on a fresh cluster writes the most WAL); then the
 * restore-to-time wall time (RTO) of the ~300 MB cluster, and what second and
 * third base backups store (bench:basebackup compares the chunkings).
 *
 *   npm run bench:pitr       (needs the PostgreSQL server binaries and pgbench)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { archiveCommandLine } from '../engine/targets/postgresCluster/commandLines';
import { PostgresCluster } from '../stack/postgresCluster';
import { archiveWorkspace, AS_ROOT, CLI, sql } from './archiveBench';

const WORK = '/tmp/dbm-bench-pitr';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const SCALE = Number(process.env.BENCH_SCALE ?? 20); // pgbench scale 20: ~300 MB
const LOAD = path.join(WORK, 'load.sql');
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function asPg(argv: string[], opts: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  return AS_ROOT ? spawn('runuser', ['-u', 'postgres', '--', ...argv], { env: opts.env, stdio: 'inherit' }) : spawn(argv[0], argv.slice(1), { env: opts.env, stdio: 'inherit' });
}

function runAsPg(argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const [cmd, args] = AS_ROOT ? ['runuser', ['-u', 'postgres', '--', ...argv]] : [argv[0], argv.slice(1)];
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, PGPASSWORD: 'bench' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Round {
  mode: string;
  generated: number;
  archivedDuring: number;
  lagAtEnd: number;
  drainSeconds: number;
  failed: number;
}

async function archiverState(url: string): Promise<{ archived: number; failed: number; current: bigint; last: bigint }> {
  const [r] = await sql<{ archived: string; failed: string; cur: string; last: string | null }>(
    url,
    `SELECT archived_count::text AS archived, failed_count::text AS failed, pg_walfile_name(pg_current_wal_lsn()) AS cur, last_archived_wal AS last FROM pg_stat_archiver`,
  );
  const segno = (name: string | null) => (name ? BigInt(`0x${name.slice(8, 16)}`) * 256n + BigInt(`0x${name.slice(16, 24)}`) : 0n);
  return { archived: Number(r.archived), failed: Number(r.failed), current: segno(r.cur), last: segno(r.last) };
}

async function round(cluster: PostgresCluster, url: string, mode: string, archiveCommand: string): Promise<Round> {
  await sql(url, `ALTER SYSTEM SET archive_command = ${`'${archiveCommand.replace(/'/g, "''")}'`}`);
  await sql(url, 'SELECT pg_reload_conf()');
  await sql(url, 'SELECT pg_switch_wal()');
  await sleep(3000);
  await sql(url, 'TRUNCATE ballast');
  const before = await archiverState(url);
  // a steady write load heavy in WAL: each transaction inserts 2,000 rows (~0.5 MiB of WAL)
  const bench = spawnSync(path.join(cluster.binDir, 'pgbench'), ['-n', '-c', '4', '-j', '2', '-T', String(SECONDS), '-f', LOAD, '-h', '127.0.0.1', '-p', String(cluster.opts.port), '-U', 'postgres', 'postgres'], {
    encoding: 'utf8',
    env: { ...process.env, PGPASSWORD: 'bench' },
  });
  if (bench.status !== 0) throw new Error(`pgbench: ${bench.stderr}`);
  const after = await archiverState(url);
  const endSegment = after.current;
  const t0 = Date.now();
  let state = after;
  while (state.last < endSegment - 1n && Date.now() - t0 < 600_000) {
    await sleep(250);
    state = await archiverState(url);
  }
  return {
    mode,
    generated: Number(after.current - before.current),
    archivedDuring: after.archived - before.archived,
    lagAtEnd: Number(after.current - after.last),
    drainSeconds: (Date.now() - t0) / 1000,
    failed: state.failed - before.failed,
  };
}

async function main(): Promise<void> {
  const { config, spool, cpDir, cli } = archiveWorkspace(WORK);

  // a durable cluster, as in production (the test clusters run with fsync off)
  const cluster = new PostgresCluster({ dataDir: path.join(WORK, 'pgdata'), port: 55996, password: 'bench' });
  cluster.init();
  const url = `postgresql://postgres:bench@127.0.0.1:55996/postgres`;
  writeFileSync(path.join(cluster.opts.dataDir, 'postgresql.auto.conf'), "archive_mode = 'on'\narchive_command = '/bin/true'\nwal_level = 'replica'\nmax_wal_size = '4GB'\n");
  if (AS_ROOT) spawnSync('chown', ['postgres:', path.join(cluster.opts.dataDir, 'postgresql.auto.conf')]);
  // WAL flushed as in production (fsync, full page writes); commits do not wait for it, so pgbench writes WAL
  // as fast as this machine can, which is what stresses archiving
  cluster.start(['-c fsync=on', '-c synchronous_commit=off', '-c full_page_writes=on']);
  let uploader: ChildProcess | null = null;
  try {
    console.error(`pgbench -i -s ${SCALE} …`);
    const init = spawnSync(path.join(cluster.binDir, 'pgbench'), ['-i', '-s', String(SCALE), '-q', '-h', '127.0.0.1', '-p', '55996', '-U', 'postgres', 'postgres'], {
      encoding: 'utf8',
      env: { ...process.env, PGPASSWORD: 'bench' },
    });
    if (init.status !== 0) throw new Error(`pgbench -i: ${init.stderr}`);
    writeFileSync(LOAD, "INSERT INTO ballast SELECT g, md5(g::text) || md5((g + 1)::text) FROM generate_series(1, 2000) g;\n");
    await sql(url, 'CREATE TABLE ballast (id int, body text)');
    const [{ size }] = await sql<{ size: string }>(url, `SELECT pg_size_pretty(sum(pg_database_size(oid))) AS size FROM pg_database`);

    const self = `${q(process.execPath)} ${q(CLI)} repo --config ${q(config)}`;
    const rounds: Round[] = [];
    // a warm-up round, not reported: the first load on a fresh cluster writes more WAL than any after it
    console.error('warm-up round …');
    await round(cluster, url, 'warm-up', `test ! -f ${q(cpDir)}/%f && cp %p ${q(cpDir)}/%f`);
    console.error('cp round …');
    rounds.push(await round(cluster, url, 'cp into a directory (anchor)', `test ! -f ${q(cpDir)}/%f && cp %p ${q(cpDir)}/%f`));
    console.error('synchronous round …');
    const walArchive = archiveCommandLine([process.execPath, path.join(__dirname, '..', 'cli', 'wal-archive.js')], config, 'bench');
    rounds.push(await round(cluster, url, 'wal-archive + resident archiver (synchronous, what wal-commands prints)', walArchive));
    console.error('synchronous round, the whole CLI per segment …');
    rounds.push(await round(cluster, url, 'repo wal-push (synchronous, the whole CLI per segment)', `${self} wal-push --cluster bench-cli %p`));
    console.error('asynchronous round …');
    uploader = asPg(cli('wal-uploader', '--cluster', 'bench-async', '--spool', spool, '--parallel', '4'));
    rounds.push(await round(cluster, url, 'wal-spool + wal-uploader (asynchronous)', `${q(process.execPath)} ${q(path.join(__dirname, '..', 'cli', 'wal-spool.js'))} ${q(spool)} %p`));
    // wait until the uploader drained the spool too
    const t0 = Date.now();
    while (spawnSync('sh', ['-c', `ls ${q(spool)} | grep -v status.json | wc -l`], { encoding: 'utf8' }).stdout.trim() !== '0' && Date.now() - t0 < 600_000) await sleep(250);
    rounds[3].drainSeconds += (Date.now() - t0) / 1000;
    uploader.kill('SIGTERM');
    // the anchor again, last: rounds differ by more than their archive_command (checkpoints, the table's history)
    console.error('cp round again …');
    rounds.push(await round(cluster, url, 'cp into a directory (anchor, again last)', `test ! -f ${q(cpDir)}/%f && cp %p ${q(cpDir)}/%f`));

    // RTO: back to the ~300 MB cluster; a base backup, a marked moment, more load, then restore to the moment and promote
    await sql(url, 'TRUNCATE ballast');
    await sql(url, 'CHECKPOINT');
    await sql(url, "ALTER SYSTEM SET archive_command = " + `'${`${self} wal-push --cluster rto %p`.replace(/'/g, "''")}'`);
    await sql(url, 'SELECT pg_reload_conf()');
    const backup = runAsPg(cli('backup', '--postgres-cluster', 'postgresql://postgres@127.0.0.1:55996', '--cluster', 'rto', '--json'));
    if (backup.status !== 0) throw new Error(`base backup: ${backup.stderr}`);
    const stats = JSON.parse(backup.stdout) as { durationMs: number; totalSize: number };
    spawnSync(path.join(cluster.binDir, 'pgbench'), ['-n', '-c', '2', '-T', '10', '-h', '127.0.0.1', '-p', '55996', '-U', 'postgres', 'postgres'], { env: { ...process.env, PGPASSWORD: 'bench' } });
    await sleep(1100);
    const target = new Date();
    await sleep(1100);
    spawnSync(path.join(cluster.binDir, 'pgbench'), ['-n', '-c', '2', '-T', '5', '-h', '127.0.0.1', '-p', '55996', '-U', 'postgres', 'postgres'], { env: { ...process.env, PGPASSWORD: 'bench' } });
    await sql(url, 'SELECT pg_switch_wal()');
    await sleep(5000);
    // a second base backup after that load: what dedup leaves to store
    const second = runAsPg(cli('backup', '--postgres-cluster', 'postgresql://postgres@127.0.0.1:55996', '--cluster', 'rto', '--json'));
    if (second.status !== 0) throw new Error(`second base backup: ${second.stderr}`);
    const again = JSON.parse(second.stdout) as { durationMs: number; totalSize: number; bytesAdded: number; bytesStored: number };
    // and after a change confined to one small table (the common case: most of a cluster is cold)
    await sql(url, 'CREATE TABLE IF NOT EXISTS hot (id serial PRIMARY KEY, note text)');
    await sql(url, "INSERT INTO hot (note) SELECT md5(g::text) FROM generate_series(1, 10000) g");
    await sql(url, 'CHECKPOINT');
    const third = runAsPg(cli('backup', '--postgres-cluster', 'postgresql://postgres@127.0.0.1:55996', '--cluster', 'rto', '--json'));
    if (third.status !== 0) throw new Error(`third base backup: ${third.stderr}`);
    const cold = JSON.parse(third.stdout) as { durationMs: number; totalSize: number; bytesAdded: number; bytesStored: number };
    const r0 = Date.now();
    const restore = runAsPg(cli('restore', '--postgres-cluster', 'rto', '--target-time', target.toISOString(), '--to', path.join(WORK, 'restored'), '--start', '--port', '55995', '--json'));
    const rto = (Date.now() - r0) / 1000;
    if (restore.status !== 0) throw new Error(`restore: ${restore.stderr}`);
    spawnSync(AS_ROOT ? 'runuser' : path.join(cluster.binDir, 'pg_ctl'), AS_ROOT ? ['-u', 'postgres', '--', path.join(cluster.binDir, 'pg_ctl'), '-D', path.join(WORK, 'restored'), '-m', 'fast', 'stop'] : ['-D', path.join(WORK, 'restored'), '-m', 'fast', 'stop']);

    const segMiB = 16;
    console.log(`\nWAL archiving under pgbench (-c 4, ${SECONDS} s of 2,000-row inserts, on a ${size} cluster; fsync on, synchronous_commit off), ${process.version}:\n`);
    const anchor = (rounds[0].archivedDuring + rounds[rounds.length - 1].archivedDuring) / 2;
    console.log('| archive_command | segments written | archived during the load | × cp (mean of both cp rounds) | segments/s | lag at the end | caught up after | failures |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of rounds) {
      console.log(
        `| ${r.mode} | ${r.generated} (${r.generated * segMiB} MiB) | ${r.archivedDuring} | ${(r.archivedDuring / anchor).toFixed(2)} | ${(r.archivedDuring / SECONDS).toFixed(1)} | ${r.lagAtEnd} segments | ${r.drainSeconds.toFixed(1)} s | ${r.failed} |`,
      );
    }
    console.log(`\nbase backup of the cluster: ${(stats.totalSize / 2 ** 20).toFixed(0)} MiB in ${(stats.durationMs / 1000).toFixed(1)} s`);
    console.log(`second base backup after 15 s of pgbench: ${(again.totalSize / 2 ** 20).toFixed(0)} MiB read, ${(again.bytesAdded / 2 ** 20).toFixed(1)} MiB new after dedup, ${(again.bytesStored / 2 ** 20).toFixed(1)} MiB stored, ${(again.durationMs / 1000).toFixed(1)} s`);
    console.log(`third base backup after 10,000 rows into one small table: ${(cold.totalSize / 2 ** 20).toFixed(0)} MiB read, ${(cold.bytesAdded / 2 ** 20).toFixed(1)} MiB new after dedup, ${(cold.bytesStored / 2 ** 20).toFixed(1)} MiB stored, ${(cold.durationMs / 1000).toFixed(1)} s`);
    console.log(`restore to a moment (base backup + WAL replay + promote), wall time (RTO): ${rto.toFixed(1)} s`);
  } finally {
    uploader?.kill('SIGTERM');
    cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
