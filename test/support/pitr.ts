import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import { Client } from 'pg';
import { backupStreams, type Repository } from '../../engine';
import { pushWal } from '../../engine/targets';
import { archiveCommandLine } from '../../engine/targets/postgresCluster/commandLines';
import { PostgresCluster } from '../../stack/postgresCluster';
import { tempDir } from './backends';
import { CLI, type CliResult } from './cli';
import { freePort } from './ports';

/** What the point-in-time recovery tests share: a cluster archiving into a repository, SQL, marked moments. */
export const AS_ROOT = process.getuid?.() === 0;
export const SOURCE_PASSWORD = 'source-password';

export async function sql<T>(url: string, text: string): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows as T[];
  } finally {
    await c.end();
  }
}

/** Waits until the cluster at `url` has archived `segment` (or a later one). */
export async function waitArchived(url: string, segment: string): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const [s] = await sql<{ last: string | null; failed: string }>(url, 'SELECT last_archived_wal AS last, failed_count::text AS failed FROM pg_stat_archiver');
    if (s.last && s.last.slice(0, 8) >= segment.slice(0, 8) && s.last.slice(8, 24) >= segment.slice(8, 24)) return;
    if (Date.now() - t0 > 180_000) throw new Error(`segment ${segment} not archived: ${JSON.stringify(s)}`);
    await sleep(200);
  }
}

/** A row marking a moment, then a WAL switch, archived: returns the moment (just after the commit). */
export async function markMoment(url: string, label: string): Promise<Date> {
  await sql(url, `INSERT INTO marks (label) VALUES ('${label}')`);
  const at = new Date();
  await sleep(1100); // moments at least a second apart: recovery targets are compared with commit times
  const [{ seg }] = await sql<{ seg: string }>(url, 'SELECT pg_walfile_name(pg_switch_wal()) AS seg');
  await waitArchived(url, seg);
  return at;
}

export async function labelsAt(url: string): Promise<string[]> {
  return (await sql<{ label: string }>(url, 'SELECT label FROM marks ORDER BY id')).map((r) => r.label);
}

/** A program run as PostgreSQL's user (as root, PostgreSQL runs as postgres, and the archive is that user's). */
export function spawnAsPostgres(argv: string[], cwd = '/tmp', timeoutMs = 120_000): Promise<CliResult> {
  const env = { PATH: process.env.PATH ?? '', HOME: cwd, PGPASSWORD: SOURCE_PASSWORD };
  const child = AS_ROOT ? spawn('runuser', ['-u', 'postgres', '--', ...argv], { cwd, env }) : spawn(argv[0], argv.slice(1), { cwd, env });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString(), stderr: Buffer.concat(err).toString(), stdoutBytes });
    }),
  );
}

/** The CLI as PostgreSQL's user. */
export function cliAsPostgres(args: string[], cwd: string, timeoutMs = 120_000): Promise<CliResult> {
  return spawnAsPostgres([process.execPath, CLI, ...args], cwd, timeoutMs);
}

/**
 * A cluster whose archive_command is `wal-archive.js` (synchronous: it returns once the resident archiver stored the segment), reading the
 * repository from `config`; with a `marks` table. Its settings go in
 * postgresql.auto.conf (they hold quotes and spaces).
 */
export async function archivingCluster(dataDir: string, config: string, cluster: string): Promise<{ pg: PostgresCluster; url: string }> {
  const pg = new PostgresCluster({ dataDir, port: await freePort(), password: SOURCE_PASSWORD, unsafeFast: true });
  pg.init();
  // synchronous archiving as `wal-commands` prints it: wal-archive.js in front of the resident archiver
  const archive = archiveCommandLine([process.execPath, path.join(path.dirname(CLI), 'wal-archive.js')], config, cluster);
  await fs.appendFile(path.join(dataDir, 'postgresql.auto.conf'), `archive_mode = 'on'\narchive_command = '${archive.replace(/'/g, "''")}'\nwal_level = 'replica'\n`);
  pg.start();
  const url = `postgresql://postgres:${SOURCE_PASSWORD}@127.0.0.1:${pg.opts.port}/postgres`;
  await sql(url, 'CREATE TABLE marks (id serial PRIMARY KEY, label text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())');
  return { pg, url };
}

/**
 * A cluster's archive made directly, as the archiver would leave it, without a
 * PostgreSQL: a base backup ended at `stoppedAt`, and WAL segments 3 and 5
 * after it, so its window has a gap of one segment (4).
 */
export async function archiveWithGap(repo: Repository, cluster: string, stoppedAt: Date): Promise<void> {
  const meta = { cluster, walSegmentSize: 16 * 1024 * 1024, timeline: 1, startWal: '000000010000000000000002', stopWal: '000000010000000000000002', stopLsn: '0/2000100', startLsn: '0/2000028', stoppedAt: stoppedAt.toISOString() };
  await backupStreams(repo, [{ name: 'base.tar', open: () => Readable.from([Buffer.from('tar')]) }], { target: 'postgres-cluster', tags: { cluster }, meta });
  const wal = tempDir('dbm-wal-');
  for (const seg of ['000000010000000000000003', '000000010000000000000005']) {
    await fs.writeFile(path.join(wal, seg), Buffer.alloc(1024, seg.length));
    await pushWal(repo, cluster, path.join(wal, seg));
  }
}
