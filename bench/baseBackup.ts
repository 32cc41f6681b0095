/**
 * Base backup dedup benchmark: what a base backup stores after the pgbench
 * load bench:pitr uses (15 s of pgbench -c 2 at full speed), and after a
 * light one (1,000 transactions: scattered updates), with content-defined
 * chunking throughout (the old way) against page-aware chunking of relation
 * files at several block sizes. Every variant chunks the same three
 * `pg_basebackup` tars, side by side in one run, each into a repository of
 * its own; then the default variant's second backup is restored and checked byte for byte,
 * `pg_verifybackup` runs on the extracted tar, and `pg_amcheck` on the
 * started cluster.
 *
 *   npm run bench:basebackup     (needs the PostgreSQL server binaries and pgbench)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, createWriteStream, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { backupStreams, LocalStorage, Repository, restoreStream, type StreamEntry } from '../engine';
import { pageAlignedTarChunks, pageBlockFor } from '../engine/targets/postgresCluster/pageChunks';
import { PostgresCluster } from '../stack/postgresCluster';
import { AS_ROOT, sql } from './archiveBench';

const WORK = '/tmp/dbm-bench-basebackup';
const SCALE = Number(process.env.BENCH_SCALE ?? 20); // pgbench scale 20: ~300 MB, as bench:pitr
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const PORT = 55994;
const MiB = 2 ** 20;

function asPostgres(argv: string[], opts: { stdoutTo?: string } = {}): string {
  const [cmd, args] = AS_ROOT ? ['runuser', ['-u', 'postgres', '--', ...argv]] : [argv[0], argv.slice(1)];
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, PGPASSWORD: 'bench' }, maxBuffer: 64 * MiB });
  if (r.status !== 0) throw new Error(`${path.basename(argv[0])} failed: ${r.stderr}`);
  if (opts.stdoutTo) writeFileSync(opts.stdoutTo, r.stdout);
  return r.stdout;
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const piece of createReadStream(file)) h.update(piece as Buffer);
  return h.digest('hex');
}

interface Variant {
  name: string;
  block: number; // 0: content-defined only
}

interface Row {
  variant: Variant;
  firstStored: number;
  /** after the heavy load, then after the light one */
  next: { read: number; added: number; stored: number; seconds: number }[];
  blobs: number;
  repo: Repository;
  second: Awaited<ReturnType<typeof backupStreams>>;
}

function tarEntry(file: string, block: number): StreamEntry {
  return { name: 'base.tar', open: () => createReadStream(file), ...(block ? { split: pageAlignedTarChunks(block) } : {}) };
}

async function main(): Promise<void> {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  chmodSync(WORK, 0o777);
  const cluster = new PostgresCluster({ dataDir: path.join(WORK, 'pgdata'), port: PORT, password: 'bench' });
  cluster.init();
  cluster.start(['-c fsync=on', '-c full_page_writes=on']);
  const bin = (tool: string) => path.join(cluster.binDir, tool);
  const conn = ['-h', '127.0.0.1', '-p', String(PORT), '-U', 'postgres'];
  const tars = [1, 2, 3].map((n) => path.join(WORK, `base${n}.tar`));
  let size: string;
  let bytes: number;
  try {
    console.error(`pgbench -i -s ${SCALE} …`);
    asPostgres([bin('pgbench'), '-i', '-s', String(SCALE), '-q', ...conn, 'postgres']);
    const [row] = await sql<{ size: string; bytes: string }>(cluster.url, `SELECT pg_size_pretty(sum(pg_database_size(oid))) AS size, sum(pg_database_size(oid))::text AS bytes FROM pg_database`);
    size = row.size;
    bytes = Number(row.bytes);
    const baseBackup = (to: string) => {
      const [cmd, args] = AS_ROOT ? ['runuser', ['-u', 'postgres', '--', bin('pg_basebackup')]] : [bin('pg_basebackup'), []];
      const r = spawnSync('sh', ['-c', '"$@" > "$OUT"', 'sh', cmd, ...args, '-D', '-', '-F', 'tar', '-X', 'fetch', '--checkpoint=fast', ...conn], {
        env: { ...process.env, PGPASSWORD: 'bench', OUT: to },
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`pg_basebackup: ${r.stderr}`);
    };
    baseBackup(tars[0]);
    console.error(`pgbench -c 2 for ${SECONDS} s …`);
    asPostgres([bin('pgbench'), '-n', '-c', '2', '-T', String(SECONDS), ...conn, 'postgres']);
    baseBackup(tars[1]);
    console.error('pgbench -c 2, 1,000 transactions …');
    asPostgres([bin('pgbench'), '-n', '-c', '2', '-t', '500', ...conn, 'postgres']);
    baseBackup(tars[2]);
  } finally {
    cluster.stop();
  }

  const variants: Variant[] = [
    { name: 'content-defined (~1 MiB chunks, before)', block: 0 },
    ...[8, 16, 32, 64].map((k) => ({ name: `page-aware, ${k} KiB blocks${k * 1024 === pageBlockFor(bytes) ? ' (the default at this size)' : ''}`, block: k * 1024 })),
  ];
  const rows: Row[] = [];
  for (const variant of variants) {
    console.error(`${variant.name} …`);
    const dir = path.join(WORK, `repo-${variant.block}`);
    const repo = await Repository.init(new LocalStorage(dir), { passphrase: 'bench' });
    const first = await backupStreams(repo, [tarEntry(tars[0], variant.block)], { target: 'bench' });
    const next: Row['next'] = [];
    let second: Row['second'] | null = null;
    for (const tar of tars.slice(1)) {
      const t0 = Date.now();
      const ref = await backupStreams(repo, [tarEntry(tar, variant.block)], { target: 'bench' });
      second ??= ref;
      const s = ref.snapshot.stats;
      next.push({ read: s.bytesRead, added: s.bytesAdded, stored: s.bytesStored, seconds: (Date.now() - t0) / 1000 });
    }
    await repo.loadIndex();
    rows.push({ variant, firstStored: first.snapshot.stats.bytesStored, next, blobs: repo.index.blobCount, repo, second: second! });
  }

  // the default variant, restored: the same bytes, a valid backup, a cluster that starts and checks clean
  const chosen = rows.find((r) => r.variant.block === pageBlockFor(bytes!))!;
  const restoredTar = path.join(WORK, 'restored.tar');
  await restoreStream(chosen.repo, chosen.second, 'base.tar', createWriteStream(restoredTar));
  const sameBytes = (await sha256(restoredTar)) === (await sha256(tars[1]));
  const restoredDir = path.join(WORK, 'restored');
  mkdirSync(restoredDir, { mode: 0o700 });
  if (spawnSync('tar', ['-xf', restoredTar, '-C', restoredDir]).status !== 0) throw new Error('tar -x of the restored base backup failed');
  if (AS_ROOT) spawnSync('chown', ['-R', 'postgres:', restoredDir]);
  const verify = spawnSync(AS_ROOT ? 'runuser' : bin('pg_verifybackup'), AS_ROOT ? ['-u', 'postgres', '--', bin('pg_verifybackup'), restoredDir] : [restoredDir], { encoding: 'utf8' });
  const restored = new PostgresCluster({ dataDir: restoredDir, port: PORT + 1, password: 'bench' });
  writeFileSync(path.join(restoredDir, 'postgresql.auto.conf'), `port = ${PORT + 1}\n`);
  if (AS_ROOT) spawnSync('chown', ['postgres:', path.join(restoredDir, 'postgresql.auto.conf')]);
  restored.start();
  let amcheck: ReturnType<typeof spawnSync>;
  try {
    const args = ['--all', '--install-missing', '--heapallindexed', '-h', '127.0.0.1', '-p', String(PORT + 1), '-U', 'postgres'];
    amcheck = spawnSync(AS_ROOT ? 'runuser' : bin('pg_amcheck'), AS_ROOT ? ['-u', 'postgres', '--', bin('pg_amcheck'), ...args] : args, { encoding: 'utf8', env: { ...process.env, PGPASSWORD: 'bench' } });
  } finally {
    restored.stop();
  }

  const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  const loads = [`after ${SECONDS} s of pgbench -c 2 (the bench:pitr load)`, 'after 1,000 more pgbench transactions (scattered updates)'];
  console.log(`\nBase backups of a ${size} cluster (pgbench -i -s ${SCALE}), ${(statSync(tars[1]).size / MiB).toFixed(0)} MiB tars; first backup, then two more; ${process.version}:\n`);
  console.log('| chunking | first backup stored | load | next backup: new after dedup | × before | stored | took | blobs in the repository after all three |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    r.next.forEach((n, i) => {
      const before = rows[0].next[i].added;
      const head = i === 0 ? `| ${r.variant.name} | ${mib(r.firstStored)} ` : '| | ';
      console.log(`${head}| ${loads[i]} | ${mib(n.added)} | ${(n.added / before).toFixed(2)}× | ${mib(n.stored)} | ${n.seconds.toFixed(1)} s | ${i === 0 ? '' : r.blobs} |`);
    });
  }
  console.log(`\nrestored second backup (${chosen.variant.name}): ${sameBytes ? 'byte-identical to the pg_basebackup tar' : 'DIFFERENT from the pg_basebackup tar'}`);
  console.log(`pg_verifybackup on the extracted tar: ${verify.status === 0 ? verify.stdout.trim() || 'ok' : `FAILED: ${verify.stderr.trim()}`}`);
  console.log(`pg_amcheck --all --heapallindexed on the started cluster: ${amcheck.status === 0 ? 'no corruption found' : `FAILED (${amcheck.status}): ${String(amcheck.stdout).trim()} ${String(amcheck.stderr).trim()}`}`);
  if (!sameBytes || verify.status !== 0 || amcheck.status !== 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
