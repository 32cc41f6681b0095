import type { Command } from 'commander';
import { backupStreams, backupTree, newProgress } from '../../engine/archiver';
import { prestartSealWorkers } from '../../engine/sealer';
import { BACKUP_TYPES, type BackupType, type SnapshotRef } from '../../engine/snapshot';
import type { MinioProgress } from '../../engine/targets/minio';
import { backupPostgres, PARALLEL_DUMPS } from '../../engine/targets/postgres/backup';
import { UsageError } from '../exitCodes';
import { formatBytes, formatDurationMs, printJson, progressLine } from '../output';
import { collect, csv, parseTags } from '../options';
import { awaitedLater } from '../../engine/concurrency';
import { flagsOf, lockWaitMs, startOpeningRepo } from './context';
import { minioFrom, pgConnectionFrom } from './sources';

export function registerBackup(repo: Command): void {
  repo
    .command('backup')
    .description('back up paths; or standard input (--stdin), PostgreSQL (--postgres), scenarios (--scenarios), MinIO buckets (--minio)')
    .argument('[paths...]', 'files or directories to back up')
    .option('--stdin', 'read the data to back up from standard input')
    .option('--name <name>', 'entry name for --stdin data (e.g. db.sql)')
    .option('--postgres <url>', 'back up PostgreSQL: postgresql://user@host:port[/db][?sslmode=…] (password from PGPASSWORD)')
    .option('--database <names>', 'with --postgres: only these databases (comma-separated)')
    .option('--no-globals', 'with --postgres: skip roles and tablespaces')
    .option('--pg-format <format>', 'with --postgres: plain (default) or custom')
    .option('--parallel <n>', `with --postgres: databases dumped at once (default ${PARALLEL_DUMPS})`)
    .option('--postgres-cluster <url>', 'a physical base backup of a whole PostgreSQL cluster (pg_basebackup), for point-in-time recovery')
    .option('--cluster <name>', 'with --postgres-cluster: the name its WAL is archived under (wal-push --cluster)')
    .option('--scenarios <root>', 'back up every subdirectory of root as its own snapshot')
    .option('--scenario <name>', 'with --scenarios: only this scenario (repeatable)', collect)
    .option('--minio <endpoint>', 'back up MinIO/S3 buckets from this endpoint URL')
    .option('--bucket <bucket[/prefix]>', 'with --minio: a bucket or bucket/prefix (repeatable)', collect)
    .option('--minio-access-key <key>', 'MinIO access key (env DBM_MINIO_ACCESS_KEY)')
    .option('--minio-secret-key <key>', 'MinIO secret key (env DBM_MINIO_SECRET_KEY)')
    .option('--target <name>', 'backup target the snapshot belongs to (default: files, stdin, postgres or minio)')
    .option('--type <type>', 'full | incremental | differential', 'incremental')
    .option('--tag <key=value>', 'tag the snapshot (repeatable)', collect)
    .option('--exclude <glob>', 'skip matching paths (repeatable)', collect)
    .option('--json', 'print JSON')
    .action(async (paths: string[], opts, cmd: Command) => {
      const flags = flagsOf(cmd);
      if (!BACKUP_TYPES.includes(opts.type)) throw new UsageError(`--type must be one of ${BACKUP_TYPES.join(', ')}`);
      const sources = [paths.length > 0, !!opts.stdin, !!opts.postgres, !!opts.postgresCluster, !!opts.scenarios, !!opts.minio].filter(Boolean).length;
      if (sources === 0) throw new UsageError('nothing to back up: give paths, --stdin, --postgres, --scenarios or --minio');
      if (sources > 1) throw new UsageError('give one source: paths, --stdin, --postgres, --scenarios or --minio');
      if (opts.stdin && !opts.name) throw new UsageError('--stdin needs --name for the entry');
      if (opts.pgFormat && !['custom', 'plain'].includes(opts.pgFormat)) throw new UsageError('--pg-format must be custom or plain');
      const parallel = opts.parallel === undefined ? undefined : Number(opts.parallel);
      if (parallel !== undefined && !(Number.isInteger(parallel) && parallel >= 1 && parallel <= 16)) throw new UsageError('--parallel must be a whole number from 1 to 16');
      if (opts.minio && !opts.bucket?.length) throw new UsageError('--minio needs at least one --bucket');
      if (opts.postgresCluster && !opts.cluster) throw new UsageError('--postgres-cluster needs --cluster <name> (the name its WAL is archived under)');
      const tags = parseTags(opts.tag);
      // The sealing workers boot while the repository's key is derived, once the derivation has started, so as
      // not to delay it. With --postgres, once pg_dump runs: the server is asked what to dump meanwhile, and
      // that, not the key, is what the dump waits for (see backupPostgres).
      const opening = awaitedLater((await startOpeningRepo(flags)).repository);
      if (!opts.postgres) prestartSealWorkers();
      let added = (): number => 0;
      void opening.then((r) => (added = () => r.counters.bytesAdded), () => undefined);
      const progress = { ...newProgress(), objectsDownloaded: 0, objectsUnchanged: 0 } satisfies MinioProgress;
      const stop = progressLine(
        () => `${progress.files} files, ${formatBytes(progress.bytesRead)} read, ${formatBytes(added())} new`,
        process.stderr.isTTY === true && !flags.json,
      );
      const common = { tags, type: opts.type as BackupType, progress, lockWaitMs: lockWaitMs(flags), excludes: opts.exclude, target: opts.target };
      const refs: SnapshotRef[] = [];
      const failures: { scenario: string; error: string }[] = [];
      try {
        if (opts.stdin) {
          refs.push(await backupStreams(await opening, [{ name: opts.name, open: () => process.stdin, freeChunks: true }], { ...common, target: opts.target ?? 'stdin' }));
        } else if (opts.postgres) {
          const databases = opts.database ? csv(String(opts.database)) : undefined;
          refs.push(await backupPostgres(opening, pgConnectionFrom(opts.postgres), { ...common, databases, globals: opts.globals, format: opts.pgFormat, concurrency: parallel, onDumping: prestartSealWorkers }));
        } else if (opts.postgresCluster) {
          const { backupCluster } = await import('../../engine/targets/postgresCluster');
          refs.push(await backupCluster(await opening, pgConnectionFrom(opts.postgresCluster), { ...common, cluster: opts.cluster }));
        } else if (opts.scenarios) {
          const { backupScenarios } = await import('../../engine/targets/scenarios');
          for (const o of await backupScenarios(await opening, opts.scenarios, { ...common, only: opts.scenario })) {
            if (o.snapshot) refs.push(o.snapshot);
            else failures.push({ scenario: o.scenario, error: o.error ?? 'failed' });
          }
        } else if (opts.minio) {
          const { backupMinio } = await import('../../engine/targets/minio');
          refs.push(await backupMinio(await opening, minioFrom(opts.minio, opts, opts.bucket), common));
        } else {
          refs.push(await backupTree(await opening, paths, { ...common, target: opts.target ?? 'files' }));
        }
      } finally {
        stop();
      }
      for (const w of progress.warnings) process.stderr.write(`warning: ${w}\n`);
      for (const f of failures) process.stderr.write(`error: scenario ${f.scenario}: ${f.error}\n`);
      if (failures.length > 0) process.exitCode = 1;
      if (flags.json) {
        const rows = refs.map((ref) => ({
          id: ref.id,
          short_id: ref.id.slice(0, 8),
          target: ref.snapshot.target,
          type: ref.snapshot.type,
          parent: ref.snapshot.parent,
          time: ref.snapshot.time,
          tags: ref.snapshot.tags,
          ...ref.snapshot.stats,
          ...(opts.minio ? { objectsDownloaded: progress.objectsDownloaded, objectsUnchanged: progress.objectsUnchanged } : {}),
        }));
        printJson(opts.scenarios ? { snapshots: rows, failed: failures, warnings: progress.warnings } : { ...rows[0], warnings: progress.warnings });
        return;
      }
      for (const ref of refs) {
        const s = ref.snapshot;
        const label = s.tags.scenario ? `${s.target} ${s.tags.scenario}` : s.target;
        process.stdout.write(
          [
            `snapshot ${ref.id.slice(0, 8)} saved (${label}, ${s.type}${s.parent ? `, parent ${s.parent.slice(0, 8)}` : ''})`,
            `files:   ${s.stats.files} (${s.stats.filesUnchanged} unchanged), ${s.stats.dirs} directories`,
            `read:    ${formatBytes(s.stats.bytesRead)} of ${formatBytes(s.stats.totalSize)}`,
            `added:   ${formatBytes(s.stats.bytesAdded)} new data, ${formatBytes(s.stats.bytesStored)} stored`,
            `took:    ${formatDurationMs(s.stats.durationMs)}`,
          ].join('\n') + '\n',
        );
      }
    });
}
