/**
 * WAL replay benchmark: the same restore of a cluster whose recovery replays
 * ≥ 200 archived WAL segments, timed from starting the restored cluster to its
 * promotion, with three restore_commands side by side in one run:
 *
 *   - `cp` from a plain directory of the segments (the anchor: PostgreSQL's documented restore_command);
 *   - ours: the prefetcher behind `wal-get` (what `repo restore --postgres-cluster` writes);
 *   - `repo wal-fetch`, the whole CLI per segment (what it wrote before).
 *
 * Segments are PostgreSQL's default 16 MiB (~3.2 GiB of WAL, on disk twice:
 * the cp archive and the repository; ~8 minutes). BENCH_SEGMENT_MIB=1
 * (initdb --wal-segsize) is the harsh variant: per-segment costs weigh 16
 * times more, and the whole replay takes seconds, so start-up shows.
 *
 *   npm run bench:wal-replay      (BENCH_SEGMENTS=200, BENCH_SEGMENT_MIB=16 by default)
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPrefetcher, startRecoveredCluster, stopCluster } from '../engine/targets';
import { PostgresCluster } from '../stack/postgresCluster';
import { archiveWorkspace, AS_ROOT, CLI, sql } from './archiveBench';

const WORK = '/tmp/dbm-bench-replay';
const SEGMENTS = Number(process.env.BENCH_SEGMENTS ?? 200);
const SEGMENT_MIB = Number(process.env.BENCH_SEGMENT_MIB ?? 16);
const OWNER = AS_ROOT ? 'postgres' : undefined;
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function run(argv: string[], asPostgres = true): string {
  const [cmd, args] = AS_ROOT && asPostgres ? ['runuser', ['-u', 'postgres', '--', ...argv]] : [argv[0], argv.slice(1)];
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, PGPASSWORD: 'bench' } });
  if (r.status !== 0) throw new Error(`${argv.slice(0, 4).join(' ')} …: ${r.stderr}`);
  return r.stdout;
}

const segno = (name: string) => BigInt(`0x${name.slice(8, 16)}`) * 0x100000000n + BigInt(`0x${name.slice(16, 24)}`);

async function main(): Promise<void> {
  const { config, cpDir, spool, cli } = archiveWorkspace(WORK);

  const source = new PostgresCluster({ dataDir: path.join(WORK, 'source'), port: 55994, password: 'bench', walSegmentMiB: SEGMENT_MIB });
  source.init();
  const url = 'postgresql://postgres:bench@127.0.0.1:55994/postgres';
  const autoConf = path.join(source.opts.dataDir, 'postgresql.auto.conf');
  writeFileSync(autoConf, `archive_mode = 'on'\narchive_command = 'test ! -f ${cpDir}/%f && cp %p ${cpDir}/%f'\nwal_level = 'replica'\nmax_wal_size = '4GB'\n`);
  if (AS_ROOT) spawnSync('chown', ['postgres:', autoConf]);
  source.start(['-c synchronous_commit=off']);
  try {
    await sql(url, 'CREATE TABLE t (id bigint, body text)');
    run(cli('backup', '--postgres-cluster', 'postgresql://postgres@127.0.0.1:55994', '--cluster', 'replay', '--json'));
    const [{ start }] = await sql<{ start: string }>(url, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS start');
    // WAL after the base backup: inserts until the recovery has SEGMENTS segments to replay
    for (let i = 0; ; i++) {
      await sql(url, `INSERT INTO t SELECT g, md5(g::text) || md5((g + ${i})::text) FROM generate_series(1, 100000) g`);
      const [{ now }] = await sql<{ now: string }>(url, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS now');
      if (segno(now) - segno(start) >= BigInt(SEGMENTS)) break;
    }
    const [{ last }] = await sql<{ last: string }>(url, 'SELECT pg_walfile_name(pg_switch_wal()) AS last');
    for (const t0 = Date.now(); ; await sleep(200)) {
      const [{ done }] = await sql<{ done: string | null }>(url, 'SELECT last_archived_wal AS done FROM pg_stat_archiver');
      if (done && segno(done) >= segno(last)) break;
      if (Date.now() - t0 > 600_000) throw new Error('archiving did not catch up');
    }
  } finally {
    source.stop();
  }
  rmSync(path.join(WORK, 'source'), { recursive: true, force: true }); // disk: the archives are what is left to read

  // the same segments into the repository, through a spool drained by wal-uploader
  for (const f of readdirSync(cpDir)) spawnSync('cp', ['-p', path.join(cpDir, f), path.join(spool, f)]);
  if (AS_ROOT) spawnSync('chown', ['-R', 'postgres:', spool]);
  const uploader = spawnSync('timeout', ['600', ...(AS_ROOT ? ['runuser', '-u', 'postgres', '--'] : []), ...cli('wal-uploader', '--cluster', 'replay', '--spool', spool, '--parallel', '4', '--once')], { encoding: 'utf8' });
  if (uploader.status !== 0) throw new Error(`wal-uploader: ${uploader.stderr}`);

  // one restore of the base backup, copied three times; only restore_command differs
  const restored = path.join(WORK, 'ours');
  run(cli('restore', '--postgres-cluster', 'replay', '--latest', '--to', restored));
  const ways: { name: string; dir: string; command: string | null }[] = [
    { name: '`cp` from a directory (anchor)', dir: path.join(WORK, 'cp'), command: `cp ${q(cpDir)}/%f %p` },
    { name: 'ours: mv from the prefetcher\'s queue, else wal-get', dir: restored, command: null },
    { name: '`repo wal-fetch` (the whole CLI per segment)', dir: path.join(WORK, 'wal-fetch'), command: `${q(process.execPath)} ${q(CLI)} repo --config ${q(config)} wal-fetch --cluster replay %f %p` },
  ];
  for (const w of ways) {
    if (w.command === null) continue;
    spawnSync('cp', ['-a', restored, w.dir]);
    const conf = path.join(w.dir, 'postgresql.auto.conf');
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(/^restore_command = .*$/m, `restore_command = '${w.command.replace(/'/g, "''")}'`));
  }
  const results: { name: string; seconds: number; replayed: number; firstAfter: number; replay: number }[] = [];
  let port = 55990;
  for (const w of ways) {
    const t0 = Date.now();
    // as `repo restore --postgres-cluster --start` does: the prefetcher first (its start counts in the time)
    if (w.command === null) startPrefetcher([process.execPath, path.join(__dirname, '..', 'cli', 'wal-get.js')], config, 'replay', w.dir, OWNER);
    const started = await startRecoveredCluster(w.dir, { port: port--, runAs: OWNER });
    const seconds = (Date.now() - t0) / 1000;
    void started;
    const log = readFileSync(path.join(w.dir, 'recovery.log'), 'utf8');
    const restores = [...log.matchAll(/^(\S+ \S+) UTC \[\d+\] LOG: {2}restored log file "[0-9A-F]{24}" from archive$/gm)].map((m) => Date.parse(`${m[1].replace(' ', 'T')}Z`));
    stopCluster(w.dir, OWNER);
    results.push({ name: w.name, seconds, replayed: restores.length, firstAfter: (restores[0] - t0) / 1000, replay: (restores[restores.length - 1] - restores[0]) / 1000 });
    rmSync(w.dir, { recursive: true, force: true });
  }
  const anchor = results[0].seconds;
  console.log(`\nRestore to the end of the archive, replaying WAL of ${SEGMENT_MIB} MiB segments (${process.version}); wall time from starting the restored cluster to its promotion:\n`);
  console.log('| restore_command | segments restored | first segment after | first to last segment | wall time | × cp |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.name} | ${r.replayed} | ${r.firstAfter.toFixed(1)} s | ${r.replay.toFixed(1)} s | ${r.seconds.toFixed(1)} s | ${(r.seconds / anchor).toFixed(2)} |`);
  rmSync(WORK, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
