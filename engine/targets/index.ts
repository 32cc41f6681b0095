import type { BackupOptions } from '../archiver';
import { BackupError, describeError } from '../errors';
import type { Repository } from '../repository/repository';
import type { SnapshotRef } from '../snapshot';
import { verifyRestoredTree } from '../verify';
import { backupFiles, restoreFiles, type FilesRestoreOptions } from './files';
import { backupMinio, discoverBuckets, restoreMinio, verifyMinio, type MinioDestination, type MinioSource } from './minio';
import { backupPostgres, discoverDatabases, type PostgresBackupOptions } from './postgres/backup';
import type { PgConnection } from './postgres/connection';
import { restorePostgres, verifyPostgresRestore, type PostgresRestoreOptions } from './postgres/restore';
import { backupScenarios, discoverScenarios } from './scenarios';

/**
 * What every kind of source offers. Adding a source is one module that
 * implements this, plus its line in TARGETS (README: "Adding a backup target").
 */
export interface BackupTarget<Source, Destination, BackupOpts = Omit<BackupOptions, 'target'>, RestoreOpts = object> {
  readonly name: string;
  readonly description: string;
  /** what a backup of this source would cover (databases, paths, scenarios, buckets); throws a one-line error when unreachable */
  discover(source: Source): Promise<string[]>;
  /** one or more snapshots; throws when nothing could be written */
  backup(repo: Repository, source: Source, opts: BackupOpts): Promise<SnapshotRef[]>;
  restore(repo: Repository, ref: SnapshotRef, destination: Destination, opts?: RestoreOpts): Promise<unknown>;
  /** checks a restore: restores into a scratch place (postgres), or compares a restored copy with the snapshot */
  verify(repo: Repository, ref: SnapshotRef, destination: Destination): Promise<{ ok: boolean }>;
}

export const postgresTarget: BackupTarget<PgConnection, PgConnection, Omit<PostgresBackupOptions, 'target'>, PostgresRestoreOptions> = {
  name: 'postgres',
  description: 'PostgreSQL databases (pg_dump) and globals (pg_dumpall --globals-only)',
  discover: (conn) => discoverDatabases(conn),
  backup: async (repo, conn, opts) => [await backupPostgres(repo, conn, opts)],
  restore: (repo, ref, conn, opts) => restorePostgres(repo, ref, conn, opts),
  verify: async (repo, ref, conn) => {
    const results = await verifyPostgresRestore(repo, ref, conn);
    return { ok: results.every((r) => r.ok), databases: results };
  },
};

export const filesTarget: BackupTarget<string[], string | undefined, Omit<BackupOptions, 'target'>, FilesRestoreOptions> = {
  name: 'files',
  description: 'files and directories, with their metadata',
  discover: async (paths) => paths,
  backup: async (repo, paths, opts) => [await backupFiles(repo, paths, opts)],
  restore: (repo, ref, to, opts) => restoreFiles(repo, ref, { ...opts, to }),
  verify: async (repo, ref, to) => verifyRestoredTree(repo, ref, to ?? '/'),
};

export const scenariosTarget: BackupTarget<string, string | undefined, Omit<BackupOptions, 'target'> & { only?: string[] }, FilesRestoreOptions> = {
  name: 'scenarios',
  description: 'every subdirectory of a root directory, each its own snapshot',
  discover: (root) => discoverScenarios(root),
  backup: async (repo, root, opts) => {
    const outcomes = await backupScenarios(repo, root, opts);
    const failed = outcomes.filter((o) => o.error);
    if (failed.length === outcomes.length && failed.length > 0) throw new BackupError(failed.map((f) => f.error).join('; '));
    return outcomes.flatMap((o) => (o.snapshot ? [o.snapshot] : []));
  },
  restore: (repo, ref, to, opts) => restoreFiles(repo, ref, { ...opts, to }),
  verify: async (repo, ref, to) => verifyRestoredTree(repo, ref, to ?? '/'),
};

export const minioTarget: BackupTarget<MinioSource, MinioDestination, NonNullable<Parameters<typeof backupMinio>[2]>> = {
  name: 'minio',
  description: 'MinIO/S3 buckets or prefixes, with object metadata',
  discover: (source) => (source.buckets.length ? Promise.resolve(source.buckets) : discoverBuckets(source)),
  backup: async (repo, source, opts) => [await backupMinio(repo, source, opts)],
  restore: (repo, ref, dest) => restoreMinio(repo, ref, dest),
  verify: (repo, ref, dest) => verifyMinio(repo, ref, dest),
};

export const TARGETS = {
  postgres: postgresTarget,
  files: filesTarget,
  scenarios: scenariosTarget,
  minio: minioTarget,
} as const;

export type TargetName = keyof typeof TARGETS;

/** One target of a multi-target run, and what came of it. */
export interface TargetOutcome {
  target: string;
  ok: boolean;
  snapshots: SnapshotRef[];
  error?: string;
}

/**
 * Runs several targets' backups one after another. A target that fails
 * writes no snapshot and is reported; the others still complete.
 */
export async function backupTargets(jobs: { target: string; run: () => Promise<SnapshotRef[]> }[]): Promise<TargetOutcome[]> {
  const outcomes: TargetOutcome[] = [];
  for (const job of jobs) {
    try {
      outcomes.push({ target: job.target, ok: true, snapshots: await job.run() });
    } catch (err) {
      outcomes.push({ target: job.target, ok: false, snapshots: [], error: describeError(err) });
    }
  }
  return outcomes;
}

export * from './files';
export * from './minio';
export * from './scenarios';
export * from './postgres/backup';
export * from './postgres/connection';
export * from './postgres/restore';
export { findPgTool } from './postgres/tools';
export * from './postgresCluster';
