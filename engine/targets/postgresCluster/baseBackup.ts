import { backupStreams, type BackupOptions } from '../../archiver';
import { BackupError } from '../../errors';
import type { Repository } from '../../repository/repository';
import { startTool } from '../childProcess';
import { childEnv, connect, describeServer, pgError, type PgConnection } from '../postgres/connection';
import { listSnapshots, type SnapshotRef } from '../../snapshot';
import { findPgTool } from '../postgres/tools';
import { pageAlignedTarChunks, pageBlockFor } from './pageChunks';
import { checkClusterName, parseLsn, segmentName, segmentOf } from './wal';

export const CLUSTER_TARGET = 'postgres-cluster';
export const BASE_ENTRY = 'base.tar';

/** What a base backup's manifest records: enough to pick it for a recovery target and to know its WAL. */
export interface ClusterMeta {
  cluster: string;
  server: string;
  serverVersion: string;
  systemIdentifier: string;
  walSegmentSize: number;
  timeline: number;
  startLsn: string;
  stopLsn: string;
  /** the first WAL segment the backup needs */
  startWal: string;
  /** the segment holding the end of the backup: recovery is consistent once past it */
  stopWal: string;
  startedAt: string;
  /** when pg_basebackup had finished: every moment after it is a recovery target this backup can reach */
  stoppedAt: string;
  /** bytes per block the relation files were cut into (0: content-defined chunks); the next backup keeps it */
  pageBlockSize?: number;
}

/** A snapshot's cluster metadata, when it is a base backup; null otherwise. */
export function clusterMetaOf(ref: SnapshotRef): ClusterMeta | null {
  const meta = ref.snapshot.meta;
  return meta && typeof meta.stopWal === 'string' && typeof meta.cluster === 'string' ? (meta as unknown as ClusterMeta) : null;
}

/**
 * A physical base backup: `pg_basebackup` as one tar on its standard output,
 * streamed into the repository (no copy of the cluster on disk), with the WAL
 * it needs fetched into the tar, so the backup is restorable on its own; the
 * archive makes it restorable to later moments. Repeated base backups
 * deduplicate against each other page by page: relation files are cut into
 * page-aligned blocks (pageChunks.ts), so a backup after scattered updates
 * stores about the blocks that changed.
 */
export async function backupCluster(
  repo: Repository,
  conn: PgConnection,
  opts: Omit<BackupOptions, 'target' | 'meta'> & {
    cluster: string;
    /** bytes per block of relation files (a multiple of 8 KiB pages; default by the cluster's size); 0: content-defined chunks throughout */
    pageBlockSize?: number;
  },
): Promise<SnapshotRef> {
  const cluster = checkClusterName(opts.cluster);
  const client = await connect(conn, conn.database ?? 'postgres');
  let facts: { version: string; versionNum: number; system: string; segSize: number; bytes: number };
  try {
    const row = (
      await client.query<{ version: string; num: string; system: string; seg: string; bytes: string }>(
        `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
                (SELECT system_identifier::text FROM pg_control_system()) AS system,
                (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS seg,
                -- the size picks the page block size; databases a replication role may not connect to are left out
                (SELECT coalesce(sum(pg_database_size(oid)), 0)::text FROM pg_database WHERE has_database_privilege(oid, 'CONNECT')) AS bytes`,
      )
    ).rows[0];
    facts = { version: row.version, versionNum: Number(row.num), system: row.system, segSize: Number(row.seg), bytes: Number(row.bytes) };
  } catch (err) {
    throw pgError(conn, err);
  } finally {
    await client.end().catch(() => undefined);
  }
  const tool = findPgTool('pg_basebackup', Math.floor(facts.versionNum / 10000));
  const startedAt = new Date().toISOString();
  const previous = (await listSnapshots(repo, { target: CLUSTER_TARGET, tags: { cluster } })).at(-1);
  const pageBlockSize = opts.pageBlockSize ?? pageBlockFor(facts.bytes, previous?.snapshot.meta?.pageBlockSize);
  const meta: Partial<ClusterMeta> = {
    cluster,
    server: describeServer(conn),
    serverVersion: facts.version,
    systemIdentifier: facts.system,
    walSegmentSize: facts.segSize,
    startedAt,
    pageBlockSize,
  };
  let run: ReturnType<typeof startTool>;
  let stderr = '';
  return backupStreams(
    repo,
    [
      {
        name: BASE_ENTRY,
        freeChunks: true,
        open: () => {
          run = startTool(
            tool.path,
            ['-D', '-', '-F', 'tar', '-X', 'fetch', '--checkpoint=fast', '--verbose', '--no-password', '--label', `data-backup-manager ${cluster}`],
            childEnv(conn, 'postgres'),
            `pg_basebackup of ${describeServer(conn)}`,
          );
          run.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
          return run.child.stdout!;
        },
        finished: async () => {
          await run.done;
          // "write-ahead log start point: 0/2000028 on timeline 1" … "write-ahead log end point: 0/2000100"
          const start = /write-ahead log start point: ([0-9A-F]+\/[0-9A-F]+) on timeline (\d+)/i.exec(stderr);
          const stop = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/i.exec(stderr);
          if (!start || !stop) throw new BackupError(`pg_basebackup did not report its WAL positions: ${stderr.slice(-500)}`);
          meta.timeline = Number(start[2]);
          meta.startLsn = start[1];
          meta.stopLsn = stop[1];
          meta.startWal = segmentName(meta.timeline, segmentOf(parseLsn(start[1]), facts.segSize), facts.segSize);
          meta.stopWal = segmentName(meta.timeline, segmentOf(parseLsn(stop[1]), facts.segSize), facts.segSize);
          meta.stoppedAt = new Date().toISOString();
        },
        abort: () => run?.stop(),
        ...(pageBlockSize === 0 ? {} : { split: pageAlignedTarChunks(pageBlockSize) }),
      },
    ],
    { ...opts, target: CLUSTER_TARGET, tags: { ...opts.tags, cluster }, meta: meta as Record<string, unknown> },
  );
}
